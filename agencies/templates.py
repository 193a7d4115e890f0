"""Ready-made federations and the set-up flow: template → keys → document → signatures.

``agencies/federations/<id>.toml`` holds a federation's members (agency codes known to
:data:`agencies.identity.KNOWN_AGENCIES`), permissions, deadlines and retention — never a
key. :func:`init_agreement` generates keys on the user's machine for members that have
none, and writes version 1; :func:`next_agreement` writes the next version with the keys
as they are now (rotated, revoked); :func:`sign_as` signs as one member from a key store.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from datetime import datetime
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agencies.agreement import (
    Agreement,
    Member,
    ResponseDeadlines,
    Retention,
    agreement_bytes,
    document_digest,
)
from agencies.errors import AgreementError, KeyStoreError, VerificationError
from agencies.identity import agency
from agencies.keys import KeyAlg, KeyRecord
from agencies.keystore import KeyStore
from agencies.permissions import PermissionRule, Permissions
from agencies.signatures import AgreementSignature, parse_agreement, sign_agreement

__all__ = [
    "FEDERATIONS",
    "FederationTemplate",
    "init_agreement",
    "load_template",
    "next_agreement",
    "sign_as",
]

FEDERATIONS: tuple[str, ...] = ("jpg", "sanshan")
"""Federations shipped with silian (``agencies/federations/<id>.toml``)."""


class FederationTemplate(BaseModel):
    """A federation before anyone has keys: what the TOML file says."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    federation_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,31}$")
    name_zh: str
    name_en: str
    members: tuple[str, ...] = Field(min_length=1)
    permissions: tuple[PermissionRule, ...]
    deadlines: ResponseDeadlines
    retention: Retention


