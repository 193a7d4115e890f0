"""One federation, transport, set of buses and subscription, built once per fuzz test.

The fuzz tests are synchronous: hypothesis runs each example as a plain call, and the
world's coroutines run on one :class:`asyncio.Runner` that lives as long as the test, so
the subscription, its consumer group and its store are the same from the first example to
the last — as they are in ``silian serve``, where one record must not stop the next.

:meth:`RecordWorld.judge` sends one record and returns what the consuming agency's real
pipeline made of it: the :class:`~bus.node.consume.Result` at the record's coordinates, how
often its handler ran for it, and its quarantine record, if any.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bus.errors import TransportError
from bus.node import Bus, BusConfig
from bus.node.consume import Subscription
from bus.node.quarantine import QUARANTINE_ORIGIN, QuarantinedRecord, read_quarantine_headers
from bus.node.results import Delivery, Outcome, Result
from bus.node.topics import TopicPlan, plan_topics
from bus.sandbox.federation import Federation, create_federation
from bus.transport.base import (
    Consumer,
    Coordinates,
    OutgoingRecord,
    Record,
    TopicSpec,
    Transport,
)
from bus.transport.embedded import EmbeddedTransport
from bus.transport.kafka import KafkaConfig, KafkaTransport
from contracts import examples
from contracts.base import EventModel
from contracts.receipts import ReceiptHandled, ReceiptReceived, ReceiptRejected
from contracts.registry import REGISTRY
from contracts.topics import case_topic, quarantine_topic
from tests.fuzz.rawkafka import RawProducer

__all__ = [
    "CASE_ID",
    "CONSUMER",
    "CREATE_TIME_CASE",
    "Judged",
    "RecordWorld",
    "Run",
    "embedded_world",
    "kafka_world",
    "rss_bytes",
]

T = TypeVar("T")

CONSUMER = examples.PUCHENG  # the agency whose pipeline is fuzzed
CASE_ID = next(e.entity_id() for _, e in examples.example_story() if e.event_type == "case.opened")
# A case topic whose broker keeps the producer's time (a topic switched to CreateTime).
CREATE_TIME_CASE = "FUZZ-CREATE-TIME"
_RECEIPTS = (ReceiptReceived, ReceiptHandled, ReceiptRejected)
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """This process's resident set size, as the kernel counts it."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE


@dataclass(frozen=True, kw_only=True)
class Judged:
    """What the pipeline made of one record."""

    sent: OutgoingRecord | None  # None: a real publisher's
    coordinates: Coordinates
    result: Result
    handled: int  # handler calls for the record
    quarantined: Record | None  # its record on the consumer's quarantine topic
    kept: QuarantinedRecord | None  # that record's reason, detail, origin, signer


