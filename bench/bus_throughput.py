"""Bus throughput: silian publish → verified delivery, beside its baselines, in one run.

Measured in the same process, with the same bytes, one after the other:

1. silian on Kafka — Jiangshan publishes N ~1 KB ``liaison.meeting`` events
   (``await bus.node.publish``), Pucheng's subscription verifies, authorises, decodes,
   deduplicates and hands each to a handler. Latency runs from the publish call to the
   handler (monotonic clock, one process); throughput from the first publish call to
   the last delivery.
2. raw aiokafka on Kafka — the very records silian sent (key, value, headers), to a fresh
   topic of the same layout (partitions, replication, min ISR), idempotent producer with
   ``acks="all"``, consumer group with manual commits: once awaiting each send (as
   ``bus.node.publish`` does today) and once pipelined (as Kafka is meant to be fed).
3. Ed25519 on one core — sign/s and verify/s over the signature bases of those records,
   and silian's whole verification step (``verify_record``) per second.
4. silian on the embedded (SQLite) transport, measured like 1.

Kafka is the local 3-node cluster from the Maven jars, started here and stopped after,
unless ``--bootstrap`` names one::

    .venv/bin/python bench/bus_throughput.py [--events 2000] [--json] [--bootstrap HOST:PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import importlib.metadata
import json
import math
import os
import platform
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric import ed25519

from bus.devkafka import kafka_for
from bus.logs import configure_logging
from bus.node.bus import Bus, BusConfig
from bus.node.results import Delivery, Outcome, Result
from bus.node.topics import TopicPlan, plan_topics
from bus.pipeline import verify_record
from bus.sandbox.federation import Federation, create_federation
from bus.transport import (
    Coordinates,
    EmbeddedTransport,
    KafkaConfig,
    KafkaTransport,
    OutgoingRecord,
    Record,
    TopicSpec,
    Transport,
)
from contracts.base import Family
from contracts.examples import GUANGFENG, JIANGSHAN, PUCHENG
from contracts.liaison import LiaisonMeeting
from contracts.registry import encode
from contracts.topics import family_topic
from contracts.vocab import Place

VALUE_BYTES = 1024
WARMUP_EVENTS = 50
# The local cluster's topic layout (bus.devkafka configures min ISR 2 for 3 nodes).
KAFKA_PLAN = TopicPlan(replication=3, min_insync_replicas=2)


# -- figures -----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Flow:
    """One path from a publish/send call to the consumer: throughput and latency."""

    name: str
    events: int
    seconds: float  # first send call → last delivery
    p50_ms: float
    p99_ms: float
    send_p50_ms: float  # how long the send/publish call itself took (to broker ack)
    send_p99_ms: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


@dataclass(frozen=True, kw_only=True)
class Crypto:
    base_bytes: int  # mean signature base size
    sign_per_second: float
    verify_per_second: float
    verify_record_per_second: float  # silian's step 1: headers, key lookup, base, Ed25519


@dataclass(frozen=True, kw_only=True)
class Report:
    machine: dict[str, Any]
    events: int
    value_bytes: int
    flows: dict[str, Flow] = field(default_factory=dict)
    crypto: Crypto | None = None

    def ratios(self) -> dict[str, dict[str, float]]:
        """silian / raw for every pair measured (throughput: higher is better for silian)."""
        out = {}
        pairs = [
            ("silian_kafka", "raw_kafka_sequential"),
            ("silian_kafka", "raw_kafka_pipelined"),
            ("silian_kafka_pipelined", "raw_kafka_pipelined"),
        ]
        for name, raw in pairs:
            silian = self.flows.get(name)
            if silian is not None and raw in self.flows:
                base = self.flows[raw]
                out[f"{name}/{raw}"] = {
                    "throughput": silian.per_second / base.per_second,
                    "p50": silian.p50_ms / base.p50_ms,
                    "p99": silian.p99_ms / base.p99_ms,
                }
        return out

    def as_json(self) -> dict[str, Any]:
        flows = {k: {**asdict(f), "per_second": f.per_second} for k, f in self.flows.items()}
        crypto = None if self.crypto is None else asdict(self.crypto)
        return {
            "machine": self.machine,
            "events": self.events,
            "value_bytes": self.value_bytes,
            "flows": flows,
            "ratios": self.ratios(),
            "crypto": crypto,
        }


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _flow(name: str, starts: dict[Any, float], acks: list[float], seen: dict[Any, float]) -> Flow:
    latencies = [(seen[k] - t0) * 1000 for k, t0 in starts.items()]
    return Flow(
        name=name,
        events=len(starts),
        seconds=max(seen.values()) - min(starts.values()),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        send_p50_ms=percentile(acks, 50),
        send_p99_ms=percentile(acks, 99),
    )


# -- events ------------------------------------------------------------------------------
def make_events(count: int, *, value_bytes: int = VALUE_BYTES) -> list[LiaisonMeeting]:
    """``count`` distinct valid meetings whose JSON value is ``value_bytes`` long each."""
    run = uuid.uuid4().hex[:8]

    def meeting(index: int, summary: str) -> LiaisonMeeting:
        return LiaisonMeeting(
            meeting_id=f"BENCH-{run}-{index:07d}",
            held_at=datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
            place=Place(division="330881", description="江山市廿八都镇联勤警务站"),
            agencies=(JIANGSHAN, PUCHENG, GUANGFENG),
            topics=("二季度联合巡逻安排", "电诈案件协作"),
            summary=summary,
        )

    head = "通报案件进展，商定下季度巡逻 / case progress, next quarter's patrols. "
    short = len(encode(meeting(0, head)))
    if short > value_bytes:
        raise ValueError(f"a meeting is at least {short} bytes; ask for more")
    summary = head + "x" * (value_bytes - short)  # every id has the same width
    return [meeting(i, summary) for i in range(count)]


# -- silian ------------------------------------------------------------------------------
class _Recording(KafkaTransport):
    """The Kafka transport, keeping a copy of what it sent (the raw baseline replays it)."""

    def __init__(self, config: KafkaConfig) -> None:
        super().__init__(config)
        self.sent: list[OutgoingRecord] = []

    async def send(self, record: OutgoingRecord) -> Coordinates:
        self.sent.append(record)
        return await super().send(record)

    async def enqueue(self, record: OutgoingRecord) -> Awaitable[Coordinates]:
        self.sent.append(record)
        return await super().enqueue(record)


async def measure_silian(
    name: str,
    transport: Callable[[], Transport],
    events: Sequence[LiaisonMeeting],
    *,
    fed: Federation,
    state_dir: Path,
    plan: TopicPlan,
    warmup: int = WARMUP_EVENTS,
    profile: cProfile.Profile | None = None,
    pipelined: bool = False,
) -> Flow:
    """Publish ``events`` as Jiangshan, deliver them to Pucheng, time each one.

    ``pipelined``: every publish is started at once (``asyncio.gather``), so the bus signs
    and enqueues while earlier acknowledgements are still on their way."""
    js_transport, pc_transport = transport(), transport()
    await js_transport.start()
    await pc_transport.start()
    try:
        await js_transport.ensure_topics(
            plan_topics(fed.federation_id, fed.agreements.latest, plan)
        )

        def bus(agency: str) -> Bus:
            return Bus(
                BusConfig(
                    agency=agency,
                    federation=fed.federation_id,
                    state_dir=state_dir / agency,
                    plan=plan,
                ),
                transport=js_transport if agency == JIANGSHAN else pc_transport,
                agreements=fed.agreements,
                keystore=fed.keystore,
            )

        async with bus(JIANGSHAN) as js, bus(PUCHENG) as pc:
            topic = family_topic(fed.federation_id, Family.LIAISON)
            return await _publish_and_deliver(
                name,
                js,
                pc,
                events,
                topic=topic,
                warmup=warmup,
                profile=profile,
                pipelined=pipelined,
            )
    finally:
        await pc_transport.stop()
        await js_transport.stop()


async def _publish_and_deliver(
    name: str,
    js: Bus,
    pc: Bus,
    events: Sequence[LiaisonMeeting],
    *,
    topic: str,
    warmup: int,
    profile: cProfile.Profile | None,
    pipelined: bool = False,
) -> Flow:
    sub = pc.subscribe(group=f"bench-{uuid.uuid4().hex[:8]}", topics=[topic])
    seen: dict[str, float] = {}
    outcomes: Counter[Outcome] = Counter()
    wanted = 0
    arrived = asyncio.Event()

    @sub.on(LiaisonMeeting)
    async def on_meeting(delivery: Delivery[LiaisonMeeting]) -> None:
        seen[delivery.event_id] = time.monotonic()
        if len(seen) >= wanted:
            arrived.set()

    def count(result: Result) -> None:
        outcomes[result.outcome] += 1

    async def publish_all(batch: Sequence[LiaisonMeeting]) -> tuple[dict[str, float], list[float]]:
        nonlocal wanted
        wanted += len(batch)
        arrived.clear()
        starts: dict[str, float] = {}
        acks: list[float] = []

        async def one(event: LiaisonMeeting) -> None:
            t0 = time.monotonic()
            published = await js.publish(event)
            acks.append((time.monotonic() - t0) * 1000)
            starts[published.event_id] = t0

        if pipelined:
            await asyncio.gather(*(one(event) for event in batch))
        else:
            for event in batch:
                await one(event)
        await asyncio.wait_for(arrived.wait(), timeout=60 + len(batch) * 0.05)
        return starts, acks

    stop = asyncio.Event()
    await sub.start()
    consuming = asyncio.create_task(sub.run(stop, on_result=count))
    try:
        await publish_all(events[:warmup])  # consumer group joined, connections warm
        seen.clear()
        wanted = 0
        with _profiling(profile):
            starts, acks = await publish_all(events[warmup:])
    finally:
        stop.set()
        await consuming
    if outcomes[Outcome.DELIVERED] != len(events):
        raise RuntimeError(f"{name}: expected {len(events)} deliveries, got {dict(outcomes)}")
    return _flow(name, starts, acks, seen)


@contextlib.contextmanager
def _profiling(profile: cProfile.Profile | None) -> Iterator[None]:
    if profile is None:
        yield
        return
    profile.enable()
    try:
        yield
    finally:
        profile.disable()


# -- raw aiokafka --------------------------------------------------------------------------
async def _fresh_topic(bootstrap: str, plan: TopicPlan) -> str:
    """A new topic laid out like silian's family topics (created through the transport)."""
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    admin = KafkaTransport(KafkaConfig(bootstrap=bootstrap))
    await admin.start()
    try:
        spec = TopicSpec(
            name=topic,
            partitions=plan.family_partitions,
            replication=plan.replication,
            configs=plan.configs(retention_ms=plan.retention_ms),
        )
        await admin.ensure_topics([spec])
    finally:
        await admin.stop()
    return topic


