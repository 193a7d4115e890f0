"""``silian audit prove``: proofs an outside RFC 6962 verifier checks (docs/audit.md "Proofs").

::

    silian audit prove inclusion (--event ID | --index N [--origin LOG]) (--bundle FILE | SOURCE)
    silian audit prove consistency --from N [--to M] [--origin LOG] (--bundle FILE | SOURCE)

SOURCE is the history on a transport (``--bootstrap`` or ``--embedded``, ``--agreement``,
``--log-keeper``). The logs are rebuilt from the records by the log keeper's rule and the
proof leads to the largest checkpoint of the log a quorum of witnesses cosigned (the
agreement's, or ``--quorum``), its cosignatures gathered in one note. Printed as a C2SP
``tlog-proof`` (inclusion) or in the same shape (consistency); ``--json`` for programs.

Exit codes: 0 proof printed; 1 no proof can be given (no checkpoint a quorum cosigned
covers it, a split view, the records do not reproduce the checkpoint, a bundle that does
not verify); 2 a question the history cannot answer (a leaf beyond the log, an unknown
event id, ``--from`` after ``--to``) or bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bus.audit.bundle import open_bundle
from bus.audit.proof_text import ConsistencyProof, InclusionProof
from bus.audit.proofs import ProofLogs
from bus.audit.runner import proofs_from_bundle, proofs_from_transport
from bus.cli._common import ExitCode, add_json_flag, emit_json, run_async
from bus.cli.audit import agreement_folder, federation_of, history_args, open_history, topics_of
from bus.errors import ConfigError
from bus.tlog.log import log_origin
from bus.tlog.trust import parse_origin

__all__ = ["register"]


def register(a_sub: Any) -> None:
    """``prove inclusion`` and ``prove consistency`` under ``silian audit``."""
    top = a_sub.add_parser(
        "prove", help="print an inclusion or consistency proof (C2SP tlog-proof)"
    )
    p_sub = top.add_subparsers(dest="prove_command", metavar="PROOF", required=True)

    inclusion = p_sub.add_parser(
        "inclusion", help="a record lies under a checkpoint the witnesses cosigned"
    )
    which = inclusion.add_mutually_exclusive_group(required=True)
    which.add_argument("--event", metavar="ID", default=None, help="the record's event id")
    which.add_argument(
        "--index",
        type=_count,
        metavar="N",
        default=None,
        help="the leaf index in the log --origin names",
    )
    _args(inclusion)
    inclusion.set_defaults(func=_inclusion)

    consistency = p_sub.add_parser(
        "consistency", help="a log's larger checkpoint extends its tree at an earlier size"
    )
    consistency.add_argument(
        "--from", dest="old_size", type=_count, required=True, metavar="N", help="earlier size"
    )
    consistency.add_argument(
        "--to",
        dest="size",
        type=_count,
        default=None,
        metavar="M",
        help="size of the checkpoint to prove against (default: the largest trusted one)",
    )
    _args(consistency)
    consistency.set_defaults(func=_consistency)


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 0 up")
    return int(text)


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--origin",
        default=None,
        metavar="LOG",
        help="the log: its origin silian/TOPIC/PARTITION, or TOPIC/PARTITION, or TOPIC "
        "(default: the history's one log)",
    )
    p.add_argument(
        "--bundle", type=Path, default=None, metavar="FILE", help="read the history from a bundle"
    )
    history_args(p)
    p.add_argument(
        "--quorum",
        type=_count,
        default=None,
        help="witness cosignatures the checkpoint needs (default: the agreement's "
        "witness_quorum, else a majority of the members other than the log keeper)",
    )
    add_json_flag(p)


def _origin(text: str | None) -> str | None:
    """``--origin`` as an origin (a bare topic is left for :func:`_chosen` to settle)."""
    if text is None or parse_origin(text) is not None:
        return text
    topic, slash, partition = text.rpartition("/")
    if slash and topic and partition.isdigit():
        return log_origin(topic, int(partition))
    return None if "/" in text else text


def _chosen(logs: ProofLogs, given: str | None) -> str:
    """The log ``--origin`` names, or the one log of the history."""
    origins = logs.origins()
    if given is not None and given in origins:
        return given
    if given is not None and parse_origin(given) is None:  # a bare topic
        of_topic = [o for o in origins if (parse_origin(o) or ("", 0))[0] == given]
        if len(of_topic) == 1:
            return of_topic[0]
    if given is None and len(origins) == 1:
        return origins[0]
    listed = ", ".join(origins) or "none"
    if given is None:
        raise ConfigError(f"name the log with --origin: the history holds {listed}")
    raise ConfigError(f"no log {given} in the history (its logs: {listed})")


def _fill(args: argparse.Namespace, scratch: Path, *, watch: frozenset[str]) -> ProofLogs:
    """The history's logs and checkpoints, from the bundle or the transport."""
    only = _origin(args.origin)
    only = only if only is not None and parse_origin(only) is not None else None
    if args.bundle is not None:
        if args.bootstrap or args.embedded:
            raise ConfigError("--bundle reads the history from the bundle alone")
        bundle = open_bundle(args.bundle)
        keeper = args.log_keeper or bundle.log_keeper
        if keeper is None:
            raise ConfigError(
                f"{args.bundle} names no log keeper (exported without --log-keeper): "
                "no checkpoint to prove against; give --log-keeper CODE"
            )
        logs = ProofLogs(
            scratch / "merkle.sqlite",
            bundle.agreements,
            federation=bundle.federation,
            keeper=keeper,
            quorum=args.quorum,
            watch=watch,
        )
        proofs_from_bundle(logs, bundle, only=only)
        return logs
    if args.log_keeper is None:
        raise ConfigError("--log-keeper CODE is needed: whose checkpoints the proof leads to")
    folder = agreement_folder(args)
    federation = federation_of(args, folder)
    logs = ProofLogs(
        scratch / "merkle.sqlite",
        folder.history(),
        federation=federation,
        keeper=args.log_keeper,
        quorum=args.quorum,
        watch=watch,
    )

    async def read() -> int:
        async with open_history(args) as transport:
            await proofs_from_transport(
                logs, transport, topics_of(args, federation), federation=federation, only=only
            )
        return 0

    run_async(read())
    return logs


def _print(args: argparse.Namespace, proof: InclusionProof | ConsistencyProof) -> int:
    if args.json:
        emit_json(proof.json())
    else:
        sys.stdout.write(proof.text())
    return ExitCode.OK


def _inclusion(args: argparse.Namespace) -> int:
    watch = frozenset() if args.event is None else frozenset({args.event})
    with tempfile.TemporaryDirectory() as scratch, _fill(args, Path(scratch), watch=watch) as logs:
        if args.event is not None:
            place = logs.event(args.event)
        else:
            place = logs.place(_chosen(logs, _origin(args.origin)), args.index)
        return _print(args, logs.inclusion(place))


def _consistency(args: argparse.Namespace) -> int:
    with (
        tempfile.TemporaryDirectory() as scratch,
        _fill(args, Path(scratch), watch=frozenset()) as logs,
    ):
        origin = _chosen(logs, _origin(args.origin))
        return _print(args, logs.consistency(origin, args.old_size, args.size))