@dataclass(kw_only=True)
class RecordWorld:
    """A federation whose three agencies played the example story; ``CONSUMER`` reads."""

    fed: Federation
    transport: Transport  # the buses' own
    writer: Transport  # where fuzzed records are sent from
    buses: dict[str, Bus]
    subscription: Subscription
    quarantine: Consumer  # reads the consumer's quarantine topic
    topics: list[str]  # what the consumer reads
    real: list[Record]  # every record of the story, as stored
    send_raw: Callable[[OutgoingRecord], Awaitable[Coordinates]] | None = None
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    handled: dict[Coordinates, int] = field(default_factory=dict)
    others: list[Result] = field(default_factory=list)  # results of records not sent here
    _kept: dict[str, Record] = field(default_factory=dict)  # quarantine records by origin

    async def handle(self, delivery: Delivery[EventModel]) -> str:
        """The handler registered for every event type: counts its calls per record."""
        self.handled[delivery.coordinates] = self.handled.get(delivery.coordinates, 0) + 1
        return "fuzz handled"

    async def send(self, record: OutgoingRecord) -> Coordinates:
        names_are_utf8 = all(_utf8(name) for name, _ in record.headers)
        if self.send_raw is not None and not names_are_utf8:
            return await self.send_raw(record)  # what no Kafka client of ours will write
        return await self.writer.send(record)

    async def judge(self, record: OutgoingRecord) -> Judged:
        return await self._judge_at(await self.send(record), record)

    async def judge_published(self, coordinates: Coordinates) -> Judged:
        """What the pipeline made of a record a real publisher sent to ``coordinates``."""
        return await self._judge_at(coordinates, None)

    async def _judge_at(self, coordinates: Coordinates, record: OutgoingRecord | None) -> Judged:
        result: Result | None = None
        for _ in range(60):
            for got in await self.subscription.poll(timeout=0.5):
                if got.coordinates == coordinates:
                    result = got
                else:
                    self.others.append(got)
            if result is not None:
                break
        if result is None:
            raise AssertionError(f"the consumer gave no result for the record at {coordinates}")
        quarantined = None
        if result.outcome is Outcome.QUARANTINED:
            quarantined = await self._quarantine_record(coordinates)
        return Judged(
            sent=record,
            coordinates=coordinates,
            result=result,
            handled=self.handled.get(coordinates, 0),
            quarantined=quarantined,
            kept=None if quarantined is None else read_quarantine_headers(quarantined),
        )

    async def _quarantine_record(self, where: Coordinates) -> Record | None:
        origin = f"{where.topic}/{where.partition}/{where.offset}"
        for _ in range(20):
            if origin in self._kept:
                return self._kept.pop(origin)
            for record in await self.quarantine.fetch(timeout=0.5):
                named = dict(record.headers).get(QUARANTINE_ORIGIN)
                if named is not None:
                    self._kept[named.decode("utf-8", "replace")] = record
        return self._kept.pop(origin, None)

    async def close(self) -> None:
        with contextlib.suppress(TransportError):
            await self.quarantine.stop()
        for bus in self.buses.values():
            await bus.stop()
        if self.writer is not self.transport:
            await self.writer.stop()
        await self.transport.stop()
        for stop in self.on_close:
            await stop()


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def buses_for(fed: Federation, transport: Transport, root: Path) -> dict[str, Bus]:
    return {
        code: Bus(
            BusConfig(agency=code, federation=fed.federation_id, state_dir=root / code),
            transport=transport,
            agreements=fed.agreements,
            keystore=fed.keystore,
        )
        for code in fed.members
    }


async def _drain(subscriptions: list[Subscription], wait: float) -> list[Result]:
    """Poll every agency until no one has anything left (receipts of receipts settle).

    A poll returns after its receipts were acknowledged, so on the embedded transport one
    quiet round (``wait`` 0) means done; a broker's consumers may see a write a moment later.
    """
    seen: list[Result] = []
    quiet = 0
    while quiet < (1 if wait == 0 else 2):
        got = 0
        for subscription in subscriptions:
            results = await subscription.poll(timeout=wait)
            got += len(results)
            seen += results
        quiet = quiet + 1 if got == 0 else 0
    return seen


async def _read_all(transport: Transport, topics: list[str]) -> list[Record]:
    consumer = transport.consumer(group_id=f"fuzz-read-{uuid.uuid4().hex[:8]}", topics=topics)
    records: list[Record] = []
    async with consumer:
        while batch := await consumer.fetch(timeout=1.0):
            records += batch
    return records


