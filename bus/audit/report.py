"""An audit report three ways: a terminal summary, JSON for programs, standalone HTML.

The HTML report is one file with its own styles and no script or external resource, so
an auditor can open it offline, print it and file it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import UTC, datetime

from bus.audit.anomaly import Anomaly
from bus.audit.outcome import AuditReport

__all__ = ["render_html", "render_json", "render_text"]

_MAX_TEXT_ROWS = 50


def _verdict(report: AuditReport) -> str:
    if report.clean:
        return "CLEAN: every record verified; no anomaly"
    total = len(report.anomalies) + report.anomalies_dropped
    return f"ANOMALIES: {total} found"


def _summary_lines(report: AuditReport) -> list[str]:
    return [
        f"source       {report.source or '-'}",
        f"mode         {report.mode.value} ({report.workers} worker process(es))",
        f"records      {report.records:,}  "
        f"(signature checked {report.verified:,}, trusted on checkpoints {report.trusted:,})",
        f"partitions   {len(report.partitions)}   chains {report.chains}",
        f"checkpoints  {report.checkpoints} read, {report.checkpoints_matched} roots reproduced",
        f"time         {report.seconds:.2f} s  ({report.rate:,.0f} records/s)",
    ]


def render_text(report: AuditReport) -> str:
    """The terminal summary: verdict, counts, then the anomalies (first 50)."""
    lines = [_verdict(report), "", *_summary_lines(report)]
    if report.anomalies:
        lines += ["", "anomalies by kind:"]
        lines += [f"  {kind:<22} {count}" for kind, count in report.counts().items()]
        lines += ["", "where and what:"]
        for anomaly in report.anomalies[:_MAX_TEXT_ROWS]:
            lines.append(f"  [{anomaly.kind.value}] {anomaly.where}")
            lines.append(f"      {anomaly.kind.meaning}: {anomaly.detail}")
        hidden = len(report.anomalies) - _MAX_TEXT_ROWS + report.anomalies_dropped
        if hidden > 0:
            lines.append(f"  … {hidden} more (use --json or --html for all)")
    if report.releases:
        lines += ["", f"released by an officer ({len(report.releases)}, signed receipt.released):"]
        for r in report.releases[:_MAX_TEXT_ROWS]:
            lines.append(
                f"  {r['released_at']}  {r['by']} let {r['ce_type']} {r['event_id']} of "
                f"{r['issuer']} through ({r['refused_for']} waived) — {r['officer']}"
            )
            lines.append(f"      {r['justification']}")
    return "\n".join(lines) + "\n"


def render_json(report: AuditReport) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n"


_STYLE = """
body { font-family: "Noto Sans CJK SC", "PingFang SC", sans-serif; margin: 2em; color: #111; }
h1 { font-size: 1.4em; } .clean { color: #05660f; } .dirty { color: #a00000; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { border: 1px solid #999; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #eee; } td.kind { white-space: nowrap; font-weight: bold; }
code { font-size: 0.9em; word-break: break-all; }
@media print { body { margin: 0; } tr { page-break-inside: avoid; } }
"""


def _rows(anomalies: Iterable[Anomaly]) -> str:
    rows = []
    for a in anomalies:
        cells = [
            f'<td class="kind">{html.escape(a.kind.value)}</td>',
            f"<td>{html.escape(a.topic or '-')}</td>",
            f"<td>{'' if a.partition is None else a.partition}</td>",
            f"<td>{'' if a.offset is None else a.offset}</td>",
            f"<td><code>{html.escape(a.chain or '')}</code></td>",
            f"<td>{'' if a.seq is None else a.seq}</td>",
            f"<td><b>{html.escape(a.kind.meaning)}</b><br>{html.escape(a.detail)}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(rows)


def render_html(report: AuditReport, *, title: str = "四联 audit report / 审计报告") -> str:
    state = "clean" if report.clean else "dirty"
    summary = "\n".join(f"<li>{html.escape(line)}</li>" for line in _summary_lines(report))
    counts = "".join(
        f"<li>{html.escape(kind)}: {count}</li>" for kind, count in report.counts().items()
    )
    table = (
        "<table><thead><tr><th>kind</th><th>topic</th><th>partition</th><th>offset</th>"
        "<th>chain</th><th>seq</th><th>what</th></tr></thead><tbody>"
        f"{_rows(report.anomalies)}</tbody></table>"
        if report.anomalies
        else "<p>No anomaly.</p>"
    )
    released = "\n".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(r[name])}</td>"
            for name in ("released_at", "by", "issuer", "event_id", "refused_for", "officer")
        )
        + f"<td>{html.escape(r['justification'])}<br><code>{html.escape(r['record_hash'])}"
        "</code></td></tr>"
        for r in report.releases
    )
    releases = (
        "<h2>Released by an officer / 放行</h2><table><thead><tr><th>when</th><th>by</th>"
        "<th>issuer</th><th>event</th><th>waived</th><th>officer</th><th>why, record hash"
        f"</th></tr></thead><tbody>{released}</tbody></table>"
        if report.releases
        else ""
    )
    made = datetime.now(UTC).isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="{state}"><b>{html.escape(_verdict(report))}</b></p>
<ul>{summary}</ul>
{f"<h2>By kind</h2><ul>{counts}</ul>" if counts else ""}
<h2>Anomalies / 异常</h2>
{table}
{releases}
<p><small>Generated {made} by silian audit. Records are judged against the agreement
version in force at each record's time.</small></p>
</body></html>
"""
