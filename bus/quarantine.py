"""Quarantine: a refused record is kept, not dropped.

It goes to the consuming agency's quarantine topic ``silian.<fed>.quarantine.<agency>``
with its original key, value and headers byte for byte, plus headers saying why and
where it came from. Nothing in a quarantined record is trusted or acted on.
"""

from __future__ import annotations

from dataclasses import dataclass

from bus.envelope.ids import format_time, now
from bus.rejections import Reason
from bus.transport.base import Coordinates, OutgoingRecord, Record, Transport
from contracts.topics import quarantine_topic

__all__ = [
    "QUARANTINE_DETAIL",
    "QUARANTINE_ORIGIN",
    "QUARANTINE_REASON",
    "QuarantinedRecord",
    "quarantine",
    "read_quarantine_headers",
]

QUARANTINE_REASON = "silian_q_reason"
QUARANTINE_DETAIL = "silian_q_detail"
QUARANTINE_ORIGIN = "silian_q_origin"
QUARANTINE_TIME = "silian_q_time"


@dataclass(frozen=True, kw_only=True, slots=True)
class QuarantinedRecord:
    reason: Reason
    detail: str
    origin: str


async def quarantine(
    transport: Transport,
    *,
    federation: str,
    agency: str,
    record: Record,
    reason: Reason,
    detail: str,
) -> Coordinates:
    """Write ``record`` to the agency's quarantine topic; returns where it was stored."""
    origin = f"{record.topic}/{record.partition}/{record.offset}"
    headers = (
        *record.headers,
        (QUARANTINE_REASON, reason.value.encode("ascii")),
        (QUARANTINE_DETAIL, detail.encode("utf-8")),
        (QUARANTINE_ORIGIN, origin.encode("utf-8")),
        (QUARANTINE_TIME, format_time(now()).encode("ascii")),
    )
    return await transport.send(
        OutgoingRecord(
            topic=quarantine_topic(federation, agency),
            key=record.key,
            value=record.value,
            headers=headers,
        )
    )


def read_quarantine_headers(record: Record) -> QuarantinedRecord:
    """The reason, detail and origin a quarantine record carries."""
    found = dict(record.headers)
    return QuarantinedRecord(
        reason=Reason(found[QUARANTINE_REASON].decode("ascii")),
        detail=found[QUARANTINE_DETAIL].decode("utf-8"),
        origin=found[QUARANTINE_ORIGIN].decode("utf-8"),
    )
