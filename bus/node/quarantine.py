"""Quarantine: a refused record is kept, not dropped.

It goes to the consuming agency's quarantine topic ``silian.<fed>.quarantine.<agency>``
with its original key, value and headers byte for byte, plus headers saying why, where it
came from, and — when its signature verified — who signed it. Nothing in a quarantined
record is trusted or acted on.

A record the bus cannot copy — larger than a request may be, or with a header name that
is not UTF-8, which no Kafka client can write again — is kept **by reference** instead:
the quarantine record's value is a small JSON document naming its coordinates, sizes and
SHA-256 digests (``silian-quarantine-reference-v1``). The original stays where it was:
silian's topics keep everything.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass

from bus.envelope.ids import format_time, now
from bus.reasons import Reason
from bus.transport.base import (
    Coordinates,
    OutgoingRecord,
    Record,
    TimestampType,
    Transport,
    estimated_size,
    read_to_end,
)
from contracts.topics import quarantine_topic

__all__ = [
    "QUARANTINE_COPY",
    "QUARANTINE_DETAIL",
    "QUARANTINE_ORIGIN",
    "QUARANTINE_REASON",
    "QUARANTINE_SIGNER",
    "REFERENCE_FORMAT",
    "QuarantinedRecord",
    "original_record",
    "quarantine",
    "quarantine_record",
    "read_quarantine",
    "read_quarantine_headers",
]

QUARANTINE_REASON = "silian_q_reason"
QUARANTINE_DETAIL = "silian_q_detail"
QUARANTINE_ORIGIN = "silian_q_origin"
QUARANTINE_TIME = "silian_q_time"
QUARANTINE_SIGNER = "silian_q_signer"  # the agency whose signature verified, if one did
QUARANTINE_COPY = "silian_q_copy"  # "copy": the original bytes; "reference": a description
QUARANTINE_STAMP = "silian_q_stamp"  # the original's "<timestamp type>:<timestamp ms>"
REFERENCE_FORMAT = "silian-quarantine-reference-v1"

# Room left in a request for the quarantine headers (reason, detail, origin, ...).
_HEADROOM = 8 * 1024
_MAX_DETAIL = 1000  # characters of the detail kept in the header


@dataclass(frozen=True, kw_only=True, slots=True)
class QuarantinedRecord:
    reason: Reason
    detail: str
    origin: str
    signer: str | None = None
    copy: bool = True


def _not_copyable(record: Record, limit: int) -> str | None:
    """Why no copy of ``record`` can be written, if none can."""
    for name, _ in record.headers:
        if not name.isascii():
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                return "a header name is not UTF-8, so no Kafka client can write the record again"
    if estimated_size(record) + _HEADROOM > limit:
        return "too large to copy"
    return None


def _reference(record: Record, why: str) -> bytes:
    def digest(data: bytes | None) -> str | None:
        return None if data is None else hashlib.sha256(data).hexdigest()

    document = {
        "format": REFERENCE_FORMAT,
        "why": why,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp_ms": record.timestamp_ms,
        "key_bytes": None if record.key is None else len(record.key),
        "key_sha256": digest(record.key),
        "value_bytes": None if record.value is None else len(record.value),
        "value_sha256": digest(record.value),
        "headers": len(record.headers),
    }
    return json.dumps(document, separators=(",", ":")).encode("ascii")


def quarantine_record(
    *,
    federation: str,
    agency: str,
    record: Record,
    reason: Reason,
    detail: str,
    signer: str | None = None,
    max_request_size: int,
) -> OutgoingRecord:
    """The record that keeps ``record`` in ``agency``'s quarantine, with why."""
    origin = f"{record.topic}/{record.partition}/{record.offset}"
    why = _not_copyable(record, max_request_size)
    copy = why is None
    headers = (
        *(record.headers if copy else ()),
        (QUARANTINE_REASON, reason.value.encode("ascii")),
        (QUARANTINE_DETAIL, detail[:_MAX_DETAIL].encode("utf-8", "backslashreplace")),
        (QUARANTINE_ORIGIN, origin.encode("utf-8", "backslashreplace")),
        (QUARANTINE_TIME, format_time(now()).encode("ascii")),
        (QUARANTINE_COPY, b"copy" if copy else b"reference"),
        (QUARANTINE_STAMP, f"{int(record.timestamp_type)}:{record.timestamp_ms}".encode("ascii")),
        *(() if signer is None else ((QUARANTINE_SIGNER, signer.encode("ascii")),)),
    )
    if copy:
        return OutgoingRecord(
            topic=quarantine_topic(federation, agency),
            key=record.key,
            value=record.value,
            headers=headers,
        )
    key = record.key if record.key is not None and len(record.key) <= 1024 else None
    why = (
        "too large to copy"
        if estimated_size(record) + _HEADROOM > max_request_size
        else ("a header name is not UTF-8, so no Kafka client can write the record again")
    )
    return OutgoingRecord(
        topic=quarantine_topic(federation, agency),
        key=key,
        value=_reference(record, why),
        headers=headers,
    )


