"""Checkpoint mode's fast path: a record under a trusted, cosigned checkpoint, at hashing speed.

Such a record needs its hash — ``SHA-256(signature base || signature)`` — for the Merkle
root that proves the trust, plus the cheap judgements that do not need Ed25519 (key in
force at ``ce_time``, permission, decoding for the lifecycle judge). The signature base
is built straight from the raw header bytes, without dataclasses or re-encoding;
:func:`fast_signature_base` equals :func:`bus.envelope.signature.signature_base` byte for
byte (tests/unit/audit/test_fast.py).

Everything here is an *accept-only* shortcut: whenever a record is not plainly well
formed and in order, the fast path returns None and the caller runs the full
:func:`bus.audit.examine.examine`, which finds and words the anomaly. The fast path
never accepts what the full path refuses (the same checks, in the same order).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import operator
from collections.abc import Sequence
from datetime import UTC, datetime

from agencies.agreement import Agreement
from agencies.errors import PermissionDeniedError, UnknownAgencyError, VerificationError
from agencies.history import AgreementHistory
from agencies.keys import KeyRecord
from bus.audit.anomaly import Kind
from bus.audit.examine import Examined, for_lifecycle
from bus.context import parse_handling
from bus.envelope.headers import (
    CONTENT_TYPE_JSON,
    SIGNATURE_HEADER,
    SIGNED_ATTRIBUTES,
    SPEC_VERSION,
)
from bus.envelope.ids import parse_time
from bus.envelope.signature import DOMAIN_LINE
from bus.transport.base import Record
from bus.verify import VerifyPolicy
from contracts.base import EventModel, Family
from contracts.errors import ContractError
from contracts.registry import REGISTRY

__all__ = ["FastJudge", "fast_signature_base"]

_INDEX = {name: i for i, name in enumerate(SIGNED_ATTRIBUTES)}
_PREFIXES = tuple(name.encode("ascii") + b"=" for name in SIGNED_ATTRIBUTES)
_PRINTABLE = bytes(range(0x20, 0x7F))
_PICK = operator.itemgetter(*SIGNED_ATTRIBUTES)
_SEPARATORS = b"\n" * len(SIGNED_ATTRIBUTES)
_SOURCE_PREFIX = b"urn:silian:agency:"
_SPEC = SPEC_VERSION.encode("ascii")
_I_SPEC, _I_ID, _I_SOURCE, _I_TYPE, _I_TIME = 0, 1, 2, 3, 4
_I_CONTENT, _I_HANDLING, _I_KEYID, _I_CHAIN, _I_SEQ, _I_PREV = 6, 8, 10, 11, 12, 13


def _signed_headers(  # noqa: PLR0911 - each refusal hands the record to the full path
    headers: Sequence[tuple[str, bytes]],
) -> tuple[list[bytes], bytes] | None:
    """Each signed attribute's raw bytes (present once, printable ASCII) and the signature."""
    named = dict(headers)
    if len(named) != len(headers):
        return None  # a name twice (maybe an unsigned one): the full path sorts it out
    try:
        values = [bytes(v) for v in _PICK(named)]
        signature_text = bytes(named[SIGNATURE_HEADER])
    except KeyError:
        return None
    values.append(signature_text)
    if not all(values):
        return None
    # translate(None, printable) deletes every printable byte: the separators must remain
    if b"\n".join(values).translate(None, _PRINTABLE) != _SEPARATORS:
        return None
    del values[-1]
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except binascii.Error:
        return None
    if len(signature) != 64:
        return None
    return values, signature


def _base(topic: str, key: bytes | None, values: Sequence[bytes], value: bytes) -> bytes | None:
    try:
        topic_bytes = topic.encode("ascii")
    except UnicodeEncodeError:
        return None
    parts = [DOMAIN_LINE, b"topic=", topic_bytes, b"\nkey=", (key or b"").hex().encode(), b"\n"]
    for prefix, text in zip(_PREFIXES, values, strict=True):
        parts += (prefix, text, b"\n")
    parts += (b"value-sha256=", hashlib.sha256(value).hexdigest().encode(), b"\n")
    return b"".join(parts)


def fast_signature_base(record: Record) -> tuple[bytes, bytes] | None:
    """(signature base, signature) from the raw headers; None where the full path objects."""
    signed = _signed_headers(record.headers)
    if signed is None:
        return None
    base = _base(record.topic, record.key, signed[0], record.value)
    return None if base is None else (base, signed[1])


