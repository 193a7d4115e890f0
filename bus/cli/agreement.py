"""``silian agreement``: set up, sign, verify and show the cooperation agreement.

An agreement folder holds ``agreement.json`` (the exact bytes every member signs) and
``signatures.json`` (one detached signature per member).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agencies import (
    FEDERATIONS,
    Agreement,
    AgreementError,
    AgreementSignature,
    AgreementVerificationError,
    dump_signatures,
    init_agreement,
    load_signatures,
    load_template,
    parse_agreement,
    sign_as,
    verify_agreement,
)
from bus.cli._common import ExitCode, add_json_flag, emit_json
from bus.cli.keys import add_keystore_args, keystore_from_args, now_local

__all__ = ["register"]

_DOCUMENT, _SIGNATURES = "agreement.json", "signatures.json"
_DEFAULT_DIR = Path("agreement")


def register(sub: Any) -> None:
    top = sub.add_parser("agreement", help="the cooperation agreement 跨区域警务合作协议书")
    a_sub = top.add_subparsers(dest="agreement_command", metavar="ACTION", required=True)

    init = a_sub.add_parser("init", help="write version 1 of a federation's agreement")
    init.add_argument("--federation", required=True, help=f"one of {', '.join(FEDERATIONS)}")
    init.add_argument("--out", type=Path, default=_DEFAULT_DIR, help="folder (default ./agreement)")
    init.add_argument("--force", action="store_true", help="overwrite an existing agreement")
    add_keystore_args(init)
    add_json_flag(init)
    init.set_defaults(func=_init)

    def with_folder(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--agreement",
            type=Path,
            default=_DEFAULT_DIR,
            metavar="DIR",
            help="agreement folder (default ./agreement)",
        )
        add_json_flag(p)
        return p

    sign = with_folder(a_sub.add_parser("sign", help="sign the agreement as one member"))
    sign.add_argument("--agency", required=True, metavar="CODE", help="the member signing")
    add_keystore_args(sign)
    sign.set_defaults(func=_sign)
    with_folder(
        a_sub.add_parser("verify", help="check every member signed these exact bytes")
    ).set_defaults(func=_verify)
    with_folder(
        a_sub.add_parser("show", help="members, keys, permissions, deadlines")
    ).set_defaults(func=_show)


def _read(folder: Path) -> tuple[bytes, tuple[AgreementSignature, ...]]:
    try:
        document = (folder / _DOCUMENT).read_bytes()
    except FileNotFoundError:
        raise AgreementError(
            f"no {_DOCUMENT} in {folder}; run: silian agreement init --federation …"
        ) from None
    sig_path = folder / _SIGNATURES
    signatures = load_signatures(sig_path.read_bytes()) if sig_path.exists() else ()
    return document, signatures


def _init(args: argparse.Namespace) -> int:
    out: Path = args.out
    if (out / _DOCUMENT).exists() and not args.force:
        raise AgreementError(f"{out / _DOCUMENT} exists; use --force to replace it")
    template = load_template(args.federation)
    document, unsigned = init_agreement(template, keystore_from_args(args), now_local())
    out.mkdir(parents=True, exist_ok=True)
    (out / _DOCUMENT).write_bytes(document)
    (out / _SIGNATURES).write_bytes(dump_signatures(()))
    agreement = parse_agreement(document)
    if args.json:
        emit_json({"document": str(out / _DOCUMENT), "unsigned": list(unsigned)})
    else:
        print(f"{agreement.name_zh} ({agreement.label}) → {out / _DOCUMENT}")
        print("待签署 to be signed by:")
        for code in unsigned:
            print(f"  {agreement.member(code).display}")
    return ExitCode.OK


def _sign(args: argparse.Namespace) -> int:
    folder: Path = args.agreement
    document, signatures = _read(folder)
    signature = sign_as(document, signer=args.agency, keystore=keystore_from_args(args))
    others = tuple(s for s in signatures if s.signer != signature.signer)
    (folder / _SIGNATURES).write_bytes(dump_signatures((*others, signature)))
    agreement = parse_agreement(document)
    missing = [m for m in agreement.members if m.code not in {s.signer for s in others}]
    missing = [m for m in missing if m.code != signature.signer]
    if args.json:
        emit_json(
            {"signed": signature.model_dump(mode="json"), "unsigned": [m.code for m in missing]}
        )
    else:
        print(f"{agreement.member(args.agency).display} 已签署 signed {agreement.label}")
        for m in missing:
            print(f"  待签署 still to sign: {m.display}")
    return ExitCode.OK


def _verify(args: argparse.Namespace) -> int:
    document, signatures = _read(args.agreement)
    try:
        agreement = verify_agreement(document, signatures)
    except AgreementVerificationError as error:
        if not args.json:
            raise
        emit_json({"ok": False, "reason": str(error), "member": error.member, "field": error.field})
        return ExitCode.FAILED
    if args.json:
        emit_json({"ok": True, "federation": agreement.federation_id, "version": agreement.version})
    else:
        names = "、".join(m.name_zh for m in agreement.members)
        print(f"有效 valid: {agreement.name_zh} ({agreement.label}), signed by {names}")
    return ExitCode.OK


def _show(args: argparse.Namespace) -> int:
    document, _ = _read(args.agreement)
    agreement = parse_agreement(document)
    if args.json:
        emit_json(agreement.model_dump(mode="json"))
        return ExitCode.OK
    _print_agreement(agreement)
    return ExitCode.OK


def _print_agreement(a: Agreement) -> None:
    print(f"{a.name_zh} / {a.name_en}")
    print(f"  {a.label}, 生效 effective from {a.effective_from.isoformat()}")
    print("成员 members:")
    for m in a.members:
        print(f"  {m.display}  {m.kind}  {m.name_en}")
        for k in m.keys:
            end = f" → {k.valid_until.isoformat()}" if k.valid_until else ""
            revoked = f"  已吊销 revoked {k.revoked_at.isoformat()}" if k.revoked_at else ""
            print(f"    {k.key_id}  {k.valid_from.isoformat()}{end}{revoked}")
    print("权限 permissions:")
    for rule in a.permissions.rules:
        kinds, actions = ",".join(rule.kinds), ",".join(rule.actions)
        print(f"  {kinds} {actions} {','.join(rule.families)} ≤ {rule.max_handling}")
    print("  (partner bodies never read alerts, whatever the rules say)")
    d = a.deadlines
    print(f"回复时限 deadlines: urgent {d.urgent}, routine {d.routine}, info {d.info}")
    print(
        f"保存期限 retention: events {a.retention.events_days} d, audit {a.retention.audit_days} d"
    )
