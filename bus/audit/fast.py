"""The replay's fast path: a record examined on its raw parts, without dataclasses.

In checkpoint mode a record under a trusted, cosigned checkpoint needs its hash —
``SHA-256(signature base || signature)`` — for the Merkle root that proves the trust,
plus the cheap judgements that do not need Ed25519 (key in force at ``ce_time``,
permission, decoding for the lifecycle judge). In full mode the same path checks the
Ed25519 signature too (``FastJudge(verify=True)``). The signature base is built straight
from the raw header text, with one format operation;
:func:`fast_signature_base` equals :func:`bus.envelope.signature.signature_base` byte for
byte (tests/unit/audit/test_fast.py).

Everything here is an *accept-only* shortcut: whenever a record is not plainly well
formed and in order, the fast path returns None and the caller runs the full
:func:`bus.audit.examine.examine`, which finds and words the anomaly. The fast path
never accepts what the full path refuses (the same checks, in the same order).
"""

from __future__ import annotations

import binascii
import hashlib
import operator
from collections.abc import Sequence
from datetime import UTC, datetime

from agencies.agreement import Agreement
from agencies.errors import PermissionDeniedError, UnknownAgencyError, VerificationError
from agencies.history import AgreementHistory
from agencies.keys import KeyRecord, VerifyKey
from bus.audit.anomaly import Kind, kind_for_reason
from bus.audit.examine import Examined, for_lifecycle
from bus.context import parse_handling
from bus.envelope.headers import (
    CONTENT_TYPE_JSON,
    SIGNATURE_HEADER,
    SIGNED_ATTRIBUTES,
)
from bus.envelope.ids import parse_time
from bus.envelope.signature import DOMAIN_LINE
from bus.rejections import RecordRejectedError
from bus.transport.base import Record, TimestampType
from bus.verify import VerifyPolicy, check_fields, check_json_depth, check_sizes, issuer_of
from contracts.base import EventModel, Family
from contracts.errors import ContractError
from contracts.registry import REGISTRY

__all__ = ["FastJudge", "Headers", "Verdict", "fast_signature_base", "text_headers"]

_FORMAT = (
    DOMAIN_LINE.decode("ascii")
    + "topic=%s\nkey=%s\n"
    + "".join(f"{name}=%s\n" for name in SIGNED_ATTRIBUTES)
    + "value-sha256=%s\n"
)
_PICK = operator.itemgetter(*SIGNED_ATTRIBUTES)
_I_ID, _I_SOURCE, _I_TYPE, _I_TIME = 1, 2, 3, 4
_I_CONTENT, _I_HANDLING, _I_KEYID, _I_CHAIN, _I_PREV = 6, 8, 10, 11, 13
_sha256 = hashlib.sha256
_Key = tuple[datetime, datetime | None, VerifyKey | None]
_NO_KEY: _Key = (datetime.min.replace(tzinfo=UTC), None, None)

Verdict = tuple[tuple[str, ...], str, int, bytes, tuple[tuple[Kind, str], ...], EventModel | None]
"""A trusted record's judgement: (signed attributes' text, agency, seq, record hash,
problems, the decoded event the lifecycle judge needs)."""

Headers = dict[str, object]
"""Header name → value as text (latin-1 of the stored bytes, or a v2 bundle's text);
any other value (a bundle's ``{"base64": …}``) is a header the fast path leaves alone."""


def text_headers(headers: Sequence[tuple[str, bytes | None]]) -> Headers | None:
    """A record's headers as :data:`Headers`; None if a name appears twice, is not ASCII,
    or a value is null (the full path says what is wrong)."""
    if any(value is None or not name.isascii() for name, value in headers):
        return None
    named: Headers = {name: value.decode("latin-1") for name, value in headers if value is not None}
    return named if len(named) == len(headers) else None


def _signed(named: Headers) -> tuple[tuple[str, ...], bytes] | None:
    """Each signed attribute's text (present, printable ASCII) and the signature."""
    try:
        values: tuple[str, ...] = _PICK(named)
        joined = "".join((*values, named[SIGNATURE_HEADER]))  # type: ignore[arg-type]
    except (KeyError, TypeError):
        return None  # missing, or stored as base64 (not printable ASCII)
    if not (all(values) and joined.isascii() and joined.isprintable()):
        return None  # empty, or a byte the full path refuses (a newline would split a line)
    try:
        # strict: refuses at least what b64decode(validate=True) in bus.envelope refuses
        signature = binascii.a2b_base64(named[SIGNATURE_HEADER], strict_mode=True)  # type: ignore[arg-type]
    except binascii.Error:
        return None
    if len(signature) != 64:
        return None
    return values, signature


def _base(topic: str, key: bytes | None, values: tuple[str, ...], value: bytes) -> bytes | None:
    try:
        return (_FORMAT % (topic, (key or b"").hex(), *values, _sha256(value).hexdigest())).encode(
            "ascii"
        )
    except UnicodeEncodeError:
        return None  # a topic that is not ASCII


def fast_signature_base(record: Record) -> tuple[bytes, bytes] | None:
    """(signature base, signature) from the raw headers; None where the full path objects."""
    named = text_headers(record.headers)
    signed = None if named is None else _signed(named)
    if signed is None or record.value is None:
        return None
    base = _base(record.topic, record.key, signed[0], record.value)
    return None if base is None else (base, signed[1])


