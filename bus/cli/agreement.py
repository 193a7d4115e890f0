"""``silian agreement``: set up, sign, verify, show and renew the cooperation agreement.

An agreement folder keeps every version (:class:`agencies.AgreementFolder`)::

    agreement/v1/agreement.json   agreement/v1/signatures.json
    agreement/v2/agreement.json   agreement/v2/signatures.json   (after ``next``)

``init`` writes v1; ``next`` writes the version after the newest with the keys as they
are now (after ``silian keys rotate|revoke``); ``sign`` signs the newest; ``verify`` checks
the whole history; ``show`` prints one version (the newest by default).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from agencies import (
    FEDERATIONS,
    Agreement,
    AgreementError,
    AgreementFolder,
    AgreementHistory,
    AgreementVerificationError,
    KeyAlg,
    VerificationError,
    init_agreement,
    load_template,
    next_agreement,
    parse_agreement,
    sign_as,
)
from bus.cli._common import ExitCode, add_json_flag, emit_json
from bus.cli.agreement_live import register_publish
from bus.cli.keys import keystore_from_args, now_local
from bus.errors import ConfigError
from bus.settings import add_key_arguments, agency_code, agreement_dir

__all__ = ["register"]


def register(sub: Any) -> None:
    top = sub.add_parser("agreement", help="the cooperation agreement 跨区域警务合作协议书")
    a_sub = top.add_subparsers(dest="agreement_command", metavar="ACTION", required=True)

    init = a_sub.add_parser("init", help="write version 1 of a federation's agreement")
    init.add_argument("--federation", required=True, help=f"one of {', '.join(FEDERATIONS)}")
    init.add_argument(
        "--agreement",
        type=Path,
        default=None,
        metavar="DIR",
        help="agreement folder to write (default $SILIAN_AGREEMENT_DIR or ./agreement)",
    )
    init.add_argument("--out", dest="agreement", type=Path, help=argparse.SUPPRESS)  # old name
    init.add_argument(
        "--force", action="store_true", help="delete every existing version and start again"
    )
    add_key_arguments(init)
    add_json_flag(init)
    init.set_defaults(func=_init)

    def with_folder(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--agreement",
            type=Path,
            default=None,
            metavar="DIR",
            help="agreement folder (default $SILIAN_AGREEMENT_DIR or ./agreement)",
        )
        add_json_flag(p)
        return p

    sign = with_folder(a_sub.add_parser("sign", help="sign the newest version as one member"))
    sign.add_argument(
        "--agency", default=None, metavar="CODE", help="the member signing (default $SILIAN_AGENCY)"
    )
    add_key_arguments(sign)
    sign.set_defaults(func=_sign)
    with_folder(
        a_sub.add_parser("verify", help="check every version: signed by all, chained in order")
    ).set_defaults(func=_verify)
    show = with_folder(a_sub.add_parser("show", help="members, keys, permissions, deadlines"))
    show.add_argument("--version", type=int, default=None, help="which version (default newest)")
    show.set_defaults(func=_show)
    nxt = with_folder(
        a_sub.add_parser(
            "next", help="write the next version with the keys as they are now (after rotate)"
        )
    )
    nxt.add_argument(
        "--effective-from",
        metavar="RFC3339",
        default=None,
        help="when the new version takes effect, with offset (default now)",
    )
    nxt.add_argument(
        "--add-member",
        action="append",
        default=[],
        metavar="CODE",
        help="a new member joins (its public keys imported first with silian keys import); "
        "repeatable",
    )
    nxt.add_argument(
        "--remove-member",
        action="append",
        default=[],
        metavar="CODE",
        help="a member leaves (earlier versions keep it); repeatable",
    )
    add_key_arguments(nxt)
    nxt.set_defaults(func=_next)
    register_publish(a_sub)


def _init(args: argparse.Namespace) -> int:
    folder = AgreementFolder(agreement_dir(args.agreement))
    if folder.versions():
        if not args.force:
            raise AgreementError(
                f"{folder.directory} already holds an agreement (v{folder.latest_version()}); "
                "use --force to delete every version and start again"
            )
        folder.remove_all()
    template = load_template(args.federation)
    document, unsigned = init_agreement(template, keystore_from_args(args), now_local())
    version = folder.write_version(document)
    agreement = parse_agreement(document)
    path = folder.document_path(version)
    if args.json:
        emit_json({"document": str(path), "version": version, "unsigned": list(unsigned)})
    else:
        print(f"{agreement.name_zh} ({agreement.label}) → {path}")
        _print_unsigned(agreement, unsigned)
    return ExitCode.OK


def _sign(args: argparse.Namespace) -> int:
    folder = AgreementFolder(agreement_dir(args.agreement))
    version = folder.latest_version()
    document, signatures = folder.read(version)
    signer = agency_code(args.agency)
    signature = sign_as(document, signer=signer, keystore=keystore_from_args(args))
    others = tuple(s for s in signatures if s.signer != signature.signer)
    folder.write_signatures(version, (*others, signature))
    agreement = parse_agreement(document)
    signed = {s.signer for s in others} | {signature.signer}
    missing = tuple(m.code for m in agreement.members if m.code not in signed)
    if args.json:
        emit_json(
            {
                "version": version,
                "signed": signature.model_dump(mode="json"),
                "unsigned": list(missing),
            }
        )
    else:
        print(f"{agreement.member(signer).display} 已签署 signed {agreement.label}")
        _print_unsigned(agreement, missing)
    return ExitCode.OK


def _verify(args: argparse.Namespace) -> int:
    folder = AgreementFolder(agreement_dir(args.agreement))
    folder.latest_version()  # one clear line for an empty or old-layout folder
    history = AgreementHistory()
    verified: list[dict[str, Any]] = []
    for version in folder.versions():
        try:
            agreement = folder.add_to(history, version)
        except AgreementVerificationError as error:
            if not args.json:
                raise
            emit_json(
                {
                    "ok": False,
                    "version": version,
                    "reason": str(error),
                    "member": error.member,
                    "field": error.field,
                    "verified": verified,
                }
            )
            return ExitCode.FAILED
        verified.append(
            {"version": agreement.version, "effective_from": agreement.effective_from.isoformat()}
        )
        if not args.json:
            names = "、".join(m.name_zh for m in agreement.members)
            print(
                f"有效 valid: {agreement.name_zh} ({agreement.label}), "
                f"effective from {agreement.effective_from.isoformat()}, signed by {names}"
            )
    latest = history.latest
    if args.json:
        emit_json(
            {
                "ok": True,
                "federation": latest.federation_id,
                "version": latest.version,
                "verified": verified,
            }
        )
    else:
        now = now_local()
        if now < history.versions[0].effective_from:
            print(f"尚未生效 not yet in force: {history.versions[0].label} takes effect later")
        else:
            print(f"现行 in force now: {history.in_force_at(now).label}")
    return ExitCode.OK


def _show(args: argparse.Namespace) -> int:
    folder = AgreementFolder(agreement_dir(args.agreement))
    version = args.version if args.version is not None else folder.latest_version()
    agreement = folder.parse(version)
    if args.json:
        emit_json(agreement.model_dump(mode="json"))
        return ExitCode.OK
    _print_agreement(agreement)
    others = [f"v{v}" for v in folder.versions() if v != version]
    if others:
        print(f"其他版本 other versions: {', '.join(others)} (--version N)")
    return ExitCode.OK


def _next(args: argparse.Namespace) -> int:
    folder = AgreementFolder(agreement_dir(args.agreement))
    # Only a history that verifies may grow: the next version chains to the newest's bytes.
    latest = folder.history().latest
    now = now_local()
    effective_from = _parse_time(args.effective_from) if args.effective_from else now
    if effective_from <= latest.effective_from:
        raise ConfigError(
            f"--effective-from {effective_from.isoformat()} is not after {latest.label} "
            f"took effect ({latest.effective_from.isoformat()})"
        )
    previous, _ = folder.read(latest.version)
    document, unsigned = next_agreement(
        previous,
        keystore_from_args(args),
        now,
        effective_from=effective_from,
        add_members=args.add_member,
        remove_members=args.remove_member,
    )
    agreement = parse_agreement(document)
    _check_every_member_can_sign(agreement)
    version = folder.write_version(document)
    changes = _key_changes(latest, agreement)
    path = folder.document_path(version)
    if args.json:
        emit_json(
            {
                "document": str(path),
                "version": version,
                "effective_from": agreement.effective_from.isoformat(),
                "changes": changes,
                "unsigned": list(unsigned),
            }
        )
        return ExitCode.OK
    print(f"{agreement.name_zh} ({agreement.label}) → {path}")
    print(f"  生效 effective from {agreement.effective_from.isoformat()}")
    for change in changes or [f"no key changed since {latest.label}"]:
        print(f"  {change}")
    _print_unsigned(agreement, unsigned)
    return ExitCode.OK


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--effective-from {text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ConfigError(f"--effective-from {text!r} has no offset (e.g. +08:00)")
    return moment


def _check_every_member_can_sign(agreement: Agreement) -> None:
    """Refuse a version that could never be in force: a member without a usable signing key."""
    for member in agreement.members:
        for record in member.keys:
            if record.alg is not KeyAlg.ED25519:
                continue
            try:
                record.usable_at(agreement.effective_from)
            except VerificationError:
                continue
            break
        else:
            raise AgreementError(
                f"{member.display} has no signing key usable when {agreement.label} takes "
                f"effect ({agreement.effective_from.isoformat()}); first run: "
                f"silian keys new --agency {member.code}"
            )


def _key_changes(old: Agreement, new: Agreement) -> list[str]:
    """One line per key added, ended or revoked between two versions."""
    lines: list[str] = []
    for member in old.members:
        if not new.is_member(member.code):
            lines.append(f"{member.display}: 退出 leaves the federation")
    for member in new.members:
        if not old.is_member(member.code):
            lines.append(f"{member.display}: 加入 joins the federation")
        known = old.member(member.code).keys if old.is_member(member.code) else ()
        before = {r.key_id: r for r in known}
        for record in member.keys:
            was = before.get(record.key_id)
            if was is None:
                lines.append(f"{member.display}: 新密钥 new key {record.key_id}")
            elif record.revoked_at is not None and was.revoked_at is None:
                looks_back = (
                    " — before this version takes effect: records it signed since then, "
                    "accepted until now, will be refused (right for a compromised key)"
                    if record.revoked_at < new.effective_from
                    else ""
                )
                lines.append(
                    f"{member.display}: 已吊销 revoked {record.key_id} "
                    f"at {record.revoked_at.isoformat()}{looks_back}"
                )
            elif record.valid_until is not None and was.valid_until is None:
                lines.append(
                    f"{member.display}: {record.key_id} 至 valid until "
                    f"{record.valid_until.isoformat()}"
                )
    return lines


def _print_unsigned(agreement: Agreement, codes: tuple[str, ...]) -> None:
    for code in codes:
        print(f"  待签署 still to sign: {agreement.member(code).display}")


def _print_agreement(a: Agreement) -> None:
    print(f"{a.name_zh} / {a.name_en}")
    print(f"  {a.label}, 生效 effective from {a.effective_from.isoformat()}")
    if a.previous_digest:
        print(f"  上一版本 previous version sha256 {a.previous_digest}")
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
