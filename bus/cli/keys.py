"""``silian keys``: an agency's signing (Ed25519) and sealing (X25519) keys on this machine."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from agencies import KNOWN_AGENCIES, KeyRecord, KeyStore, agency
from bus.cli._common import ExitCode, add_json_flag, emit_json
from bus.errors import ConfigError
from bus.settings import add_key_arguments, agency_code, key_dir, passphrase_from
from contracts.vocab import FEDERATION_TZ

__all__ = ["keystore_from_args", "now_local", "register"]


def now_local() -> datetime:
    """Now in Asia/Shanghai, to the second (key windows are shown to people)."""
    return datetime.now(FEDERATION_TZ).replace(microsecond=0)


def keystore_from_args(args: argparse.Namespace) -> KeyStore:
    return KeyStore(key_dir(args.keys), passphrase=passphrase_from(args.passphrase_env))


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="an agency's signing and sealing keys on this machine")
    k_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    def command(name: str, help_text: str, *, agency_required: bool = True) -> Any:
        p = k_sub.add_parser(name, help=help_text)
        p.add_argument(
            "--agency",
            metavar="CODE",
            default=None,
            help="12-digit agency code, e.g. 330881000000 (江山市公安局)"
            + (" (default $SILIAN_AGENCY)" if agency_required else " (default: every one)"),
        )
        add_key_arguments(p)
        add_json_flag(p)
        return p

    command("new", "make a signing and a sealing key for an agency").set_defaults(func=_new)
    command("list", "list the public key records", agency_required=False).set_defaults(func=_list)
    command("rotate", "make a new pair; the current pair's window ends now").set_defaults(
        func=_rotate
    )
    revoke = command("revoke", "revoke an agency's keys (or one key) from now")
    revoke.add_argument("--key-id", default=None, help="revoke only this key")
    revoke.add_argument("--reason", required=True, help="why (kept in the public record)")
    revoke.set_defaults(func=_revoke)
    export = command(
        "export",
        "write this machine's agencies' public key records to a file for the other members "
        "(default: every agency with a private key here)",
        agency_required=False,
    )
    export.add_argument(
        "--out", type=Path, default=None, help="file to write (default: standard output)"
    )
    export.set_defaults(func=_export)
    imp = k_sub.add_parser(
        "import",
        help="take in another agency's exported public key records (then confirm the key ids "
        "with that agency by phone)",
    )
    imp.add_argument("file", type=Path, help="a file written by silian keys export")
    add_key_arguments(imp)
    add_json_flag(imp)
    imp.set_defaults(func=_import)


def _name(code: str) -> str:
    known = KNOWN_AGENCIES.get(code)
    return known.display if known else code


def _row(record: KeyRecord) -> dict[str, Any]:
    return {"agency_name": _name(record.agency), **record.model_dump(mode="json")}


def _print(records: tuple[KeyRecord, ...] | list[KeyRecord], as_json: bool) -> None:
    if as_json:
        emit_json([_row(r) for r in records])
        return
    for r in records:
        state = ""
        if r.revoked_at is not None:
            state = f"  已吊销 revoked {r.revoked_at.isoformat()} ({r.revocation_reason})"
        elif r.valid_until is not None:
            state = f"  至 until {r.valid_until.isoformat()}"
        print(f"{_name(r.agency)}  {r.key_id}  自 from {r.valid_from.isoformat()}{state}")


def _agency(args: argparse.Namespace) -> str:
    """The agency a command acts for: ``--agency``, else ``$SILIAN_AGENCY``."""
    return agency(agency_code(args.agency)).code


def _new(args: argparse.Namespace) -> int:
    code = _agency(args)
    pair = keystore_from_args(args).new(code, now=now_local())
    _print([pair.signing, pair.sealing], args.json)
    return ExitCode.OK


def _list(args: argparse.Namespace) -> int:
    store = keystore_from_args(args)
    records = store.records(args.agency)
    if not records and not args.json:
        print(f"no keys in {store.directory}; make some with: silian keys new --agency CODE")
        return ExitCode.OK
    _print(records, args.json)
    return ExitCode.OK


def _rotate(args: argparse.Namespace) -> int:
    code = _agency(args)
    pair = keystore_from_args(args).rotate(code, now=now_local())
    _print([pair.signing, pair.sealing], args.json)
    return ExitCode.OK


def _revoke(args: argparse.Namespace) -> int:
    store = keystore_from_args(args)
    revoked = store.revoke(_agency(args), now=now_local(), reason=args.reason, key_id=args.key_id)
    _print(revoked, args.json)
    return ExitCode.OK


def _export(args: argparse.Namespace) -> int:
    store = keystore_from_args(args)
    agencies = (agency(args.agency).code,) if args.agency else store.own_agencies()
    if not agencies:
        raise ConfigError(
            f"no private key in {store.directory}: name the agency with --agency, or make "
            "keys first with: silian keys new --agency CODE"
        )
    document = store.export_public(agencies)
    if args.out is None:
        sys.stdout.write(document.decode("utf-8"))
        return ExitCode.OK
    args.out.write_bytes(document)
    count = len(json.loads(document)["records"])
    if args.json:
        emit_json({"file": str(args.out), "agencies": list(agencies), "records": count})
    else:
        names = ", ".join(_name(code) for code in agencies)
        print(f"wrote {count} public key records of {names} to {args.out}")
    return ExitCode.OK


def _import(args: argparse.Namespace) -> int:
    store = keystore_from_args(args)
    imported = store.import_public(args.file.read_bytes(), source=str(args.file))
    if args.json:
        emit_json([{"change": item.change, **_row(item.record)} for item in imported])
        return ExitCode.OK
    for item in imported:
        print(f"{item.change:9}  {_name(item.record.agency)}  {item.record.key_id}")
    if any(item.change == "added" for item in imported):
        print(
            "confirm each added key id with its agency by phone before signing an agreement "
            "with it: the fingerprint at its end proves whose key it is"
        )
    return ExitCode.OK