class FastJudge:
    """Examines records on their parts; caches key windows and permission verdicts.

    ``verify=False`` (checkpoint mode): the signature is what the checkpoint vouches for,
    and is not checked. ``verify=True`` (full mode): the Ed25519 signature is checked too,
    so an accepted record is exactly what :func:`bus.audit.examine.examine` accepts.
    """

    def __init__(
        self,
        agreements: AgreementHistory,
        policy: VerifyPolicy,
        decode: bool = True,
        *,
        verify: bool = False,
    ) -> None:
        self._agreements, self._policy, self._decode = agreements, policy, decode
        self.verifies = verify
        self._permissions: dict[tuple[int, str, str, str], tuple[tuple[Kind, str], ...]] = {}
        self._keys: dict[tuple[int, str], _Key] = {}

    def _key(self, version: Agreement, keyid: str, moment: datetime) -> VerifyKey | None:
        """The signing key, if usable at ``moment`` as AgreementHistory.signing_key judges."""
        found = self._keys.get((id(version), keyid))
        if found is None:
            found = self._keys[(id(version), keyid)] = self._key_entry(version, keyid)
        if found is _NO_KEY:
            return None  # not a member then, a key the version does not declare, not Ed25519
        start, end, key = found
        if moment < start or (end is not None and moment >= end):
            return None
        return key

    def _key_entry(self, version: Agreement, keyid: str) -> _Key:
        """When every record of the key (this version's, every later one's) allows its use.

        KeyRecord.usable_at's half-open windows, intersected: from the latest
        ``valid_from`` to the earliest ``valid_until`` or ``revoked_at``.
        """
        records = self._key_records(version, keyid)
        if not records:
            return _NO_KEY
        try:
            key = records[0].verify_key()  # VerificationError unless an Ed25519 key
        except (VerificationError, ValueError):
            return _NO_KEY
        ends = [
            moment
            for record in records
            for moment in (record.valid_until, record.revoked_at)
            if moment is not None
        ]
        return max(record.valid_from for record in records), min(ends, default=None), key

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

    def examine(self, record: Record) -> Examined | None:
        """The verdict on a record, or None: run the full examination instead."""
        named = text_headers(record.headers)
        if named is None or record.value is None:
            return None  # a name twice, a null, a tombstone: the full path sorts it out
        if record.timestamp_type is not TimestampType.LOG_APPEND_TIME:
            return None
        verdict = self.verdict(record.topic, record.timestamp_ms, record.key, record.value, named)
        if verdict is None:
            return None
        return self.examined(record.topic, record.partition, record.offset, verdict)

    def examined(self, topic: str, partition: int, offset: int, verdict: Verdict) -> Examined:
        """The :class:`Examined` of a :meth:`verdict`."""
        text, agency, seq, record_hash, problems, event = verdict
        return Examined(
            topic=topic,
            partition=partition,
            offset=offset,
            chain=text[_I_CHAIN],
            seq=seq,
            prevhash=text[_I_PREV],
            event_id=text[_I_ID],
            agency=agency,
            ce_type=text[_I_TYPE],
            hash=record_hash,
            problems=problems,
            event=event,
            trusted=not self.verifies,
        )

    def verdict(  # noqa: PLR0911 - each refusal hands the record back
        self, topic: str, timestamp_ms: int, key: bytes | None, value: bytes, named: Headers
    ) -> Verdict | None:
        """The judgement of a trusted record as a bare :data:`Verdict`, or None."""
        policy = self._policy
        # 1. limits (as bus.verify.check_sizes judges them)
        try:
            largest = max((len(n) + len(v) for n, v in named.items()), default=0)  # type: ignore[arg-type]
            check_sizes(policy, len(value), key, len(named), largest)
        except (TypeError, RecordRejectedError):
            return None  # a value stored as base64, or over a limit
        # 2. headers
        signed = _signed(named)
        if signed is None:
            return None
        text, signature = signed
        # 3. issuer (as bus.verify judges it)
        try:
            agency = issuer_of(text[_I_SOURCE], text[_I_KEYID])
            moment = parse_time(text[_I_TIME])
        except (RecordRejectedError, ValueError):
            return None
        appended = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
        if moment - appended > policy.max_ahead or appended - moment > policy.max_behind:
            return None
        keyid = text[_I_KEYID]
        # 4. key in force at ce_time
        try:
            version = self._agreements.in_force_at(moment)
        except VerificationError:
            return None
        signing_key = self._key(version, keyid, moment)
        if signing_key is None:
            return None
        base = _base(topic, key, text, value)
        if base is None:
            return None
        # 5. the signature: vouched for by the checkpoint, or checked here (full mode)
        if self.verifies:
            try:
                signing_key.verify(signature, base)
            except VerificationError:
                return None
        # 6. the other signed fields (bus.verify.check_fields)
        try:
            seq = check_fields(text, signer=agency)
        except RecordRejectedError:
            return None
        # 7. permission in force (8. decoding) as bus.audit.examine judges them
        problems, event = self._judge(value, text, agency, moment, version)
        return text, agency, seq, _sha256(base + signature).digest(), problems, event

    def _judge(
        self,
        value: bytes,
        text: tuple[str, ...],
        agency: str,
        moment: datetime,
        version: Agreement,
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
                check_json_depth(value, self._policy.max_json_depth)
                event = for_lifecycle(REGISTRY.decode(ce_type, value))
            except RecordRejectedError as error:
                return (*problems, (kind_for_reason(error.reason), error.detail)), None
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