async def _consume_raw(
    consumer: AIOKafkaConsumer, seen: dict[Any, float], stop: asyncio.Event
) -> None:
    """What a bare consumer group member does: fetch, note the arrival, commit the batch."""
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=500, max_records=500)
        arrival = time.monotonic()
        for batch in batches.values():
            for message in batch:
                seen[(message.partition, message.offset)] = arrival
        if batches:
            await consumer.commit()


async def measure_raw_kafka(
    name: str,
    bootstrap: str,
    records: Sequence[OutgoingRecord],
    *,
    pipelined: bool,
    plan: TopicPlan,
    warmup: int = WARMUP_EVENTS,
) -> Flow:
    """Replay ``records`` (key, value, headers) with bare aiokafka to a fresh topic."""
    topic = await _fresh_topic(bootstrap, plan)
    config = KafkaConfig(bootstrap=bootstrap)  # the transport's own producer settings
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=config.linger_ms,
        max_request_size=config.max_request_size,
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic}-group",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    seen: dict[Any, float] = {}

    async def send_all(batch: Sequence[OutgoingRecord]) -> tuple[dict[Any, float], list[float]]:
        starts: dict[Any, float] = {}
        acks: list[float] = []

        def acked(t0: float, future: asyncio.Future[Any]) -> None:
            acks.append((time.monotonic() - t0) * 1000)
            starts[(future.result().partition, future.result().offset)] = t0

        pending = []
        for record in batch:
            t0 = time.monotonic()
            headers = list(record.headers)
            future = await producer.send(topic, record.value, key=record.key, headers=headers)
            future.add_done_callback(functools.partial(acked, t0))
            pending.append(future)
            if not pipelined:
                await future
        await asyncio.gather(*pending)
        deadline = time.monotonic() + 60 + len(batch) * 0.05
        while not starts.keys() <= seen.keys():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: {len(starts.keys() - seen.keys())} never arrived")
            await asyncio.sleep(0.001)
        return starts, acks

    await producer.start()
    await consumer.start()
    stop = asyncio.Event()
    consuming = asyncio.create_task(_consume_raw(consumer, seen, stop))
    try:
        await send_all(records[:warmup])
        seen.clear()
        starts, acks = await send_all(records[warmup:])
    finally:
        stop.set()
        await consuming
        await consumer.stop()
        await producer.stop()
    return _flow(name, starts, acks, seen)


