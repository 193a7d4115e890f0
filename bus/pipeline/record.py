"""Steps 1–6 of the pipeline: is this record what its issuer sent?

The consumer, the record-by-record audit and the range-by-range audit all run these steps,
one implementation; an auditor who trusts a cosigned checkpoint passes ``checkpointed`` —
the signature is then vouched for by the Merkle root the checkpoint signs (the replay
proves the record hashes reproduce it), and every other step runs the same. Verification
never returns a bool: it returns the verified record or raises :class:`RecordRejectedError`
with a reason an auditor can read.

The steps are *total*: whatever bytes a record holds — a tombstone, a null or non-UTF-8
header, a huge value, a validly signed record with hostile fields — they end in a
verified record or a refusal, never in another exception.

1. shape — a value is present (not a tombstone), the broker stamped the time
   (``LogAppendTime``), key, value and headers within the policy's limits — all before
   anything is parsed;
2. headers — every signed attribute present once, printable ASCII, signature base64 of
   64 bytes (:func:`bus.envelope.signature.decode_headers`);
3. issuer — ``ce_source`` an agency URN, ``ce_keyid`` owned by it, ``ce_time`` RFC 3339
   with offset and close to the broker's append time;
4. key — declared in the agreement in force at ``ce_time``, in its window, not revoked
   (:meth:`agencies.history.AgreementHistory.signing_key`);
5. signature — Ed25519 over the signature base built from the exact bytes received;
6. fields — every other signed attribute well formed (``ce_id``, ``ce_type``,
   ``ce_chainseq``, ``ce_prevhash``, ``ce_priority``, ``ce_handling``, ``content-type``):
   a record refused here is validly signed, and the refusal names its signer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from agencies.errors import VerificationError, VerificationKind
from agencies.history import AgreementHistory
from bus.envelope.handling import HANDLING_VALUES
from bus.envelope.headers import (
    AGENCY_SOURCE_PREFIX,
    CONTENT_TYPE_JSON,
    CONTENT_TYPE_SEALED,
    SPEC_VERSION,
    Attributes,
)
from bus.envelope.ids import parse_time
from bus.envelope.signature import decode_headers, record_hash, signature_base
from bus.errors import RecordRejectedError
from bus.pipeline.policy import SEQ_MAX, VerifyPolicy
from bus.reasons import Reason
from bus.transport.base import Record, TimestampType
from contracts.vocab import AGENCY_URN_PATTERN, CE_TYPE_PATTERN, EVENT_ID_PATTERN, Priority

__all__ = [
    "VerifiedRecord",
    "check_fields",
    "check_shape",
    "issuer_of",
    "parse_seq",
    "verify_record",
]

_SOURCE = re.compile(AGENCY_URN_PATTERN)
_EVENT_ID = re.compile(EVENT_ID_PATTERN)
_CE_TYPE = re.compile(CE_TYPE_PATTERN)
_SEQ = re.compile(r"[1-9][0-9]{0,18}")  # decimal, no sign, no leading zero, no space or _
_HASH = re.compile(r"[0-9a-f]{64}")
_PRIORITIES = frozenset(p.value for p in Priority)
_CONTENT_TYPES = frozenset({CONTENT_TYPE_JSON, CONTENT_TYPE_SEALED})

_REASONS: dict[VerificationKind, Reason] = {
    VerificationKind.NO_AGREEMENT: Reason.NOT_A_MEMBER,
    VerificationKind.NOT_A_MEMBER: Reason.NOT_A_MEMBER,
    VerificationKind.UNKNOWN_KEY: Reason.UNKNOWN_KEY,
    VerificationKind.WRONG_KEY_KIND: Reason.UNKNOWN_KEY,
    VerificationKind.KEY_REVOKED: Reason.KEY_REVOKED,
    VerificationKind.KEY_OUT_OF_WINDOW: Reason.KEY_OUT_OF_WINDOW,
    VerificationKind.BAD_SIGNATURE: Reason.BAD_SIGNATURE,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifiedRecord:
    """A record whose shape, headers, key, signature (or checkpoint) and fields verified."""

    record: Record
    value: bytes  # never None once verified: step 1 refuses a tombstone
    attributes: Attributes
    signature: bytes
    base: bytes
    hash: str
    time: datetime
    seq: int
    checkpointed: bool = False  # the signature is vouched for by a checkpoint, not checked

    @property
    def agency(self) -> str:
        return self.attributes.agency


def check_shape(record: Record, policy: VerifyPolicy) -> bytes:
    """Step 1: the record has a value, a broker-stamped time and keeps every size limit."""
    value = record.value
    if value is None:
        raise RecordRejectedError(
            Reason.NO_VALUE,
            "the record has no value (a Kafka tombstone): there is no event to verify",
        )
    if record.timestamp_type is not TimestampType.LOG_APPEND_TIME:
        raise RecordRejectedError(
            Reason.UNTRUSTED_TIME,
            "the record's time was set by its producer (CreateTime), not by the broker: "
            "the topic must stamp records on append (silian topics apply sets "
            "message.timestamp.type=LogAppendTime)",
        )
    if len(value) > policy.max_value_bytes:
        raise RecordRejectedError(
            Reason.OVERSIZED,
            f"value of {len(value)} bytes exceeds the limit of {policy.max_value_bytes}",
        )
    key = record.key
    if key is not None and len(key) > policy.max_key_bytes:
        raise RecordRejectedError(
            Reason.OVERSIZED,
            f"key of {len(key)} bytes exceeds the limit of {policy.max_key_bytes}",
        )
    headers = record.headers
    if len(headers) > policy.max_headers:
        raise RecordRejectedError(
            Reason.OVERSIZED, f"{len(headers)} headers exceed the limit of {policy.max_headers}"
        )
    limit = policy.max_header_bytes
    for name, raw in headers:  # a plain loop: every record pays for it
        size = len(name) + (len(raw) if raw else 0)
        if size > limit:
            raise RecordRejectedError(
                Reason.OVERSIZED, f"a header of {size} bytes exceeds the limit of {limit}"
            )
    return value


def issuer_of(attributes: Attributes) -> str:
    """Step 3, first half: the agency code of ``ce_source``, whose key ``ce_keyid`` is."""
    source, keyid = attributes.source, attributes.keyid
    if not _SOURCE.fullmatch(source):
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS,
            f"ce_source {source[:80]!r} is not an agency URN "
            f"({AGENCY_SOURCE_PREFIX}<12-digit code>)",
        )
    agency = source[len(AGENCY_SOURCE_PREFIX) :]
    if keyid.split(":", 1)[0] != agency:
        raise RecordRejectedError(
            Reason.UNKNOWN_KEY, f"key {keyid[:80]!r} does not belong to {source}"
        )
    return agency


def _check_time(attributes: Attributes, record: Record, policy: VerifyPolicy) -> datetime:
    """Step 3, second half: ``ce_time`` is RFC 3339 and close to the broker's time."""
    try:
        moment = parse_time(attributes.time)
    except ValueError as error:
        raise RecordRejectedError(Reason.MALFORMED_HEADERS, f"ce_time: {error}") from None
    try:
        appended = datetime.fromtimestamp(record.timestamp_ms / 1000, tz=UTC)
    except (OverflowError, ValueError, OSError):
        raise RecordRejectedError(
            Reason.UNTRUSTED_TIME,
            f"the broker's append time {record.timestamp_ms} ms is not a time between the "
            "years 1 and 9999",
        ) from None
    if moment - appended > policy.max_ahead or appended - moment > policy.max_behind:
        raise RecordRejectedError(
            Reason.TIME_SKEW,
            f"ce_time {attributes.time} is too far from the broker's append time "
            f"{appended.isoformat(timespec='seconds')}",
        )
    return moment