async def quarantine(
    transport: Transport,
    *,
    federation: str,
    agency: str,
    record: Record,
    reason: Reason,
    detail: str,
    signer: str | None = None,
) -> Awaitable[Coordinates]:
    """Hand ``record`` to the agency's quarantine topic; returns the acknowledgement to
    await (a consumer awaits a batch's acknowledgements together, before it commits)."""
    return await transport.enqueue(
        quarantine_record(
            federation=federation,
            agency=agency,
            record=record,
            reason=reason,
            detail=detail,
            signer=signer,
            max_request_size=transport.max_request_size,
        )
    )


def read_quarantine_headers(record: Record) -> QuarantinedRecord | None:
    """The reason, detail, origin and signer a quarantine record carries; None if it
    carries none (the quarantine topic is writable: nothing on it is taken on trust)."""
    found: dict[str, str] = {}
    for name, value in record.headers:
        if name.startswith("silian_q_") and value is not None:
            found[name] = value.decode("utf-8", "replace")
    try:
        reason = Reason(found[QUARANTINE_REASON])
        return QuarantinedRecord(
            reason=reason,
            detail=found.get(QUARANTINE_DETAIL, ""),
            origin=found.get(QUARANTINE_ORIGIN, ""),
            signer=found.get(QUARANTINE_SIGNER),
            copy=found.get(QUARANTINE_COPY, "copy") == "copy",
        )
    except (KeyError, ValueError):
        return None


def original_record(copy: Record) -> Record | None:
    """The refused record a quarantine *copy* holds — its bytes, headers, coordinates and
    broker time as they were — to be judged again; None for a reference or a record the
    bus did not write. Nothing is trusted for being here: it is judged like any record, and
    the signature binds the topic its origin names."""
    found = read_quarantine_headers(copy)
    if found is None or not found.copy:
        return None
    headers = list(copy.headers)
    while headers and headers[-1][0].startswith("silian_q_"):
        headers.pop()  # the quarantine's own headers come last
    stamp = dict(copy.headers).get(QUARANTINE_STAMP)
    try:
        topic, partition, offset = found.origin.rsplit("/", 2)
        kind, millis = (stamp or b"").decode("ascii").split(":")
        return Record(
            topic=topic,
            partition=int(partition),
            offset=int(offset),
            key=copy.key,
            value=copy.value,
            headers=tuple(headers),
            timestamp_ms=int(millis),
            timestamp_type=TimestampType(int(kind)),
        )
    except (ValueError, UnicodeDecodeError):
        return None  # made before copies kept the broker's time, or not by the bus


async def read_quarantine(transport: Transport, federation: str, agency: str) -> list[Record]:
    """Every record of ``agency``'s quarantine topic as it stands now, in order."""
    group = f"{federation}.{agency}.quarantine-reader-{uuid.uuid4().hex[:8]}"
    return await read_to_end(transport, quarantine_topic(federation, agency), group_id=group)
