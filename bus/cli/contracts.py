"""``silian contracts``: list event types, show an example of each, regenerate and check the
exported schemas."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bus.cli._common import ExitCode, add_json_flag, emit_json
from bus.cli.publish import resolve_type
from contracts.examples import example_events
from contracts.export import EXPORT_DIR, check_exports, write_exports
from contracts.registry import REGISTRY, EventSpec, encode, spec_for_model

__all__ = ["example_text", "register"]


def register(sub: Any) -> None:
    contracts = sub.add_parser(
        "contracts",
        help="event contracts: list types, export JSON Schema/AsyncAPI, check compatibility",
    )
    c_sub = contracts.add_subparsers(dest="contracts_command", metavar="ACTION", required=True)

    def with_dir(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--dir",
            type=Path,
            default=EXPORT_DIR,
            help=f"export folder holding schemas/ and asyncapi.json (default {EXPORT_DIR})",
        )
        add_json_flag(p)
        return p

    export = with_dir(c_sub.add_parser("export", help="regenerate the schema exports"))
    export.set_defaults(func=_export)
    check = with_dir(
        c_sub.add_parser(
            "check",
            help="fail when committed exports are stale or a schema changed incompatibly",
        )
    )
    check.set_defaults(func=_check)
    listing = c_sub.add_parser("list", help="list event types: version, family, topic")
    add_json_flag(listing)
    listing.set_defaults(func=_list)
    example = c_sub.add_parser(
        "example",
        help="print a valid example of an event type, as silian publish FILE takes it",
    )
    example.add_argument(
        "event_type",
        metavar="TYPE",
        help="event type: alert.issued, alert.issued.v1 or cn.silian.alert.issued.v1",
    )
    example.set_defaults(func=_example)


def _export(args: argparse.Namespace) -> int:
    directory: Path = args.dir
    written = write_exports(directory)
    if args.json:
        emit_json({"dir": str(directory), "files": [str(p) for p in written]})
    else:
        print(f"wrote {len(written)} files under {directory}")
    return ExitCode.OK


def _check(args: argparse.Namespace) -> int:
    problems = check_exports(args.dir)
    if args.json:
        emit_json({"ok": not problems, "problems": [asdict(p) for p in problems]})
    elif problems:
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s) with the contract exports in {args.dir}")
    else:
        print(f"contract exports in {args.dir} are up to date and compatible")
    return ExitCode.FAILED if problems else ExitCode.OK


def _list(args: argparse.Namespace) -> int:
    rows = [
        {
            "ce_type": spec.ce_type,
            "event_type": spec.event_type,
            "version": spec.version,
            "family": spec.family.value,
            "key": spec.key_field,
            "topic": spec.topic_pattern,
        }
        for spec in REGISTRY.specs()
    ]
    if args.json:
        emit_json(rows)
        return ExitCode.OK
    width = max(len(spec.event_type) for spec in REGISTRY.specs())
    for row in rows:
        print(
            f"{row['event_type']:<{width}}  v{row['version']}  {row['family']:<8}  "
            f"key {row['key']:<12}  {row['topic']}"
        )
    return ExitCode.OK


def example_text(spec: EventSpec) -> str:
    """The example of ``spec`` from the 四联 story (:mod:`contracts.examples`), as JSON a
    person edits: indented, Chinese as it is; what ``silian publish FILE`` reads."""
    event = next(e for e in example_events() if spec_for_model(e) is spec)
    return json.dumps(json.loads(encode(event)), ensure_ascii=False, indent=2) + "\n"


def _example(args: argparse.Namespace) -> int:
    print(example_text(resolve_type(args.event_type)), end="")
    return ExitCode.OK
