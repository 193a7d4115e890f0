"""One contract, two transports: the embedded SQLite one and Kafka (real 3-node cluster).

Every case runs against both; a Kafka-only or embedded-only behaviour does not belong
here (see tests/unit/transport for embedded details).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bus.errors import ConfigError, NotConnectedError, TransportError
from bus.transport import (
    Consumer,
    EmbeddedTransport,
    KafkaConfig,
    KafkaTransport,
    OutgoingRecord,
    Record,
    TopicSpec,
    Transport,
    partition_for_key,
)

Headers = tuple[tuple[str, bytes], ...]
MAX_REQUEST_SIZE = 256 * 1024
# Replication 3 so that acks=all meets the cluster's min.insync.replicas; ignored embedded.
REPLICATION = 3

MakeTopic = Callable[..., Awaitable[str]]


@dataclass(frozen=True, kw_only=True)
class Backend:
    name: str
    make: Callable[[], Transport]


@pytest.fixture(params=[pytest.param("embedded"), pytest.param("kafka", marks=pytest.mark.kafka)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        config = KafkaConfig(
            bootstrap=bootstrap,
            client_id="silian-contract-tests",
            # Short, so that a send to a missing topic fails within the test's patience.
            request_timeout_ms=5_000,
            max_request_size=MAX_REQUEST_SIZE,
        )
        return Backend(name="kafka", make=lambda: KafkaTransport(config))
    path = tmp_path / "bus.sqlite3"
    return Backend(
        name="embedded",
        make=lambda: EmbeddedTransport(path, max_request_size=MAX_REQUEST_SIZE),
    )


@pytest.fixture
async def transport(backend: Backend) -> AsyncIterator[Transport]:
    async with backend.make() as started:
        yield started


@pytest.fixture
def make_topic(transport: Transport, unique_name: str) -> MakeTopic:
    counter = 0

    async def make(*, partitions: int = 1) -> str:
        nonlocal counter
        counter += 1
        name = f"{unique_name}-{counter}"
        changes = await transport.ensure_topics(
            [TopicSpec(name=name, partitions=partitions, replication=REPLICATION)]
        )
        assert changes.created == (name,)
        return name

    return make


def rec(
    topic: str, value: bytes, key: bytes | None = None, *, headers: Headers = ()
) -> OutgoingRecord:
    return OutgoingRecord(topic=topic, key=key, value=value, headers=headers)


async def drain(consumer: Consumer, want: int, *, patience: float = 30.0) -> list[Record]:
    """Fetch until ``want`` records arrived (or patience ran out), then a little more to
    catch anything beyond ``want`` that should not be there."""
    got: list[Record] = []
    deadline = time.monotonic() + patience
    while True:
        batch = await consumer.fetch(timeout=0.5)
        # Every fetch comes in partition order (topic, partition, offset).
        where = [(r.topic, r.partition, r.offset) for r in batch]
        assert where == sorted(where)
        got += batch
        if (len(got) >= want and not batch) or time.monotonic() > deadline:
            return got


async def test_send_returns_increasing_coordinates(
    transport: Transport, make_topic: MakeTopic
) -> None:
    topic = await make_topic()
    coordinates = [await transport.send(rec(topic, f"v{i}".encode(), b"k")) for i in range(5)]
    assert [c.topic for c in coordinates] == [topic] * 5
    assert [c.partition for c in coordinates] == [0] * 5
    assert [c.offset for c in coordinates] == [0, 1, 2, 3, 4]


async def test_same_key_stays_ordered_in_kafkas_partition(
    transport: Transport, make_topic: MakeTopic, unique_name: str
) -> None:
    topic = await make_topic(partitions=3)
    keys = [f"case-{i}".encode() for i in range(6)] + ["案件-甲".encode(), b"\xff\x00"]
    sent: dict[bytes, list[bytes]] = {k: [] for k in keys}
    placed: dict[bytes, set[int]] = {k: set() for k in keys}
    for round_ in range(5):
        for key in keys:
            value = key + b"#" + str(round_).encode()
            coordinates = await transport.send(rec(topic, value, key))
            sent[key].append(value)
            placed[key].add(coordinates.partition)
    # Kafka's default partitioner (murmur2) decides, on both transports alike.
    assert placed == {k: {partition_for_key(k, 3)} for k in keys}
    assert len(set().union(*placed.values())) > 1, "keys should spread over partitions"

    async with transport.consumer(group_id=unique_name, topics=[topic]) as consumer:
        records = await drain(consumer, 5 * len(keys))
    assert len(records) == 5 * len(keys)
    for key in keys:
        assert [r.value for r in records if r.key == key] == sent[key]
    order = [(r.partition, r.offset) for r in records if r.partition == records[0].partition]
    assert order == sorted(order)


async def test_key_value_and_headers_round_trip_byte_exact(
    transport: Transport, make_topic: MakeTopic, unique_name: str
) -> None:
    topic = await make_topic()
    headers = (
        ("ce_specversion", b"1.0"),
        ("ce_source", "urn:silian:agency:450000 广西壮族自治区公安厅".encode()),
        ("签名", bytes(range(256))),
        ("empty", b""),
        ("ce_source", b"duplicate names keep their order"),
    )
    originals = [
        rec(topic, '{"警情":"跨省协查","级别":1}'.encode(), b"\x00\xff\xfe key", headers=headers),
        rec(topic, b"\x80\x81 not utf-8 \xc3\x28", None),
        rec(topic, b"", "案件-2024-0001".encode(), headers=(("h", b"\x00"),)),
    ]
    before_ms = time.time() * 1000 - 60_000
    for original in originals:
        await transport.send(original)
    async with transport.consumer(group_id=unique_name, topics=[topic]) as consumer:
        records = await drain(consumer, len(originals))
    assert [(r.key, r.value, r.headers) for r in records] == [
        (o.key, o.value, o.headers) for o in originals
    ]
    assert all(isinstance(r.value, bytes) for r in records)
    assert all(before_ms < r.timestamp_ms < before_ms + 120_000 for r in records)


async def test_new_consumer_of_group_resumes_after_commit_and_sees_nothing_twice(
    transport: Transport, make_topic: MakeTopic, unique_name: str
) -> None:
    topic = await make_topic(partitions=3)
    for i in range(12):
        await transport.send(rec(topic, f"first-{i}".encode(), f"k{i % 4}".encode()))
    async with transport.consumer(group_id=unique_name, topics=[topic]) as first:
        seen_first = await drain(first, 12)
        assert len(seen_first) == 12
        for record in seen_first:
            await first.commit_record(record)
    for i in range(6):
        await transport.send(rec(topic, f"second-{i}".encode(), f"k{i % 4}".encode()))
    async with transport.consumer(group_id=unique_name, topics=[topic]) as second:
        seen_second = await drain(second, 6)
        await second.commit({(r.topic, r.partition): r.offset + 1 for r in seen_second})
    assert sorted(r.value for r in seen_second) == sorted(f"second-{i}".encode() for i in range(6))
    first_coordinates = {r.coordinates for r in seen_first}
    assert not first_coordinates & {r.coordinates for r in seen_second}


async def test_uncommitted_records_are_redelivered_after_restart(
    transport: Transport, make_topic: MakeTopic, unique_name: str
) -> None:
    topic = await make_topic()
    for i in range(10):
        await transport.send(rec(topic, f"r{i}".encode(), b"one"))
    async with transport.consumer(group_id=unique_name, topics=[topic]) as consumer:
        records = await drain(consumer, 10)
        assert [r.offset for r in records] == list(range(10))
        await consumer.commit_record(records[3])  # handled 0..3, crashed before the rest
    async with transport.consumer(group_id=unique_name, topics=[topic]) as restarted:
        again = await drain(restarted, 6)
    assert [r.offset for r in again] == [4, 5, 6, 7, 8, 9]
    assert [r.value for r in again] == [f"r{i}".encode() for i in range(4, 10)]


async def test_two_groups_are_independent(
    transport: Transport, make_topic: MakeTopic, unique_name: str
) -> None:
    topic = await make_topic()
    for i in range(5):
        await transport.send(rec(topic, f"r{i}".encode(), b"k"))
    async with transport.consumer(group_id=f"{unique_name}-a", topics=[topic]) as a:
        seen_a = await drain(a, 5)
        for record in seen_a:
            await a.commit_record(record)
    async with transport.consumer(group_id=f"{unique_name}-b", topics=[topic]) as b:
        seen_b = await drain(b, 5)
    assert (
        [r.value for r in seen_a]
        == [r.value for r in seen_b]
        == [f"r{i}".encode() for i in range(5)]
    )


async def test_seek_to_beginning_rereads_and_assignment_covers_all_partitions(
    transport: Transport, make_topic: MakeTopic, unique_name: str
) -> None:
    topic = await make_topic(partitions=3)
    for i in range(9):
        await transport.send(rec(topic, f"r{i}".encode(), f"k{i}".encode()))
    async with transport.consumer(group_id=unique_name, topics=[topic]) as consumer:
        first = await drain(consumer, 9)
        assert consumer.assignment() == {(topic, 0), (topic, 1), (topic, 2)}
        await consumer.seek_to_beginning()
        second = await drain(consumer, 9)
    assert len(first) == 9
    assert len(second) == 9
    assert {r.coordinates for r in second} == {r.coordinates for r in first}


async def test_from_end_consumer_skips_existing_records(
    transport: Transport, make_topic: MakeTopic, unique_name: str
) -> None:
    topic = await make_topic()
    await transport.send(rec(topic, b"old", b"k"))
    consumer = transport.consumer(group_id=unique_name, topics=[topic], from_beginning=False)
    seen: list[Record] = []
    async with consumer:
        # Kafka finds "the end" lazily after the group assigns the partition, so keep
        # publishing until the consumer sees something: it must never be the old record.
        deadline = time.monotonic() + 30
        sent = 0
        while not seen and time.monotonic() < deadline:
            await transport.send(rec(topic, f"new-{sent}".encode(), b"k"))
            sent += 1
            seen = await consumer.fetch(timeout=0.5)
    assert seen
    assert all(r.value.startswith(b"new-") for r in seen)
    assert seen[0].offset >= 1


async def test_ensure_topics_is_idempotent_and_reports_changes(
    transport: Transport, unique_name: str
) -> None:
    audit = TopicSpec(
        name=f"{unique_name}-audit",
        partitions=3,
        replication=REPLICATION,
        configs={"retention.ms": "-1", "min.insync.replicas": "2"},
    )
    plain = TopicSpec(name=f"{unique_name}-plain", partitions=1, replication=REPLICATION)
    first = await transport.ensure_topics([audit, plain])
    assert first.changed
    assert set(first.created) == {audit.name, plain.name}
    second = await transport.ensure_topics([audit, plain])
    assert not second.changed
    assert (second.created, second.reconfigured, second.not_grown) == ((), (), ())
    assert str(second) == "no change"

    described = await transport.describe_topics([audit.name, plain.name, f"{unique_name}-x"])
    assert set(described) == {audit.name, plain.name}
    assert described[audit.name].partitions == 3
    assert described[audit.name].replication == REPLICATION
    assert dict(described[audit.name].configs) == {"retention.ms": "-1", "min.insync.replicas": "2"}

    changed = TopicSpec(
        name=audit.name,
        partitions=3,
        replication=REPLICATION,
        configs={"retention.ms": "86400000", "cleanup.policy": "delete"},
    )
    third = await transport.ensure_topics([changed])
    assert third.changed
    assert {(c.name, c.old, c.new) for c in third.reconfigured} == {
        ("retention.ms", "-1", "86400000"),
        ("cleanup.policy", None, "delete"),
    }
    assert not (await transport.ensure_topics([changed])).changed
    configs = (await transport.describe_topics([audit.name]))[audit.name].configs
    # Configs the spec does not name are left as they were.
    assert dict(configs) == {
        "retention.ms": "86400000",
        "cleanup.policy": "delete",
        "min.insync.replicas": "2",
    }


async def test_ensure_topics_never_shrinks_nor_grows_partitions(
    transport: Transport, make_topic: MakeTopic
) -> None:
    topic = await make_topic(partitions=3)
    with pytest.raises(ConfigError, match="cannot be reduced"):
        await transport.ensure_topics(
            [TopicSpec(name=topic, partitions=2, replication=REPLICATION)]
        )
    grow = await transport.ensure_topics(
        [TopicSpec(name=topic, partitions=6, replication=REPLICATION)]
    )
    assert not grow.changed
    assert [(s.topic, s.existing, s.wanted) for s in grow.not_grown] == [(topic, 3, 6)]
    assert "not grown" in str(grow)
    assert (await transport.describe_topics([topic]))[topic].partitions == 3


async def test_fetch_without_data_returns_empty_after_the_timeout(
    transport: Transport, make_topic: MakeTopic, unique_name: str
) -> None:
    topic = await make_topic()
    async with transport.consumer(group_id=unique_name, topics=[topic]) as consumer:
        started = time.monotonic()
        records = await consumer.fetch(timeout=0.5)
        elapsed = time.monotonic() - started
    assert records == []
    assert 0.4 <= elapsed < 5.0


async def test_using_before_start_or_after_stop_raises_not_connected(
    backend: Backend, unique_name: str
) -> None:
    transport = backend.make()
    spec = TopicSpec(name=unique_name, partitions=1, replication=REPLICATION)
    with pytest.raises(NotConnectedError, match=r"not started.*start\(\)"):
        await transport.send(rec(unique_name, b"v"))
    with pytest.raises(NotConnectedError):
        await transport.ensure_topics([spec])
    with pytest.raises(NotConnectedError):
        await transport.describe_topics([unique_name])
    consumer = transport.consumer(group_id=unique_name, topics=[unique_name])
    with pytest.raises(NotConnectedError, match="not started"):
        await consumer.fetch(timeout=0.1)
    with pytest.raises(NotConnectedError):
        await consumer.commit({(unique_name, 0): 1})
    with pytest.raises(NotConnectedError):
        await consumer.seek_to_beginning()
    with pytest.raises(NotConnectedError):
        consumer.assignment()

    async with transport:
        await transport.ensure_topics([spec])
    with pytest.raises(NotConnectedError):
        await transport.send(rec(unique_name, b"v"))


async def test_oversized_value_raises_readable_transport_error(
    transport: Transport, make_topic: MakeTopic
) -> None:
    topic = await make_topic()
    too_big = rec(topic, b"x" * (MAX_REQUEST_SIZE + 1), b"k")
    with pytest.raises(TransportError, match=rf"{topic}.*larger than max_request_size"):
        await transport.send(too_big)
    # The transport is still usable afterwards.
    assert (await transport.send(rec(topic, b"small", b"k"))).offset == 0


async def test_send_to_missing_topic_raises_transport_error(
    transport: Transport, unique_name: str
) -> None:
    with pytest.raises(TransportError, match="does not exist"):
        await transport.send(rec(f"{unique_name}-missing", b"v", b"k"))


async def test_lag_counts_the_records_not_read_yet(
    transport: Transport, make_topic: MakeTopic, unique_name: str
) -> None:
    """What an operator's consumer-lag metric reads: per assigned partition, the records
    beyond the consumer's position; 0 once everything is read."""
    topic = await make_topic()
    for i in range(5):
        await transport.send(rec(topic, f"r{i}".encode(), b"k"))
    async with transport.consumer(group_id=unique_name, topics=[topic]) as consumer:
        read: list[Record] = []
        deadline = time.monotonic() + 30
        while not read and time.monotonic() < deadline:
            read = await consumer.fetch(max_records=2, timeout=0.5)
        assert 1 <= len(read) <= 2
        assert await consumer.lag() == {(topic, 0): 5 - len(read)}
        await drain(consumer, 5 - len(read))
        assert await consumer.lag() == {(topic, 0): 0}
        await transport.send(rec(topic, b"one more", b"k"))
        assert await consumer.lag() == {(topic, 0): 1}