def load_template(name_or_path: str | Path) -> FederationTemplate:
    """A shipped federation by id (``jpg``, ``sanshan``) or a TOML file by path."""
    try:
        if isinstance(name_or_path, str) and name_or_path in FEDERATIONS:
            source = f"federation {name_or_path}"
            text = (
                resources.files("agencies")
                .joinpath("federations", f"{name_or_path}.toml")
                .read_text("utf-8")
            )
        else:
            source = str(name_or_path)
            text = Path(name_or_path).read_text("utf-8")
        return FederationTemplate.model_validate(tomllib.loads(text))
    except FileNotFoundError:
        raise AgreementError(
            f"no federation template {name_or_path} (shipped: {', '.join(FEDERATIONS)})"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise AgreementError(f"{source} is not valid TOML: {error}") from None
    except RecursionError:  # tomllib recurses per nested array or table: not ours to bound
        raise AgreementError(f"{source} nests arrays or tables too deeply") from None
    except (UnicodeDecodeError, OSError) as error:
        raise AgreementError(f"cannot read {name_or_path} as UTF-8 text: {error}") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise AgreementError(f"{source}: {where}: {first['msg']}") from None


def _ensure_keys(keystore: KeyStore, code: str, now: datetime) -> None:
    for alg in KeyAlg:
        try:
            keystore.current(code, alg, at=now)
        except KeyStoreError:
            break
    else:
        return
    keystore.new(code, now=now)


def _member(code: str, records: tuple[KeyRecord, ...]) -> Member:
    who = agency(code)
    return Member(
        code=who.code, name_zh=who.name_zh, name_en=who.name_en, kind=who.kind, keys=records
    )


def init_agreement(
    template: FederationTemplate,
    keystore: KeyStore,
    now: datetime,
    *,
    effective_from: datetime | None = None,
) -> tuple[bytes, tuple[str, ...]]:
    """Version 1 of ``template``: ``(document bytes, codes of the members yet to sign)``.

    Members without a usable signing and sealing key in ``keystore`` get a new pair here.
    """
    members = []
    for code in template.members:
        _ensure_keys(keystore, code, now)
        members.append(_member(code, keystore.records(code)))
    agreement = Agreement(
        federation_id=template.federation_id,
        name_zh=template.name_zh,
        name_en=template.name_en,
        version=1,
        effective_from=effective_from or now,
        members=tuple(members),
        permissions=Permissions(rules=template.permissions),
        deadlines=template.deadlines,
        retention=template.retention,
    )
    return agreement_bytes(agreement), tuple(m.code for m in agreement.members)


def next_agreement(
    previous_bytes: bytes,
    keystore: KeyStore,
    now: datetime,
    *,
    effective_from: datetime | None = None,
    add_members: Iterable[str] = (),
    remove_members: Iterable[str] = (),
) -> tuple[bytes, tuple[str, ...]]:
    """The next version with every member's keys as ``keystore`` knows them now.

    Records the key store does not hold (other agencies' keys) are kept as they were.
    ``add_members`` join with the public keys ``keystore`` holds for them (imported from
    the candidate's ``silian keys export``: its private keys never leave its machine);
    ``remove_members`` leave (their records stay in the earlier versions).
    """
    previous = parse_agreement(previous_bytes)
    starts = effective_from or now
    leaving = set(remove_members)
    for code in sorted(leaving):
        if not previous.is_member(code):
            raise AgreementError(f"{code} is not a member of {previous.label}: nothing to remove")
    members = []
    for member in previous.members:
        if member.code in leaving:
            continue
        latest = {r.key_id: r for r in keystore.records(member.code)}
        kept = tuple(_staged(r, latest.pop(r.key_id, r), starts) for r in member.keys)
        members.append(member.model_copy(update={"keys": kept + tuple(latest.values())}))
    for code in dict.fromkeys(add_members):
        if previous.is_member(code):
            raise AgreementError(f"{code} is already a member of {previous.label}")
        records = keystore.records(code)
        if not records:
            raise KeyStoreError(
                f"no public keys of {agency(code).display} in {keystore.directory}: import "
                "the file its `silian keys export` made (silian keys import FILE) first"
            )
        members.append(_member(code, records))
    agreement = previous.model_copy(
        update={
            "version": previous.version + 1,
            "previous_digest": document_digest(previous_bytes),
            "effective_from": starts,
            "members": tuple(members),
        }
    )
    # model_copy does not validate; round-trip through validation before anyone signs it.
    document = agreement_bytes(Agreement.model_validate(agreement.model_dump()))
    return document, tuple(m.code for m in agreement.members)


def _staged(declared: KeyRecord, record: KeyRecord, starts: datetime) -> KeyRecord:
    """A rotated-out key signs until the version that retires it takes effect: an end the
    key store gives it (``keys rotate`` sets the rotation's time) before ``starts`` moves to
    ``starts`` when the previous version still let the key sign then, and stays where an
    earlier version put it otherwise. A revocation is kept as it is: it looks back on
    purpose."""
    if record.valid_until is None or record.valid_until >= starts:
        return record
    still_valid = declared.valid_until is None or declared.valid_until >= starts
    # Ended before already (by an earlier version's staging): that end stays as it was.
    return record.model_copy(
        update={"valid_until": starts if still_valid else declared.valid_until}
    )


def sign_as(document_bytes: bytes, *, signer: str, keystore: KeyStore) -> AgreementSignature:
    """Sign as ``signer`` with its declared signing key usable when the version takes effect."""
    agreement = parse_agreement(document_bytes)
    member = agreement.member(signer)
    for record in sorted(member.keys, key=lambda r: r.valid_from, reverse=True):
        if record.alg is not KeyAlg.ED25519 or not keystore.has_private(record.key_id):
            continue
        try:
            record.usable_at(agreement.effective_from)
        except VerificationError:
            continue
        key = keystore.signing_key(record.key_id)
        return sign_agreement(document_bytes, signer=signer, key_id=record.key_id, key=key)
    raise KeyStoreError(
        f"{member.display}: no private signing key in {keystore.directory} usable when "
        f"{agreement.label} takes effect ({agreement.effective_from.isoformat()})"
    )