# -- Ed25519 -------------------------------------------------------------------------------
def _rate(operation: Callable[[int], object], items: int, *, seconds: float) -> float:
    """Calls per second of ``operation(i)`` over ``range(items)``, repeated for ``seconds``."""
    done, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        for i in range(items):
            operation(i)
        done += items
    return done / elapsed


def measure_crypto(
    records: Sequence[OutgoingRecord], fed: Federation, *, seconds: float = 1.0
) -> Crypto:
    """Single-core Ed25519 over the records' own signature bases, and ``verify_record``."""
    from bus.envelope.signature import decode_headers, signature_base  # noqa: PLC0415

    stamp = int(time.time() * 1000)
    received = [
        Record(
            topic=r.topic,
            partition=0,
            offset=i,
            key=r.key,
            value=r.value,
            headers=r.headers,
            timestamp_ms=stamp,
        )
        for i, r in enumerate(records)
    ]
    bases = []
    for record in received:
        attributes, _ = decode_headers(record.headers)
        bases.append(
            signature_base(
                topic=record.topic, key=record.key, attributes=attributes, value=record.value
            )
        )
    private = ed25519.Ed25519PrivateKey.generate()
    public = private.public_key()
    signatures = [private.sign(base) for base in bases]
    n = len(bases)
    return Crypto(
        base_bytes=round(sum(map(len, bases)) / n),
        sign_per_second=_rate(lambda i: private.sign(bases[i]), n, seconds=seconds),
        verify_per_second=_rate(
            lambda i: public.verify(signatures[i], bases[i]), n, seconds=seconds
        ),
        verify_record_per_second=_rate(
            lambda i: verify_record(received[i], fed.agreements), n, seconds=seconds
        ),
    )