def parse_seq(text: str) -> int:
    """``ce_chainseq`` as a number: decimal digits only, 1 … :data:`SEQ_MAX`."""
    if not _SEQ.fullmatch(text) or int(text) > SEQ_MAX:
        raise ValueError(f"ce_chainseq {text[:40]!r} is not a decimal from 1 to 2^63-1")
    return int(text)


def check_fields(attributes: Attributes, *, signer: str) -> int:
    """Step 6: every signed attribute not judged yet is well formed; returns the seq.

    The record verified, so a refusal here is ``signer``'s: it says so.
    """
    problem = None
    if attributes.specversion != SPEC_VERSION:
        problem = f"ce_specversion {attributes.specversion[:40]!r} is not {SPEC_VERSION}"
    elif not _EVENT_ID.fullmatch(attributes.id):
        problem = f"ce_id {attributes.id[:80]!r} is not an event id ({EVENT_ID_PATTERN})"
    elif not _CE_TYPE.fullmatch(attributes.type):
        problem = f"ce_type {attributes.type[:80]!r} is not a silian event type"
    elif not _HASH.fullmatch(attributes.prevhash):
        problem = f"ce_prevhash {attributes.prevhash[:80]!r} is not 64 lowercase hex"
    elif attributes.priority not in _PRIORITIES:
        problem = f"ce_priority {attributes.priority[:40]!r} is not one of {sorted(_PRIORITIES)}"
    elif attributes.handling not in HANDLING_VALUES:
        problem = f"ce_handling {attributes.handling[:40]!r} is not valid"
    elif attributes.content_type not in _CONTENT_TYPES:
        problem = f"content-type {attributes.content_type[:80]!r} unknown"
    if problem is None:
        try:
            return parse_seq(attributes.chainseq)
        except ValueError as error:
            problem = str(error)
    raise RecordRejectedError(
        Reason.MALFORMED_HEADERS, f"{problem} (validly signed by {signer})", signer=signer
    )


