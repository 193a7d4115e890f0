"""Reading a history from a transport (Kafka or embedded) for replay or export.

The auditor reads with a throw-away consumer group from the beginning of each topic and
never commits; it stops when no record has arrived for ``idle`` seconds (caught up).
A time range keeps records whose broker timestamp lies in ``[since, until)``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime

from bus.transport.base import Record, Transport

__all__ = ["RecordRange", "read_records"]


@dataclass(frozen=True, kw_only=True)
class RecordRange:
    """Which records of the chosen topics to audit; the default is all of them."""

    since: datetime | None = None
    until: datetime | None = None
    from_offset: int = 0
    to_offset: int | None = None  # exclusive

    @property
    def from_start(self) -> bool:
        return self.since is None and self.from_offset == 0

    @property
    def complete(self) -> bool:
        return self.until is None and self.to_offset is None

    def keeps(self, record: Record) -> bool:
        if record.offset < self.from_offset:
            return False
        if self.to_offset is not None and record.offset >= self.to_offset:
            return False
        moment_ms = record.timestamp_ms
        if self.since is not None and moment_ms < self.since.timestamp() * 1000:
            return False
        return not (self.until is not None and moment_ms >= self.until.timestamp() * 1000)


async def read_records(
    transport: Transport,
    topics: Iterable[str],
    *,
    selection: RecordRange | None = None,
    idle: float = 3.0,
    batch: int = 2000,
) -> AsyncIterator[list[Record]]:
    """Batches of records in stored order per partition, until caught up."""
    selection = selection or RecordRange()
    consumer = transport.consumer(
        group_id=f"silian-audit-{uuid.uuid4().hex[:12]}", topics=list(topics), from_beginning=True
    )
    async with consumer:
        while True:
            records = await consumer.fetch(max_records=batch, timeout=idle)
            if not records:
                return
            kept = [r for r in records if selection.keeps(r)]
            if kept:
                yield kept
