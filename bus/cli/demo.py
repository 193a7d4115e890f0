"""``silian demo``: the 四联 scenario end to end, on the embedded default or on Kafka."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bus.cli._common import ExitCode, add_json_flag, emit_json, run_async
from bus.cli.scenario import run_demo

__all__ = ["register"]


def register(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="run the 四联 scenario (alert, joint case, border dispute, forged records)",
        description=(
            "Three agencies get fresh keys and sign the agreement; Jiangshan issues an urgent "
            "vehicle alert, Pucheng and Guangfeng acknowledge, Pucheng reports a hit; a joint "
            "case opens, both neighbours join, evidence and tasks flow, the lead closes it; a "
            "border dispute is reported, mediated, settled and followed up; then a forged, a "
            "tampered and a replayed record are injected and shown quarantined. Runs on the "
            "embedded transport (no server) unless --kafka is given."
        ),
    )
    demo.add_argument(
        "--kafka",
        metavar="HOST:PORT",
        default=None,
        help="run over this Kafka instead of the embedded transport",
    )
    demo.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="keep keys, agreement and state here (default: a temporary folder)",
    )
    add_json_flag(demo)
    demo.set_defaults(func=_demo, default_log_level="ERROR")


def _demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    emit = (lambda line: None) if args.json else (lambda line: print(line, flush=True))
    report = run_async_report(args, emit)
    elapsed = time.monotonic() - started
    if args.json:
        emit_json(
            {
                "federation": report.federation,
                "transport": report.transport,
                "published": report.published,
                "delivered": report.delivered,
                "receipts": report.receipts,
                "seconds": round(elapsed, 2),
                "quarantined": [{"reason": r, "detail": d} for r, d in report.quarantined],
                "timeline": report.lines,
            }
        )
    else:
        print(f"({elapsed:.1f}s)", file=sys.stderr)
    return ExitCode.OK


def run_async_report(args: argparse.Namespace, emit: Any) -> Any:
    holder: dict[str, Any] = {}

    async def go() -> int:
        holder["report"] = await run_demo(kafka=args.kafka, directory=args.dir, emit=emit)
        return 0

    run_async(go())
    return holder["report"]
