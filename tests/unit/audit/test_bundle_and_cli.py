"""Bundles verify offline; the CLI's exit codes and reports; the public surface."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

import bus.audit
from agencies.signatures import dump_signatures
from bus.audit.bundle import BundleWriter, open_bundle
from bus.audit.errors import BundleError
from bus.audit.replay import Mode, ReplayOptions, replay
from bus.audit.report import render_html, render_json, render_text
from bus.audit.runner import replay_bundle
from bus.cli import audit as audit_cli
from bus.cli._common import ExitCode
from bus.cli.main import build_parser
from bus.transport.base import Record
from tests.unit.audit.conftest import JIANGSHAN, PUCHENG, Federation, liaison_records, story_records


def _write(path: Path, fed: Federation, records: list[Record]) -> Path:
    documents = [(doc, dump_signatures(sigs)) for doc, sigs in fed.documents]
    with BundleWriter(
        path, federation="jpg", agreements=fed.agreements, documents=documents
    ) as writer:
        for record in records:
            writer.record(record)
    return path


def test_a_bundle_round_trips_and_verifies_offline(federation: Federation, tmp_path: Path) -> None:
    records = story_records(federation)
    path = _write(tmp_path / "b.jsonl", federation, records)
    bundle = open_bundle(path)
    assert list(bundle.records()) == records
    assert len(bundle.agreements.versions) == 1
    report = replay_bundle(path, options=ReplayOptions(workers=1))
    assert report.clean
    assert report.records == 31


def test_a_truncated_bundle_is_refused(federation: Federation, tmp_path: Path) -> None:
    path = _write(tmp_path / "b.jsonl", federation, story_records(federation))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-3]))
    with pytest.raises(BundleError, match="truncated"):
        list(open_bundle(path).records())


def test_a_bundle_with_a_forged_agreement_is_refused(
    federation: Federation, tmp_path: Path
) -> None:
    path = _write(tmp_path / "b.jsonl", federation, [])
    text = path.read_text().replace('"version":1,"document":"', '"version":1,"document":"ICAg', 1)
    (tmp_path / "c.jsonl").write_text(text)
    with pytest.raises(BundleError, match="does not verify"):
        open_bundle(tmp_path / "c.jsonl")


def test_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"kind": "record"}\n')
    with pytest.raises(BundleError, match="not a silian audit bundle this version reads"):
        open_bundle(tmp_path / "x.jsonl")


def test_full_verification_runs_on_worker_processes(federation: Federation) -> None:
    records = liaison_records(federation.writer(PUCHENG), 700)
    records[650] = dataclasses.replace(records[650], value=records[650].value + b" ")
    report = replay(records, federation.agreements, options=ReplayOptions(workers=2))
    assert report.workers == 2
    assert [(a.kind.value, a.offset) for a in report.anomalies] == [("bad-signature", 650)]
    assert report.verified == 699


def test_cli_verify_bundle_exit_codes_and_reports(
    federation: Federation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = liaison_records(federation.writer(JIANGSHAN), 6)
    clean = _write(tmp_path / "clean.jsonl", federation, records)
    del records[2]
    dirty = _write(tmp_path / "dirty.jsonl", federation, records)
    parser = build_parser_with_audit()
    args = parser.parse_args(["audit", "verify-bundle", str(clean), "--quiet", "--workers", "1"])
    assert args.func(args) == 0
    assert "CLEAN" in capsys.readouterr().out
    html = tmp_path / "r.html"
    args = parser.parse_args(
        ["audit", "verify-bundle", str(dirty), "--quiet", "--json", "--html", str(html)]
    )
    assert args.func(args) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["clean"] is False
    assert data["anomalies"][0]["kind"] == "sequence-gap"
    assert data["anomalies"][0]["seq"] == 3
    page = html.read_text()
    assert "<table>" in page
    assert "sequence-gap" in page
    args = parser.parse_args(["audit", "replay", "--bundle", str(dirty), "--quiet"])
    assert args.func(args) == 1
    assert "[sequence-gap]" in capsys.readouterr().out


def build_parser_with_audit() -> argparse.ArgumentParser:
    """The silian parser with the audit group added (main.py registers it separately)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    if "audit" not in sub.choices:  # type: ignore[operator]
        audit_cli.register(sub)
    return parser


def test_reports_escape_and_name_the_place(federation: Federation) -> None:
    records = liaison_records(federation.writer(JIANGSHAN), 3)
    records[1] = dataclasses.replace(records[1], value=records[1].value + b"<script>")
    report = replay(records, federation.agreements, options=ReplayOptions(workers=1))
    text = render_text(report)
    assert "ANOMALIES: 1" in text
    assert f"{records[1].topic}/0@1" in text
    assert "<script>" not in render_html(report)
    assert json.loads(render_json(report))["counts"] == {"bad-signature": 1}
    assert report.mode is Mode.FULL


def test_public_surface_is_pinned() -> None:
    assert sorted(bus.audit.__all__) == sorted(set(bus.audit.__all__))
    for name in bus.audit.__all__:
        assert getattr(bus.audit, name) is not None
    assert {"verify_inclusion", "verify_consistency", "Witness", "replay"} <= set(bus.audit.__all__)


# -- the verdict is the exit code, whatever happens to stdout or the workers ---------------

SILIAN = str(Path(sys.executable).with_name("silian"))


def test_a_reader_gone_before_the_report_keeps_the_exit_code(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(JIANGSHAN), 6)
    clean = _write(tmp_path / "clean.jsonl", federation, records)
    del records[2]
    dirty = _write(tmp_path / "dirty.jsonl", federation, records)
    for bundle, verdict in ((clean, 0), (dirty, 1)):
        for output in ([], ["--json"]):
            argv = [SILIAN, "audit", "verify-bundle", str(bundle), "--quiet", "--workers", "1"]
            process = subprocess.Popen(
                [*argv, *output], stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            assert process.stdout is not None
            assert process.stderr is not None
            process.stdout.close()  # `| head -0`: nobody reads the report
            err = process.stderr.read()
            process.stderr.close()
            assert (process.wait(timeout=120), err) == (verdict, b"")


def test_a_bundle_whose_workers_cannot_start_is_an_error_not_silence(
    federation: Federation, tmp_path: Path
) -> None:
    # Long enough for two byte ranges, so that worker processes are started.
    bundle = _write(
        tmp_path / "b.jsonl", federation, liaison_records(federation.writer(JIANGSHAN), 900)
    )
    assert bundle.stat().st_size > 1 << 20  # replay.py's _SPAN_BYTES
    # A worker starts as `python -c "from multiprocessing.spawn import …"` in this folder,
    # which has its own multiprocessing module: every worker dies before it reads a task.
    folder = tmp_path / "here"
    folder.mkdir()
    (folder / "multiprocessing.py").write_text('raise ImportError("not the real one")\n')
    ran = subprocess.run(
        [SILIAN, "audit", "verify-bundle", str(bundle), "--quiet", "--workers", "2"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == ExitCode.INTERNAL
    assert ran.stdout == ""  # no report: nothing was verified
    said = [line for line in ran.stderr.splitlines() if line.startswith("silian:")]
    assert len(said) == 1
    assert said[0].startswith("silian: internal error: ")
    assert said[0].endswith("(run again with --log-level DEBUG for the traceback)")
    assert "bus/cli" not in ran.stderr  # the workers' own tracebacks only, none of silian's