# -- the run -------------------------------------------------------------------------------
def machine(kafka: str) -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "os": platform.platform(),
        "python": platform.python_version(),
        "kafka": kafka,
        "aiokafka": importlib.metadata.version("aiokafka"),
        "cryptography": importlib.metadata.version("cryptography"),
    }


async def measure_embedded(
    events: int, directory: Path, *, fed: Federation, warmup: int = WARMUP_EVENTS
) -> tuple[Flow, list[OutgoingRecord]]:
    """silian on the embedded transport; also returns the records it sent (for crypto)."""
    batch = make_events(warmup + events)
    flow = await measure_silian(
        "silian_embedded",
        lambda: EmbeddedTransport(directory / "bus.sqlite"),
        batch,
        fed=fed,
        state_dir=directory / "embedded",
        plan=TopicPlan(),
        warmup=warmup,
    )
    transport = EmbeddedTransport(directory / "bus.sqlite")
    await transport.start()
    try:
        consumer = transport.consumer(
            group_id="bench-readback", topics=[family_topic(fed.federation_id, Family.LIAISON)]
        )
        await consumer.start()
        records: list[Record] = []
        while len(records) < warmup + events:
            records += await consumer.fetch(max_records=warmup + events, timeout=1)
        await consumer.stop()
    finally:
        await transport.stop()
    sent = [
        OutgoingRecord(topic=r.topic, key=r.key, value=r.value, headers=r.headers) for r in records
    ]
    return flow, sent


