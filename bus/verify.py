"""Steps 1–6 of the consumer pipeline, shared with the auditor: is this record what its
issuer sent? Verification never returns a bool: it returns the verified record or raises
:class:`RecordRejectedError` with a reason an auditor can read.

The steps are *total*: whatever bytes a record holds — a tombstone, a null or non-UTF-8
header, a huge value, a validly signed record with hostile fields — they end in a
verified record or a refusal, never in another exception. Steps, numbered as
docs/wire-format.md numbers them:

1. shape — a value is present (not a tombstone), the broker stamped the time
   (``LogAppendTime``), key, value and headers within the policy's limits — all before
   anything is parsed;
2. headers — every signed attribute present once, printable ASCII, signature base64 of
   64 bytes;
3. issuer — ``ce_source`` an agency URN, ``ce_keyid`` owned by it, ``ce_time`` RFC 3339
   with offset and close to the broker's append time;
4. key — declared in the agreement in force at ``ce_time``, in its window, not revoked;
5. signature — Ed25519 over the signature base built from the exact bytes received;
6. fields — every other signed attribute well formed (``ce_id``, ``ce_type``,
   ``ce_chainseq``, ``ce_prevhash``, ``ce_priority``, ``ce_handling``, ``content-type``):
   a record refused here is validly signed, and the refusal names its signer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from agencies.errors import VerificationError, VerificationKind
from agencies.history import AgreementHistory
from bus.envelope.headers import (
    CONTENT_TYPE_JSON,
    CONTENT_TYPE_SEALED,
    SIGNED_ATTRIBUTES,
    SPEC_VERSION,
    Attributes,
)
from bus.envelope.ids import parse_time
from bus.envelope.signature import decode_headers, record_hash, signature_base
from bus.rejections import Reason, RecordRejectedError
from bus.transport.base import Record, TimestampType
from contracts.json_depth import nests_deeper
from contracts.vocab import (
    AGENCY_URN_PATTERN,
    AGENCY_URN_PREFIX,
    CE_TYPE_PATTERN,
    EVENT_ID_PATTERN,
    HandlingCode,
    Priority,
    Tlp,
)

__all__ = [
    "SEQ_MAX",
    "VerifiedRecord",
    "VerifyPolicy",
    "check_fields",
    "check_json_depth",
    "check_shape",
    "check_sizes",
    "issuer_of",
    "parse_seq",
    "verify_record",
]

# The largest ce_chainseq: what a signed 64-bit integer (SQLite's, Kafka's) holds.
SEQ_MAX = 2**63 - 1

_SOURCE = re.compile(AGENCY_URN_PATTERN)
_EVENT_ID = re.compile(EVENT_ID_PATTERN)
_CE_TYPE = re.compile(CE_TYPE_PATTERN)
_SEQ = re.compile(r"[1-9][0-9]{0,18}")  # decimal, no sign, no leading zero, no space or _
_HASH = re.compile(r"[0-9a-f]{64}")
_PRIORITIES = frozenset(p.value for p in Priority)
_HANDLINGS = frozenset(
    f"{code.value}/TLP:{tlp.value}" for code in HandlingCode for tlp in Tlp
)  # the ce_handling values there are: bus.context.format_handling's
_CONTENT_TYPES = frozenset({CONTENT_TYPE_JSON, CONTENT_TYPE_SEALED})
(_I_SPEC, _I_ID, _I_TYPE, _I_HANDLING, _I_PRIORITY, _I_SEQ, _I_PREV, _I_CONTENT) = (
    SIGNED_ATTRIBUTES.index(name)
    for name in (
        "ce_specversion",
        "ce_id",
        "ce_type",
        "ce_handling",
        "ce_priority",
        "ce_chainseq",
        "ce_prevhash",
        "content-type",
    )
)

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
class VerifyPolicy:
    """The limits a record must keep before anything of it is parsed, and the clock check."""

    max_value_bytes: int = 512 * 1024
    max_key_bytes: int = 1024
    max_headers: int = 32
    max_header_bytes: int = 4096  # one header: its name and its value
    max_json_depth: int = 32  # arrays and objects inside one another, in a value
    # ce_time may run ahead of the broker's clock by this much (clock skew) …
    max_ahead: timedelta = timedelta(minutes=5)
    # … and behind it by this much (signing happens when a record is sent, so a record is
    # never older than the send; a larger lag means a backdated signature).
    max_behind: timedelta = timedelta(hours=1)


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifiedRecord:
    """A record whose signature, key and chain attributes verified."""

    record: Record
    attributes: Attributes
    signature: bytes
    base: bytes
    hash: str
    time: datetime
    seq: int

    @property
    def agency(self) -> str:
        return self.attributes.agency

    @property
    def value(self) -> bytes:
        """The record's value (never None once verified: step 1 refuses a tombstone)."""
        return self.record.value or b""


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
    largest = max(
        (len(name) + (0 if header is None else len(header)) for name, header in record.headers),
        default=0,
    )
    check_sizes(policy, len(value), record.key, len(record.headers), largest)
    return value


