"""``silian audit``: replay the signed history, export it, verify a bundle offline.

::

    silian audit replay --bootstrap HOST:PORT --agreement DIR [--topic T …] [--log-keeper CODE]
    silian audit replay --bundle FILE
    silian audit export --bootstrap HOST:PORT --agreement DIR --out FILE [--topic T …]
    silian audit verify-bundle FILE
    silian audit prove inclusion|consistency …    (bus.cli.audit_prove)

``--embedded FILE`` instead of ``--bootstrap`` reads the embedded transport's file.

Exit codes: 0 clean, 1 anomalies found (or the input could not be verified), 2 usage,
70 internal error (e.g. worker processes that could not start). The code is the verdict
even when stdout's reader went away before the report was written (``… | head``).
Progress goes to stderr on long runs; ``--json`` prints the report for programs and
``--html FILE`` writes a standalone report to print and file.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from agencies.folder import AgreementFolder
from bus.audit.replay import AuditReport, Mode, ReplayOptions
from bus.audit.report import render_html, render_json, render_text
from bus.audit.runner import export_bundle, replay_bundle, replay_transport
from bus.audit.source import RecordRange
from bus.cli._common import ExitCode, add_json_flag, emit_json, run_async
from bus.errors import ConfigError
from bus.node.services import AuditServiceConfig
from bus.settings import agreement_dir, kafka_bootstrap
from bus.transport import Transport, connect
from contracts.topics import family_topics

__all__ = [
    "add_service_arguments",
    "agreement_folder",
    "federation_of",
    "history_args",
    "open_history",
    "register",
    "service_config",
    "topics_of",
]


def register(sub: Any) -> None:
    top = sub.add_parser("audit", help="replay and verify the signed history (auditors)")
    a_sub = top.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    replay = a_sub.add_parser(
        "replay", help="verify every record of a period, from Kafka or from a bundle"
    )
    replay.add_argument("--bundle", type=Path, default=None, help="replay this bundle file")
    _source_args(replay)
    _replay_args(replay)
    replay.set_defaults(func=_replay)

    export = a_sub.add_parser("export", help="write a bundle: records, agreements, checkpoints")
    _source_args(export)
    export.add_argument("--out", type=Path, required=True, help="bundle file to write (.jsonl)")
    add_json_flag(export)
    export.set_defaults(func=_export)

    verify = a_sub.add_parser("verify-bundle", help="verify a bundle offline (no Kafka)")
    verify.add_argument("bundle", type=Path, help="the bundle file")
    _replay_args(verify)
    verify.set_defaults(func=_verify_bundle)

    from bus.cli import audit_prove  # noqa: PLC0415 - it builds on this module's helpers

    audit_prove.register(a_sub)


def add_service_arguments(p: argparse.ArgumentParser) -> None:
    """``silian serve``'s audit flags: keep the Merkle log, witness the others' (docs/audit.md)."""
    group = p.add_argument_group("audit services")
    group.add_argument(
        "--log-keeper",
        action="store_true",
        help="keep the federation's Merkle log and publish signed checkpoints",
    )
    group.add_argument(
        "--no-witness",
        dest="witness",
        action="store_false",
        help="do not check and cosign other agencies' checkpoints (default: witness)",
    )
    group.add_argument(
        "--checkpoint-interval",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="log keeper: checkpoint every so many seconds (default 60)",
    )
    group.add_argument(
        "--checkpoint-records",
        type=int,
        default=1000,
        metavar="N",
        help="log keeper: … or as soon as N records were appended (default 1000)",
    )


def service_config(args: argparse.Namespace) -> AuditServiceConfig:
    if args.checkpoint_interval <= 0 or args.checkpoint_records < 1:
        raise ConfigError("--checkpoint-interval and --checkpoint-records must be positive")
    return AuditServiceConfig(
        log_keeper=args.log_keeper,
        witness=args.witness,
        interval=args.checkpoint_interval,
        every=args.checkpoint_records,
        once=args.once,
    )


def _source_args(p: argparse.ArgumentParser) -> None:
    history_args(p)
    p.add_argument("--since", default=None, metavar="RFC3339", help="first broker time kept")
    p.add_argument("--until", default=None, metavar="RFC3339", help="broker time to stop at")
    p.add_argument("--from-offset", type=int, default=0, help="first offset of each partition")
    p.add_argument("--to-offset", type=int, default=None, help="stop before this offset")


def history_args(p: argparse.ArgumentParser) -> None:
    """Where the history is read from (a broker or the embedded file), what and whose log."""
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--bootstrap",
        default=None,
        help="Kafka bootstrap servers (host:port,…; default $SILIAN_KAFKA_BOOTSTRAP)",
    )
    where.add_argument(
        "--embedded",
        type=Path,
        default=None,
        metavar="FILE",
        help="read the embedded transport file instead of Kafka",
    )
    p.add_argument(
        "--agreement",
        type=Path,
        default=None,
        metavar="DIR",
        help="agreement folder with every version (default $SILIAN_AGREEMENT_DIR or ./agreement)",
    )
    p.add_argument("--federation", default=None, help="federation id (default: the agreement's)")
    p.add_argument(
        "--topic",
        action="append",
        default=None,
        metavar="TOPIC",
        help="a topic to audit besides every family topic (repeatable: a case topic, ...)",
    )
    p.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="TOPIC",
        help="audit this topic instead of the family topics (repeatable)",
    )
    p.add_argument(
        "--log-keeper",
        default=None,
        metavar="CODE",
        help="agency whose key signs the log's checkpoints (reads the checkpoints)",
    )


def _replay_args(p: argparse.ArgumentParser) -> None:
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--full",
        dest="mode",
        action="store_const",
        const=Mode.FULL,
        help="check every signature, on all cores (default)",
    )
    mode.add_argument(
        "--trust-checkpoints",
        dest="mode",
        action="store_const",
        const=Mode.CHECKPOINT,
        help="records under a cosigned checkpoint are hashed, not sig-checked",
    )
    p.set_defaults(mode=Mode.FULL)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: cores)")
    p.add_argument(
        "--quorum",
        type=int,
        default=None,
        help="witness cosignatures a checkpoint needs to be trusted (default: the "
        "agreement's witness_quorum, else a majority of the members other than the log keeper)",
    )
    p.add_argument("--html", type=Path, default=None, metavar="FILE", help="write an HTML report")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_json_flag(p)


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ConfigError(f"time {text!r} needs an offset (e.g. +08:00)")
    return moment


def _selection(args: argparse.Namespace) -> RecordRange:
    return RecordRange(
        since=_time(args.since),
        until=_time(args.until),
        from_offset=args.from_offset,
        to_offset=args.to_offset,
    )


def _options(args: argparse.Namespace) -> ReplayOptions:
    return ReplayOptions(mode=args.mode, workers=args.workers)


def _progress(args: argparse.Namespace) -> Any:
    if args.quiet:
        return None

    def show(report: AuditReport) -> None:
        print(
            f"\raudit: {report.records:,} records, {len(report.anomalies)} anomalies, "
            f"{report.rate:,.0f}/s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    return show


def _finish(args: argparse.Namespace, report: AuditReport) -> int:
    if not args.quiet:
        print("", file=sys.stderr)
    if args.html is not None:
        args.html.write_text(render_html(report), "utf-8")
    if args.json:
        sys.stdout.write(render_json(report))
    else:
        sys.stdout.write(render_text(report))
        if args.html is not None:
            print(f"HTML report: {args.html}")
    return ExitCode.OK if report.clean else ExitCode.FAILED


def agreement_folder(args: argparse.Namespace) -> AgreementFolder:
    return AgreementFolder(agreement_dir(args.agreement))


def open_history(args: argparse.Namespace) -> Transport:
    """The transport ``--bootstrap`` (or ``$SILIAN_KAFKA_BOOTSTRAP``) or ``--embedded`` names."""
    if args.embedded is not None:
        if not args.embedded.is_file():
            raise ConfigError(f"--embedded {args.embedded}: no such embedded transport file")
        return connect(None, embedded=args.embedded, client_id="silian-audit")
    bootstrap = kafka_bootstrap(args.bootstrap)
    if not bootstrap:
        raise ConfigError(
            "--bootstrap is needed to read from Kafka (or --embedded FILE, or --bundle)"
        )
    return connect(bootstrap, client_id="silian-audit")


def federation_of(args: argparse.Namespace, folder: AgreementFolder) -> str:
    return str(args.federation or folder.parse(folder.latest_version()).federation_id)


def _replay(args: argparse.Namespace) -> int:
    if args.bundle is not None:
        report = replay_bundle(
            args.bundle, options=_options(args), quorum=args.quorum, progress=_progress(args)
        )
        return _finish(args, report)
    folder = agreement_folder(args)
    history = folder.history()
    federation = federation_of(args, folder)
    topics = topics_of(args, federation)

    async def run() -> int:
        async with open_history(args) as transport:
            report = await replay_transport(
                transport,
                topics,
                history,
                federation=federation,
                options=_options(args),
                keeper=args.log_keeper,
                quorum=args.quorum,
                selection=_selection(args),
                progress=_progress(args),
            )
        return _finish(args, report)

    return run_async(run())


def topics_of(args: argparse.Namespace, federation: str) -> list[str]:
    """``--only`` (else every family topic), then each ``--topic`` not named yet."""
    topics = list(args.only or family_topics(federation))
    return topics + [t for t in dict.fromkeys(args.topic or ()) if t not in topics]


def _export(args: argparse.Namespace) -> int:
    folder = agreement_folder(args)
    federation = federation_of(args, folder)
    topics = topics_of(args, federation)

    async def run() -> int:
        async with open_history(args) as transport:
            records, checkpoints, proofs = await export_bundle(
                transport,
                topics,
                args.out,
                folder=folder,
                federation=federation,
                keeper=args.log_keeper,
                selection=_selection(args),
            )
        if args.json:
            emit_json(
                {
                    "bundle": str(args.out),
                    "records": records,
                    "checkpoints": checkpoints,
                    "proofs": proofs,
                }
            )
        else:
            print(f"{records} records, {checkpoints} checkpoints and {proofs} proofs → {args.out}")
        return ExitCode.OK

    return run_async(run())


def _verify_bundle(args: argparse.Namespace) -> int:
    report = replay_bundle(
        args.bundle, options=_options(args), quorum=args.quorum, progress=_progress(args)
    )
    return _finish(args, report)
