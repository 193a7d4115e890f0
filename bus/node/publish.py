"""Publishing: validate → authorise → (seal) → lifecycle → sign → chain → send.

``await publisher.publish(event)`` returns the record's coordinates once the broker
acknowledged it. Sends are pipelined: under one short lock a publish checks the lifecycle,
takes the next sequence number of its chain, signs, stores the new chain head (write-ahead)
and hands the record to the transport; the broker's acknowledgement is awaited outside the
lock, so concurrent publishes (``asyncio.gather`` or :meth:`Publisher.publish_many`) overlap
their round trips. The idempotent producer keeps per-partition order, so sequence order is
offset order.

If a send fails (or is cancelled) after its sequence number was taken, the publisher
*fences*: it starts new chains (a fresh chain id) and rebuilds its lifecycle state from
the ledger of acknowledged events, so no consumer sees a gap or a fork from a lost send.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from bus.envelope.handling import format_handling
from bus.envelope.headers import (
    CONTENT_TYPE_JSON,
    CONTENT_TYPE_SEALED,
    SPEC_VERSION,
    Attributes,
)
from bus.envelope.ids import format_time, new_event_id, now
from bus.envelope.seal import seal
from bus.envelope.signature import sign_record
from bus.errors import NotConnectedError, TransportError
from bus.logs import bound_record, get_logger
from bus.node.context import AgencyContext
from bus.node.topics import case_topic_spec
from bus.state.store import ChainHead, LedgerEntry
from bus.transport.base import Coordinates, OutgoingRecord
from bus.transport.partitioner import partition_for_key
from contracts.base import EventModel, Family
from contracts.registry import decode, encode, spec_for_model
from contracts.vocab import Priority

__all__ = ["Published", "Publisher"]

log = get_logger("silian.publish")


@dataclass(frozen=True, kw_only=True, slots=True)
class Published:
    """What the broker acknowledged for one published event."""

    event_id: str
    ce_type: str
    topic: str
    coordinates: Coordinates
    chain_id: str
    seq: int
    hash: str
    recipients: tuple[str, ...]
    sealed: bool
    time: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class _InFlight:
    event: EventModel
    attributes: Attributes
    topic: str
    data: bytes
    recipients: list[str]
    priority: Priority
    moment: datetime
    digest: str
    sealed: bool
    ack: Awaitable[Coordinates]
    started: float  # time.monotonic() as it was handed to the transport


class Publisher:
    """Signs and sends one agency's events on its chains (one chain per topic partition)."""

    def __init__(self, ctx: AgencyContext, *, name: str = "main") -> None:
        self._ctx = ctx
        self._name = name
        self._chain_base: str | None = None
        self._partitions: dict[str, int] = {}
        self._heads: dict[tuple[str, str], ChainHead] = {}
        self._lock = asyncio.Lock()
        # Told of each acknowledged record and the seconds from hand-over to the broker's
        # acknowledgement (silian serve's metrics); an observer must not raise.
        self.observers: list[Callable[[Published, float], None]] = []

    async def start(self) -> None:
        self._chain_base = await self._ctx.store.process_chain_id(self._ctx.agency, self._name)

    @property
    def chain_base(self) -> str:
        """This publisher's chain id prefix (``<agency>.<name>.<id>``); chains add ``.p<n>``."""
        if self._chain_base is None:
            raise NotConnectedError("the publisher is not started")
        return self._chain_base

    async def publish(self, event: EventModel, *, priority: Priority | None = None) -> Published:
        return await self._complete(await self._enqueue(event, encode(event), priority))

    async def publish_data(
        self, ce_type: str, data: bytes, *, priority: Priority | None = None
    ) -> Published:
        """Publish an event kept as its JSON bytes (an adapter's outbox): ``data`` is what
        is signed and sent, byte for byte; the event is decoded only to judge it
        (ContractError when the bytes are not a valid ``ce_type`` event)."""
        event = decode(ce_type, data)
        return await self._complete(await self._enqueue(event, data, priority))

    async def publish_many(self, events: Iterable[EventModel]) -> list[Published]:
        """Publish in order, pipelined: all are enqueued before the first ack is awaited."""
        flights = [await self._enqueue(event, encode(event), None) for event in events]
        return [await self._complete(flight) for flight in flights]

    async def _partitions_of(self, topic: str) -> int:
        if topic not in self._partitions:
            described = await self._ctx.transport.describe_topics([topic])
            if topic not in described:
                raise TransportError(
                    f"topic {topic} does not exist; provision it first (silian topics apply)"
                )
            self._partitions[topic] = described[topic].partitions
        return self._partitions[topic]

    async def _head(self, chain_id: str, topic: str) -> ChainHead:
        if (chain_id, topic) not in self._heads:
            self._heads[(chain_id, topic)] = await self._ctx.store.chain_head(chain_id, topic)
        return self._heads[(chain_id, topic)]

    async def _enqueue(
        self, event: EventModel, data: bytes, priority: Priority | None
    ) -> _InFlight:
        ctx = self._ctx
        if self._chain_base is None:
            await self.start()
        spec = spec_for_model(event)  # 1. a known contract (ContractError otherwise)
        moment = now()
        handling = ctx.handling_of(event)
        family = Family(event.family)
        # 2. the agreement in force lets this agency publish this family at this handling
        ctx.agreements.check_publish(ctx.agency, family, handling.code, at=moment)
        topic = spec.topic(ctx.federation, event)
        key = spec.partition_key(event).encode("utf-8")
        if spec.opens_topic:  # a joint case gets its own topic as it opens
            await ctx.transport.ensure_topics(
                [case_topic_spec(ctx.federation, event.entity_id(), ctx.plan)]
            )
        partition = partition_for_key(key, await self._partitions_of(topic))
        event_id = new_event_id()
        level = Priority(priority or getattr(event, "priority", None) or Priority.ROUTINE)
        key_id, signing_key = ctx.signing_key(moment)
        if handling.confidential:  # 3. seal for every reader the agreement allows (no lock:
            readers = ctx.readers(family, handling, moment)  # the agreement alone decides)
            value = seal(
                data,
                ctx.sealing_recipients(readers, moment),
                event_id=event_id,
                ce_type=spec.ce_type,
                topic=topic,
            )
            content_type = CONTENT_TYPE_SEALED
        else:
            value, content_type = data, CONTENT_TYPE_JSON
        async with self._lock:
            ctx.tracker.check(event, publisher=ctx.agency)  # 4. lifecycle (LifecycleError)
            recipients = ctx.recipients(event, handling, moment)
            chain_id = f"{self.chain_base}.p{partition}"
            head = await self._head(chain_id, topic)
            attributes = Attributes(
                specversion=SPEC_VERSION,
                id=event_id,
                source=f"urn:silian:agency:{ctx.agency}",
                type=spec.ce_type,
                time=format_time(moment),
                subject=event.entity_id(),
                content_type=content_type,
                dataschema=spec.dataschema,
                handling=format_handling(handling),
                priority=level.value,
                keyid=key_id,
                chainid=chain_id,
                chainseq=str(head.seq + 1),
                prevhash=head.hash,
            )
            headers, digest = sign_record(  # 5. sign the exact bytes
                topic=topic, key=key, attributes=attributes, value=value, signing_key=signing_key
            )
            new_head = ChainHead(seq=head.seq + 1, hash=digest)
            # Write-ahead: a restart continues after this record, never reusing its seq.
            await ctx.store.advance_chain(chain_id, topic, new_head)
            started = time.monotonic()
            try:
                ack = await ctx.transport.enqueue(
                    OutgoingRecord(topic=topic, key=key, value=value, headers=headers)
                )
            except BaseException:  # a failed or cancelled hand-over: the seq is lost
                await asyncio.shield(self._fence())
                raise
            self._heads[(chain_id, topic)] = new_head
            ctx.remember(event, publisher=ctx.agency)
        return _InFlight(
            event=event,
            attributes=attributes,
            topic=topic,
            data=data,
            recipients=recipients,
            priority=level,
            moment=moment,
            digest=digest,
            sealed=handling.confidential,
            ack=ack,
            started=started,
        )

    async def _complete(self, flight: _InFlight) -> Published:
        ctx, attributes = self._ctx, flight.attributes
        with bound_record(event_id=attributes.id, topic=flight.topic, agency=ctx.agency):
            try:
                coordinates = await flight.ack
                latency = time.monotonic() - flight.started  # hand-over to acknowledgement
            except BaseException:  # failed, or cancelled (shutdown) before the broker said yes
                await asyncio.shield(self._fence_locked())
                raise
            due = None
            if spec_for_model(flight.event).expects_receipts and flight.recipients:
                deadline = ctx.agreements.in_force_at(flight.moment).deadline(flight.priority)
                due = format_time(flight.moment + deadline)
            await ctx.store.record_published(
                LedgerEntry.of(
                    attributes, topic=flight.topic, data=flight.data, record_hash=flight.digest
                ),
                priority=flight.priority.value,
                due=due,
                recipients=flight.recipients if due else (),
            )
            log.info(
                "event.published",
                ce_type=attributes.type,
                seq=int(attributes.chainseq),
                partition=coordinates.partition,
                offset=coordinates.offset,
                recipients=flight.recipients,
                sealed=flight.sealed,
            )
        published = Published(
            event_id=attributes.id,
            ce_type=attributes.type,
            topic=flight.topic,
            coordinates=coordinates,
            chain_id=attributes.chainid,
            seq=int(attributes.chainseq),
            hash=flight.digest,
            recipients=tuple(flight.recipients),
            sealed=flight.sealed,
            time=flight.moment,
        )
        for observe in self.observers:
            observe(published, latency)
        return published

    async def _fence_locked(self) -> None:
        async with self._lock:
            await self._fence()

    async def _fence(self) -> None:
        """A send failed after its seq was taken: new chains, state from acknowledged events."""
        ctx = self._ctx
        self._chain_base = await ctx.store.new_process_chain_id(ctx.agency, self._name)
        self._heads.clear()
        await ctx.rebuild_state()
        log.warning(
            "chain.fenced",
            chain=self._chain_base,
            reason="a send failed; later records go on new chains",
        )