class FastJudge:
    """Examines records trusted on a checkpoint; caches permission verdicts per version."""

    def __init__(
        self, agreements: AgreementHistory, policy: VerifyPolicy, decode: bool = True
    ) -> None:
        self._agreements, self._policy, self._decode = agreements, policy, decode
        self._permissions: dict[tuple[int, str, str, str], tuple[tuple[Kind, str], ...]] = {}
        self._keys: dict[tuple[int, str], tuple[KeyRecord, ...]] = {}

    def _key_usable(self, version: Agreement, keyid: str, moment: datetime) -> bool:
        """AgreementHistory.signing_key's judgement, without building a key per record."""
        records = self._keys.get((id(version), keyid))
        if records is None:
            records = self._keys[(id(version), keyid)] = self._key_records(version, keyid)
        if not records:
            return False  # not a member then, or a key the version does not declare
        try:
            for record in records:  # in force, and as every later version judges it
                record.usable_at(moment)
        except VerificationError:
            return False
        return True

    def _key_records(self, version: Agreement, keyid: str) -> tuple[KeyRecord, ...]:
        owner = keyid.split(":", 1)[0]
        if not version.is_member(owner):
            return ()
        record = version.member(owner).key(keyid)
        if record is None:
            return ()
        versions = self._agreements.versions
        later = [
            v.member(owner).key(keyid)
            for v in versions[versions.index(version) + 1 :]
            if v.is_member(owner)
        ]
        return (record, *(r for r in later if r is not None))

    def examine(self, record: Record) -> Examined | None:  # noqa: PLR0911 - see _signed_headers
        """The verdict on a trusted record, or None: run the full examination instead."""
        policy = self._policy
        # 1. size
        if len(record.value) > policy.max_value_bytes:
            return None
        # 2. headers
        signed = _signed_headers(record.headers)
        if signed is None:
            return None
        raw, signature = signed
        # 3. attributes (as bus.verify judges them)
        if raw[_I_SPEC] != _SPEC or not raw[_I_SOURCE].startswith(_SOURCE_PREFIX):
            return None
        text = [value.decode("ascii") for value in raw]
        agency = text[_I_SOURCE][len(_SOURCE_PREFIX) :]
        try:
            moment = parse_time(text[_I_TIME])
            seq = int(text[_I_SEQ])
        except ValueError:
            return None
        appended = datetime.fromtimestamp(record.timestamp_ms / 1000, tz=UTC)
        if seq < 1 or moment - appended > policy.max_ahead:
            return None
        if appended - moment > policy.max_behind:
            return None
        keyid = text[_I_KEYID]
        if keyid.split(":", 1)[0] != agency:
            return None
        # 4. key in force at ce_time (5., the signature, is what the checkpoint vouches for)
        try:
            version = self._agreements.in_force_at(moment)
        except VerificationError:
            return None
        if not self._key_usable(version, keyid, moment):
            return None
        base = _base(record.topic, record.key, raw, record.value)
        if base is None:
            return None
        # 6. permission in force (7. decoding) as bus.audit.examine judges them
        problems, event = self._judge(record, text, agency, moment, version)
        return Examined(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            chain=text[_I_CHAIN],
            seq=seq,
            prevhash=text[_I_PREV],
            event_id=text[_I_ID],
            agency=agency,
            ce_type=text[_I_TYPE],
            hash=hashlib.sha256(base + signature).digest(),
            problems=problems,
            event=event,
            trusted=True,
        )

    def _judge(
        self, record: Record, text: list[str], agency: str, moment: datetime, version: Agreement
    ) -> tuple[tuple[tuple[Kind, str], ...], EventModel | None]:
        ce_type, handling = text[_I_TYPE], text[_I_HANDLING]
        key = (id(version), agency, ce_type, handling)
        problems = self._permissions.get(key)
        if problems is None:
            problems = self._permissions[key] = self._permission(agency, ce_type, handling, moment)
        if any(kind is Kind.UNKNOWN_TYPE for kind, _ in problems):
            return problems, None
        event = None
        if self._decode and text[_I_CONTENT] == CONTENT_TYPE_JSON:
            try:
                event = for_lifecycle(REGISTRY.decode(ce_type, record.value))
            except ContractError as error:
                return (*problems, (Kind.SCHEMA_INVALID, str(error))), None
        return problems, event

    def _permission(
        self, agency: str, ce_type: str, handling: str, moment: datetime
    ) -> tuple[tuple[Kind, str], ...]:
        try:
            spec = REGISTRY.spec_for_type(ce_type)
        except ContractError:
            return ((Kind.UNKNOWN_TYPE, f"event type {ce_type} is not in the contracts"),)
        try:
            code = parse_handling(handling).code
            self._agreements.check_publish(agency, Family(spec.family), code, at=moment)
        except ValueError:
            return ((Kind.MALFORMED, f"ce_handling {handling!r} is not valid"),)
        except UnknownAgencyError as error:
            return ((Kind.NOT_A_MEMBER, str(error)),)
        except (PermissionDeniedError, VerificationError) as error:
            return ((Kind.NOT_PERMITTED, str(error)),)
        return ()
