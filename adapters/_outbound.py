"""Outbound: local records into the durable outbox, and the outbox onto the bus in order.

:meth:`Outbound.take` maps one local record to a contract event and stores it *before*
the local system is told it was taken; a record that cannot become an event — bad data
the mapping names, or anything the mapping did not foresee — is set aside with the reason
and the records behind it keep flowing. A record handed over again (the adapter stopped
between storing it and telling the local system) is answered as the first time was:
confirmed when stored, set aside when set aside.

:meth:`Outbound.drain` publishes pending entries strictly in their order (a
TransportError stops the pass, so a later event never overtakes an earlier one of the
same entity); what the bus refuses for good is marked failed with the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from adapters._runtime import unforeseen
from adapters.base import BadLocalDataError, LocalRecord, LocalSystem
from adapters.mapping import Mapping
from adapters.outbox import AdapterState, Held, OutboxEntry
from bus.envelope.ids import now, parse_time
from bus.errors import ContractError, LifecycleError, PermissionDeniedError, TransportError
from bus.logs import bound_record, get_logger
from bus.node.bus import Bus
from bus.node.publish import Published
from contracts.registry import encode, spec_for_model

__all__ = ["Outbound"]

log = get_logger("silian.adapter")

# An event whose predecessor this agency has not seen yet (a hit on an alert still on its
# way) waits this long in the outbox before it is marked failed.
_HOLD_LIMIT = timedelta(hours=1)


class Outbound:
    """The runner's outbound half; ``on_up``/``on_down`` tell the runner what the bus did."""

    def __init__(
        self,
        *,
        state: AdapterState,
        mapping: Mapping,
        local: LocalSystem,
        bus: Bus,
        ack_limit: float,
        wake: asyncio.Event,
        on_up: Callable[[], None],
        on_down: Callable[[str], None],
    ) -> None:
        self._state = state
        self._mapping = mapping
        self._local = local
        self._bus = bus
        self._ack_limit = ack_limit
        self._on_up = on_up
        self._on_down = on_down
        self._wake = wake  # set when an event was stored: drain it soon
        self.stop = asyncio.Event()

    # -- local → outbox ----------------------------------------------------------------
    async def take(self, record: LocalRecord) -> None:
        """Map ``record``, store it durably, then let the local system move past it.

        A record that cannot become an event is set aside with the reason, whatever went
        wrong, so that the records behind it keep flowing.
        """
        with bound_record(local_id=record.local_id):
            known = await self._state.knows(record.local_id)
            if known is not None:  # held before a restart, the local system not told yet
                if known.held is Held.SET_ASIDE:
                    log.debug("local.set_aside_again", where=record.where)
                    await self._local.set_aside(record, known.reason or "set aside")
                else:
                    await self._local.confirm_outbound(record)
                return
            if record.unreadable is not None:
                await self._set_aside(record, f"{record.where}: {record.unreadable}")
                return
            try:
                event = self._mapping.to_event(record)
                spec = spec_for_model(event)
                entity, data = event.entity_id(), encode(event)
            except BadLocalDataError as error:
                await self._set_aside(record, str(error))
                return
            except Exception as error:  # one record must not stop the rest
                log.exception("local.unmappable", where=record.where)
                await self._set_aside(
                    record,
                    f"{record.where}: cannot become an event: " + unforeseen("the mapping", error),
                )
                return
            await self._state.add(
                local_id=record.local_id,
                kind=record.kind,
                origin=record.where,
                ce_type=spec.ce_type,
                entity=entity,
                data=data,
            )
            log.info("outbox.stored", ce_type=spec.ce_type, entity=entity)
            await self._local.confirm_outbound(record)
            self._wake.set()

    async def _set_aside(self, record: LocalRecord, reason: str) -> None:
        log.warning("local.set_aside", where=record.where, reason=reason)
        await self._state.set_aside(local_id=record.local_id, origin=record.where, reason=reason)
        await self._local.set_aside(record, reason)

    # -- outbox → bus ------------------------------------------------------------------
    async def drain(self) -> int:
        """Publish pending outbox entries in order; TransportError stops the pass."""
        published = 0
        held: set[str] = set()  # entities waiting for a predecessor: keep their order
        for entry in await self._state.pending(limit=200):
            if entry.entity in held or self.stop.is_set():
                continue
            if await self._publish(entry):
                published += 1
            else:
                held.add(entry.entity)
        return published

    async def _publish(self, entry: OutboxEntry) -> bool:
        """Publish one outbox entry from its stored bytes: what the mapping made and the
        outbox kept is what is signed and sent."""
        with bound_record(local_id=entry.local_id, ce_type=entry.ce_type):
            try:
                publishing = self._bus.publish_data(entry.ce_type, entry.data)
                published = await self._acknowledged(publishing)
            except TransportError as error:
                await self._state.attempt_failed(entry.position, str(error))
                raise
            except LifecycleError as error:
                waiting = error.rule.awaits_predecessor  # its predecessor may still come
                stored = parse_time(entry.stored_at)
                if waiting and now() - stored < _HOLD_LIMIT:
                    await self._state.attempt_failed(entry.position, str(error))
                    return False
                return await self._refused(entry, error)
            except (ContractError, PermissionDeniedError) as error:
                return await self._refused(entry, error)
            where = f"{published.topic}/{published.coordinates.partition}/"
            where += str(published.coordinates.offset)
            await self._state.published(entry.position, event_id=published.event_id, where=where)
            with bound_record(event_id=published.event_id, topic=published.topic):
                log.info("outbox.published", entity=entry.entity, origin=entry.origin)
            return True

    async def _acknowledged(self, publishing: Coroutine[Any, Any, Published]) -> Published:
        """Await one publish. It is never cancelled: a record handed to the producer may
        still reach Kafka, and sending it again would deliver the event twice. While Kafka
        does not acknowledge, the health report says so."""
        task = asyncio.ensure_future(publishing)
        limit = self._ack_limit
        done, _ = await asyncio.wait({task}, timeout=limit)
        if not done:
            self._on_down(f"no acknowledgement from Kafka for {limit:.0f}s; the event waits")
            await asyncio.wait({task})
        published = task.result()
        self._on_up()
        return published

    async def _refused(self, entry: OutboxEntry, error: Exception) -> bool:
        log.error("outbox.refused", entity=entry.entity, origin=entry.origin, reason=str(error))
        await self._state.failed(entry.position, f"{entry.origin}: {error}")
        return True