async def measure_local(
    events: int,
    directory: Path,
    *,
    fed: Federation,
    records: Sequence[OutgoingRecord] = (),
    warmup: int = WARMUP_EVENTS,
    crypto_seconds: float = 1.0,
) -> tuple[Flow, Crypto]:
    """The parts without Kafka: silian on the embedded transport, then Ed25519 over
    ``records`` (the Kafka run's) or, without them, over the embedded run's own records."""
    flow, sent = await measure_embedded(events, directory, fed=fed, warmup=warmup)
    return flow, measure_crypto(records or sent, fed, seconds=crypto_seconds)


async def measure_kafka(
    events: int,
    bootstrap: str,
    *,
    directory: Path,
    fed: Federation,
    profile: cProfile.Profile | None = None,
) -> tuple[dict[str, Flow], list[OutgoingRecord]]:
    """silian, then raw aiokafka replaying silian's records, on the same cluster."""
    batch = make_events(WARMUP_EVENTS + events)
    # Warm the brokers first (JIT, page cache, log segments) so that silian, measured
    # first, does not pay for a cold cluster: the same volume of same-sized records.
    warm = [OutgoingRecord(topic="", key=e.meeting_id.encode(), value=encode(e)) for e in batch]
    await measure_raw_kafka("warm-up", bootstrap, warm, pipelined=True, plan=KAFKA_PLAN)
    recording: list[_Recording] = []

    def kafka_transport() -> Transport:
        recording.append(_Recording(KafkaConfig(bootstrap=bootstrap)))
        return recording[-1]

    flows = {
        "silian_kafka": await measure_silian(
            "silian_kafka",
            kafka_transport,
            batch,
            fed=fed,
            state_dir=directory,
            plan=KAFKA_PLAN,
            profile=profile,
        )
    }
    # Jiangshan's events, in publish order (not what else the agencies' transports sent).
    liaison = family_topic(fed.federation_id, Family.LIAISON)
    sent = [r for t in recording for r in t.sent if r.topic == liaison]
    flows["silian_kafka_pipelined"] = await measure_silian(
        "silian_kafka_pipelined",
        lambda: KafkaTransport(KafkaConfig(bootstrap=bootstrap)),
        make_events(WARMUP_EVENTS + events),
        # A federation of its own: fresh topics, so its consumer sees only its own events.
        fed=create_federation(
            directory / "federation-pipelined", federation_id=f"bench-p-{uuid.uuid4().hex[:8]}"
        ),
        state_dir=directory / "pipelined",
        plan=KAFKA_PLAN,
        pipelined=True,
    )
    for pipelined in (False, True):
        name = "raw_kafka_pipelined" if pipelined else "raw_kafka_sequential"
        flows[name] = await measure_raw_kafka(
            name, bootstrap, sent, pipelined=pipelined, plan=KAFKA_PLAN
        )
    return flows, sent


_LABELS = {
    "silian_kafka": "silian publish → verified delivery, Kafka",
    "silian_kafka_pipelined": "silian, concurrent publishes (pipelined), Kafka",
    "raw_kafka_sequential": "raw aiokafka, await each send, Kafka",
    "raw_kafka_pipelined": "raw aiokafka, pipelined sends, Kafka",
    "silian_embedded": "silian publish → verified delivery, embedded",
}