def check_sizes(
    policy: VerifyPolicy, value_bytes: int, key: bytes | None, headers: int, largest: int
) -> None:
    """Step 1's limits: the value's, the key's, the number of headers and the largest."""
    if value_bytes > policy.max_value_bytes:
        raise RecordRejectedError(
            Reason.OVERSIZED,
            f"value of {value_bytes} bytes exceeds the limit of {policy.max_value_bytes}",
        )
    if key is not None and len(key) > policy.max_key_bytes:
        raise RecordRejectedError(
            Reason.OVERSIZED,
            f"key of {len(key)} bytes exceeds the limit of {policy.max_key_bytes}",
        )
    if headers > policy.max_headers:
        raise RecordRejectedError(
            Reason.OVERSIZED, f"{headers} headers exceed the limit of {policy.max_headers}"
        )
    if largest > policy.max_header_bytes:
        raise RecordRejectedError(
            Reason.OVERSIZED,
            f"a header of {largest} bytes exceeds the limit of {policy.max_header_bytes}",
        )


def issuer_of(source: str, keyid: str) -> str:
    """Step 3, first half: the agency code of ``ce_source``, whose key ``ce_keyid`` is."""
    if not _SOURCE.fullmatch(source):
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS,
            f"ce_source {source[:80]!r} is not an agency URN ({AGENCY_URN_PREFIX}<12-digit code>)",
        )
    agency = source[len(AGENCY_URN_PREFIX) :]
    if keyid.split(":", 1)[0] != agency:
        raise RecordRejectedError(
            Reason.UNKNOWN_KEY, f"key {keyid[:80]!r} does not belong to {source}"
        )
    return agency


def _check_issuer(
    attributes: Attributes, record: Record, policy: VerifyPolicy
) -> tuple[datetime, str]:
    """Step 3: (ce_time, agency code) of an issuer whose key may be looked up."""
    agency = issuer_of(attributes.source, attributes.keyid)
    try:
        moment = parse_time(attributes.time)
    except ValueError as error:
        raise RecordRejectedError(Reason.MALFORMED_HEADERS, f"ce_time: {error}") from None
    appended = datetime.fromtimestamp(record.timestamp_ms / 1000, tz=UTC)
    if moment - appended > policy.max_ahead or appended - moment > policy.max_behind:
        raise RecordRejectedError(
            Reason.TIME_SKEW,
            f"ce_time {attributes.time} is too far from the broker's append time "
            f"{appended.isoformat(timespec='seconds')}",
        )
    return moment, agency


def parse_seq(text: str) -> int:
    """``ce_chainseq`` as a number: decimal digits only, 1 … :data:`SEQ_MAX`."""
    if not _SEQ.fullmatch(text) or int(text) > SEQ_MAX:
        raise ValueError(f"ce_chainseq {text[:40]!r} is not a decimal from 1 to 2^63-1")
    return int(text)


