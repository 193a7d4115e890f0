"""Inbound: one verified event into the local system, once (the runner's handler)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from adapters.base import (
    BadLocalDataError,
    LocalSystem,
    LocalUnavailableError,
)
from adapters.mapping import Mapping
from adapters.outbox import AdapterState
from bus.errors import EventRejectedError, RedeliverError
from bus.logs import bound_record, get_logger
from bus.node.results import Delivery
from contracts.base import EventModel
from contracts.receipts import RejectReason

__all__ = ["InboundWriter", "StoppingError"]

log = get_logger("silian.adapter")


class StoppingError(RedeliverError):
    """Shutdown while the local system was away: the event is not committed, so it is read
    again after the restart (a :class:`~bus.node.consume.RedeliverError`, which the consumer
    neither retries nor quarantines)."""


class InboundWriter:
    def __init__(
        self,
        *,
        state: AdapterState,
        mapping: Mapping,
        local: LocalSystem,
        on_unavailable: Callable[[str], None],
        retry_max_seconds: float,
    ) -> None:
        self._state = state
        self._mapping = mapping
        self._local = local
        self._on_unavailable = on_unavailable
        self._retry_max = retry_max_seconds
        self.stop = asyncio.Event()

    async def write(self, delivery: Delivery[EventModel]) -> str:
        """Map and write ``delivery``; a refusal becomes ``receipt.rejected``, kept here."""
        source, event_id, ce_type = delivery.source, delivery.event_id, delivery.ce_type
        with bound_record(event_id=event_id, ce_type=ce_type, source=source):
            seen = await self._state.inbox_outcome(source, event_id)
            if seen is not None and seen[0] == "applied":
                return "已写入本地系统 already applied"
            try:
                inbound = self._mapping.to_local(
                    delivery.event, event_id=event_id, source=source, ce_type=ce_type,
                    time=delivery.time,
                )  # fmt: skip
            except BadLocalDataError as error:
                await self._refused(delivery, str(error))
                raise EventRejectedError(str(error), reason=RejectReason.MALFORMED) from None
            backoff = 0.5
            while True:
                try:
                    await self._local.write_inbound(inbound)
                    break
                except EventRejectedError as refusal:  # the local system's own words and reason
                    await self._refused(delivery, refusal.detail)
                    raise
                except LocalUnavailableError as error:
                    self._on_unavailable(str(error))
                    if self.stop.is_set():
                        raise StoppingError from None
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._retry_max)
            await self._state.note_inbox(
                source=source, event_id=event_id, ce_type=ce_type, outcome="applied", detail=None
            )
            log.info("inbound.applied", kind=inbound.kind)
            return f"已写入本地系统 applied ({inbound.kind})"

    async def _refused(self, delivery: Delivery[EventModel], reason: str) -> None:
        log.warning("inbound.rejected", reason=reason)
        await self._state.note_inbox(
            source=delivery.source,
            event_id=delivery.event_id,
            ce_type=delivery.ce_type,
            outcome="rejected",
            detail=reason,
        )
