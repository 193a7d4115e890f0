"""Step 1 of the consumer pipeline, shared with the auditor: is this record what its
issuer sent? Verification never returns a bool: it returns the verified record or raises
:class:`RecordRejectedError` with a reason an auditor can read.

Steps, numbered as docs/wire-format.md numbers them:

1. size — a value over the limit is refused before anything is parsed;
2. headers — every signed attribute present once, printable ASCII, signature base64;
3. attributes — known spec version, ``ce_source`` an agency URN, ``ce_time`` RFC 3339 with
   offset and close to the broker's append time, ``ce_keyid`` owned by ``ce_source``;
4. key — declared in the agreement in force at ``ce_time``, in its window, not revoked;
5. signature — Ed25519 over the signature base built from the exact bytes received.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from agencies.errors import VerificationError
from agencies.history import AgreementHistory
from bus.envelope.headers import SPEC_VERSION, Attributes
from bus.envelope.ids import parse_time
from bus.envelope.signature import decode_headers, record_hash, signature_base
from bus.rejections import Reason, RecordRejectedError
from bus.transport.base import Record

__all__ = ["VerifiedRecord", "VerifyPolicy", "verify_record"]

_SOURCE_PREFIX = "urn:silian:agency:"


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifyPolicy:
    max_value_bytes: int = 512 * 1024
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


def _classify(error: VerificationError) -> Reason:
    text = str(error)
    if "revoked" in text:
        return Reason.KEY_REVOKED
    if "unknown key" in text:
        return Reason.UNKNOWN_KEY
    return Reason.KEY_OUT_OF_WINDOW


def verify_record(
    record: Record, agreements: AgreementHistory, policy: VerifyPolicy | None = None
) -> VerifiedRecord:
    policy = policy or VerifyPolicy()
    # 1. size
    if len(record.value) > policy.max_value_bytes:
        raise RecordRejectedError(
            Reason.OVERSIZED,
            f"value of {len(record.value)} bytes exceeds the limit of {policy.max_value_bytes}",
        )
    # 2. headers
    attributes, signature = decode_headers(record.headers)
    # 3. attributes
    if attributes.specversion != SPEC_VERSION:
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS, f"ce_specversion {attributes.specversion!r} is not 1.0"
        )
    if not attributes.source.startswith(_SOURCE_PREFIX):
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS, f"ce_source {attributes.source!r} is not an agency URN"
        )
    try:
        moment = parse_time(attributes.time)
        seq = int(attributes.chainseq)
    except ValueError as error:
        raise RecordRejectedError(Reason.MALFORMED_HEADERS, str(error)) from None
    if seq < 1:
        raise RecordRejectedError(Reason.MALFORMED_HEADERS, f"ce_chainseq {seq} is below 1")
    appended = datetime.fromtimestamp(record.timestamp_ms / 1000, tz=UTC)
    if moment - appended > policy.max_ahead or appended - moment > policy.max_behind:
        raise RecordRejectedError(
            Reason.TIME_SKEW,
            f"ce_time {attributes.time} is too far from the broker's append time "
            f"{appended.isoformat(timespec='seconds')}",
        )
    if attributes.keyid.split(":", 1)[0] != attributes.agency:
        raise RecordRejectedError(
            Reason.UNKNOWN_KEY,
            f"key {attributes.keyid} does not belong to {attributes.source}",
        )
    # 4. key, as the agreement in force at ce_time judges it
    try:
        key = agreements.signing_key(attributes.keyid, moment)
    except VerificationError as error:
        raise RecordRejectedError(_classify(error), str(error)) from None
    # 5. signature over the exact bytes received
    base = signature_base(
        topic=record.topic, key=record.key, attributes=attributes, value=record.value
    )
    try:
        key.verify(signature, base)
    except VerificationError:
        raise RecordRejectedError(
            Reason.BAD_SIGNATURE,
            f"signature does not verify with key {attributes.keyid}: the value or a signed "
            "header was altered, or another key signed it",
        ) from None
    return VerifiedRecord(
        record=record,
        attributes=attributes,
        signature=signature,
        base=base,
        hash=record_hash(base, signature),
        time=moment,
        seq=seq,
    )