def verify_record(
    record: Record,
    agreements: AgreementHistory,
    policy: VerifyPolicy | None = None,
    *,
    checkpointed: bool = False,
) -> VerifiedRecord:
    """Steps 1–6 over the exact bytes of ``record``.

    ``checkpointed``: the record lies under a checkpoint a quorum of witnesses cosigned;
    its signature is vouched for by the checkpoint's root (which the caller must then
    prove the record hashes reproduce) and is not checked here.
    """
    policy = policy or VerifyPolicy()
    # 1. shape and limits
    value = check_shape(record, policy)
    # 2. headers
    attributes, signature = decode_headers(record.headers)
    # 3. issuer
    agency = issuer_of(attributes)
    moment = _check_time(attributes, record, policy)
    # 4. key, as the agreement in force at ce_time judges it
    try:
        key = agreements.signing_key(attributes.keyid, moment)
    except VerificationError as error:
        reason = _REASONS.get(error.kind, Reason.UNKNOWN_KEY)
        raise RecordRejectedError(reason, str(error)) from None
    # 5. signature over the exact bytes received (or vouched for by a checkpoint)
    base = signature_base(topic=record.topic, key=record.key, attributes=attributes, value=value)
    if not checkpointed:
        try:
            key.verify(signature, base)
        except VerificationError:
            raise RecordRejectedError(
                Reason.BAD_SIGNATURE,
                f"signature does not verify with key {attributes.keyid}: the value or a "
                "signed header was altered, or another key signed it",
            ) from None
    # 6. the other signed fields: the signer's own mistake (or malice) if malformed
    seq = check_fields(attributes, signer=agency)
    return VerifiedRecord(
        record=record,
        value=value,
        attributes=attributes,
        signature=signature,
        base=base,
        hash=record_hash(base, signature),
        time=moment,
        seq=seq,
        checkpointed=checkpointed,
    )