async def build_world(
    fed: Federation,
    transport: Transport,
    writer: Transport,
    root: Path,
    *,
    story: list[tuple[str, EventModel]],
    plan: TopicPlan,
    drain_wait: float,
    send_raw: Callable[[OutgoingRecord], Awaitable[Coordinates]] | None = None,
) -> RecordWorld:
    """Every agency publishes its part of ``story`` and reads the others'; then
    ``CONSUMER``'s subscription is the one the fuzz tests feed."""
    await transport.ensure_topics(
        [
            *plan_topics(fed.federation_id, fed.agreements.latest, plan, cases=(CASE_ID,)),
            TopicSpec(
                name=case_topic(fed.federation_id, CREATE_TIME_CASE),
                partitions=1,
                replication=plan.replication,
                configs={"message.timestamp.type": "CreateTime"},
            ),
        ]
    )
    buses = buses_for(fed, transport, root)
    subscriptions: dict[str, Subscription] = {}
    for code, bus in buses.items():
        await bus.start()
        # A group of its own: on a shared broker, another run's "<agency>.main" would join
        # it, rebalance it and fail its commits.
        group = f"{code}.{fed.federation_id}.{uuid.uuid4().hex[:8]}"
        subscriptions[code] = bus.subscribe(group=group, cases=[CASE_ID, CREATE_TIME_CASE])
    consumer = subscriptions[CONSUMER]
    quarantine = transport.consumer(
        group_id=f"fuzz-quarantine-{uuid.uuid4().hex[:8]}",
        topics=[quarantine_topic(fed.federation_id, CONSUMER)],
    )
    world = RecordWorld(
        fed=fed,
        transport=transport,
        writer=writer,
        buses=buses,
        subscription=consumer,
        quarantine=quarantine,
        topics=[],
        real=[],
        send_raw=send_raw,
    )
    for sub in subscriptions.values():
        for spec in REGISTRY.specs():
            sub.on(spec.model)(world.handle)
        await sub.start()
    await quarantine.start()
    setup: list[Result] = []
    for publisher, event in story:
        if isinstance(event, _RECEIPTS):
            continue  # the bus makes real receipts; the story's are for the contracts
        await buses[publisher].publish(event)
        setup += await _drain(list(subscriptions.values()), drain_wait)
    refused = [r for r in setup if r.outcome is Outcome.QUARANTINED]
    if refused:  # every real record must have been accepted, or "a copy is refused" proves nothing
        raise AssertionError(f"the story itself was refused: {refused[:3]}")
    world.topics = sorted(
        {*buses[CONSUMER].readable_topics(), case_topic(fed.federation_id, CASE_ID)}
    )
    world.topics.append(case_topic(fed.federation_id, CREATE_TIME_CASE))
    world.real = [r for r in await _read_all(transport, world.topics) if r.headers]
    world.handled.clear()
    return world


class Run(Protocol):
    """Runs one coroutine to its end on the test's event loop."""

    def __call__(self, coro: Coroutine[Any, Any, T], /) -> T: ...


@contextlib.contextmanager
def running(
    build: Callable[[], Coroutine[Any, Any, RecordWorld]],
) -> Iterator[tuple[RecordWorld, Run]]:
    """Build a world on a runner that outlives the examples; ``run(coro)`` drives it."""
    with asyncio.Runner() as runner:
        world = runner.run(build())
        try:
            yield world, runner.run
        finally:
            runner.run(world.close())


async def embedded_world(root: Path) -> RecordWorld:
    fed = create_federation(root)
    transport = EmbeddedTransport(root / "bus.sqlite")
    # The fuzz's own producer may write records larger than a bus's requests may be (up to
    # 4 MiB): the consumer must keep those by reference.
    writer = EmbeddedTransport(root / "bus.sqlite", max_request_size=4 * 1024 * 1024)
    await transport.start()
    await writer.start()
    return await build_world(
        fed,
        transport,
        writer,
        root,
        story=examples.example_story(),
        # Two partitions a family topic: chains per partition are still fuzzed (a record
        # naming the other's chain), and each fetch reads a few partitions, not dozens.
        plan=TopicPlan(family_partitions=2),
        drain_wait=0.0,
    )


# On Kafka a shorter story: fewer consumer-group rounds before the examples start.
_KAFKA_STORY = frozenset(
    {
        "alert.issued",
        "alert.updated",
        "alert.hit",
        "alert.extended",
        "dispute.reported",
        "patrol.planned",
        "liaison.meeting",
    }
)


async def kafka_world(bootstrap: str, root: Path) -> RecordWorld:
    """The same world on a real broker, on topics of its own (a fresh federation id)."""
    fed = create_federation(root, federation_id=f"fuzz-{uuid.uuid4().hex[:8]}")
    transport = KafkaTransport(KafkaConfig(bootstrap=bootstrap, client_id="silian-fuzz"))
    raw = RawProducer(bootstrap)
    await transport.start()
    await raw.start()
    story = [(p, e) for p, e in examples.example_story() if e.event_type in _KAFKA_STORY]
    world = await build_world(
        fed,
        transport,
        transport,
        root,
        story=story,
        plan=TopicPlan(family_partitions=2),
        drain_wait=0.3,
        send_raw=raw.send,
    )
    world.on_close.append(raw.stop)
    return world