def check_fields(values: tuple[str, ...], *, signer: str) -> int:
    """Step 6: every signed attribute not judged yet is well formed; returns the seq.

    ``values`` are the signed attributes in :data:`SIGNED_ATTRIBUTES` order. The record
    verified, so a refusal here is ``signer``'s: it says so.
    """
    problem = None
    if values[_I_SPEC] != SPEC_VERSION:
        problem = f"ce_specversion {values[_I_SPEC][:40]!r} is not {SPEC_VERSION}"
    elif not _EVENT_ID.fullmatch(values[_I_ID]):
        problem = f"ce_id {values[_I_ID][:80]!r} is not an event id ({EVENT_ID_PATTERN})"
    elif not _CE_TYPE.fullmatch(values[_I_TYPE]):
        problem = f"ce_type {values[_I_TYPE][:80]!r} is not a silian event type"
    elif not _HASH.fullmatch(values[_I_PREV]):
        problem = f"ce_prevhash {values[_I_PREV][:80]!r} is not 64 lowercase hex"
    elif values[_I_PRIORITY] not in _PRIORITIES:
        problem = f"ce_priority {values[_I_PRIORITY][:40]!r} is not one of {sorted(_PRIORITIES)}"
    elif values[_I_HANDLING] not in _HANDLINGS:
        problem = f"ce_handling {values[_I_HANDLING][:40]!r} is not valid"
    elif values[_I_CONTENT] not in _CONTENT_TYPES:
        problem = f"content-type {values[_I_CONTENT][:80]!r} unknown"
    if problem is None:
        try:
            return parse_seq(values[_I_SEQ])
        except ValueError as error:
            problem = str(error)
    raise RecordRejectedError(
        Reason.MALFORMED_HEADERS, f"{problem} (validly signed by {signer})", signer=signer
    )


def verify_record(
    record: Record, agreements: AgreementHistory, policy: VerifyPolicy | None = None
) -> VerifiedRecord:
    """Steps 1–6 over the exact bytes of ``record``."""
    policy = policy or VerifyPolicy()
    # 1. shape and limits
    value = check_shape(record, policy)
    # 2. headers
    attributes, signature = decode_headers(record.headers)
    # 3. issuer
    moment, agency = _check_issuer(attributes, record, policy)
    # 4. key, as the agreement in force at ce_time judges it
    try:
        key = agreements.signing_key(attributes.keyid, moment)
    except VerificationError as error:
        reason = _REASONS.get(error.kind, Reason.UNKNOWN_KEY)
        raise RecordRejectedError(reason, str(error)) from None
    # 5. signature over the exact bytes received
    base = signature_base(topic=record.topic, key=record.key, attributes=attributes, value=value)
    try:
        key.verify(signature, base)
    except VerificationError:
        raise RecordRejectedError(
            Reason.BAD_SIGNATURE,
            f"signature does not verify with key {attributes.keyid}: the value or a signed "
            "header was altered, or another key signed it",
        ) from None
    # 6. the other signed fields: the signer's own mistake (or malice) if malformed
    seq = check_fields(attributes.values(), signer=agency)
    return VerifiedRecord(
        record=record,
        attributes=attributes,
        signature=signature,
        base=base,
        hash=record_hash(base, signature),
        time=moment,
        seq=seq,
    )


def check_json_depth(data: bytes, limit: int, *, what: str = "the value") -> None:
    """Refuse JSON nested deeper than ``limit`` before any parser recurses into it.

    Judged on the bytes, in linear time (:func:`contracts.json_depth.nests_deeper`).
    Unbalanced brackets are not JSON: the parser says so.
    """
    if nests_deeper(data, limit):
        raise RecordRejectedError(
            Reason.TOO_DEEP, f"{what} nests arrays and objects deeper than {limit} levels"
        )