def render(report: Report) -> str:
    """The figures as a table a person reads (``--json`` gives the same for programs)."""
    m = report.machine
    head = ("events/s", "p50 ms", "p99 ms", "send p50", "send p99")
    lines = [
        f"silian bus throughput: {report.events} events of {report.value_bytes}-byte values"
        " (liaison.meeting), after a warm-up",
        f"machine: {m['cores']} cores ({m['cpu']}), {m['os']}",
        f"         Python {m['python']}, Kafka {m['kafka']},",
        f"         aiokafka {m['aiokafka']}, cryptography {m['cryptography']}",
        "",
        f"{'path: send call → consumer':<46}" + "".join(f"{h:>10}" for h in head),
    ]
    for key, flow in report.flows.items():
        row = (flow.p50_ms, flow.p99_ms, flow.send_p50_ms, flow.send_p99_ms)
        lines.append(
            f"{_LABELS[key]:<46}{flow.per_second:>10.0f}" + "".join(f"{v:>10.2f}" for v in row)
        )
    lines += ["", f"{'ratio silian / raw (Kafka)':<46}{'events/s':>10}{'p50':>10}{'p99':>10}"]
    for pair, ratio in report.ratios().items():
        ours, raw = pair.split("/")
        who = "concurrent" if ours.endswith("pipelined") else "sequential"
        label = f"  {who} vs " + _LABELS[raw].removesuffix(", Kafka").removeprefix("raw ")
        values = (ratio["throughput"], ratio["p50"], ratio["p99"])
        lines.append(f"{label:<46}" + "".join(f"{v:>9.2f}x" for v in values))
    if report.crypto is not None:
        c = report.crypto
        lines += [
            "",
            f"{f'Ed25519, one core, {c.base_bytes}-byte signature bases':<46}{'ops/s':>10}",
            f"{'  sign':<46}{c.sign_per_second:>10.0f}",
            f"{'  verify':<46}{c.verify_per_second:>10.0f}",
            f"{'  silian verify_record (pipeline step 1)':<46}{c.verify_record_per_second:>10.0f}",
        ]
        if "silian_kafka" in report.flows:
            share = report.flows["silian_kafka"].per_second / c.verify_per_second
            lines.append(f"{'  ratio silian Kafka delivery / raw verify':<46}{share:>9.3f}x")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="silian bus throughput beside its baselines")
    parser.add_argument("--events", type=int, default=2000, help="events per path (2000)")
    parser.add_argument("--bootstrap", help="use this Kafka instead of a local 3-node one")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of silian on Kafka")
    args = parser.parse_args(argv)
    profile = cProfile.Profile() if args.profile else None
    with (
        open(os.devnull, "w", encoding="utf-8") as sink,
        tempfile.TemporaryDirectory(prefix="silian-bench-") as tmp,
    ):
        # INFO, rendered as in production, but not shown: its cost is part of the figures.
        configure_logging(fmt="json", level="INFO", stream=sink)
        directory = Path(tmp)
        # A federation id of this run's own: on a cluster used before (``--bootstrap``) the
        # consumers would otherwise read, and quarantine, every earlier run's records too.
        fed = create_federation(
            directory / "federation", federation_id=f"bench-{uuid.uuid4().hex[:8]}"
        )
        if not args.bootstrap:
            print("starting the local 3-node Kafka …", file=sys.stderr)
        with kafka_for(args.bootstrap, directory / "kafka-cluster") as (bootstrap, kafka):
            flows, sent = asyncio.run(
                measure_kafka(
                    args.events, bootstrap, directory=directory / "kafka", fed=fed, profile=profile
                )
            )
        # Kafka is down by now: the embedded run and Ed25519 get the cores to themselves.
        embedded, crypto = asyncio.run(
            measure_local(args.events, directory / "embedded", fed=fed, records=sent)
        )
    if profile is not None:
        profile.dump_stats(args.profile)
    report = Report(
        machine=machine(kafka),
        events=args.events,
        value_bytes=VALUE_BYTES,
        flows={**flows, "silian_embedded": embedded},
        crypto=crypto,
    )
    print(
        json.dumps(report.as_json(), indent=2, ensure_ascii=False) if args.json else render(report)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
