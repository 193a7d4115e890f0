"""The first real slice: the three-node KRaft cluster keeps every acknowledged record.

An idempotent producer (acks=all) and a consumer group exchange records; then the leader
of the partition is killed while producing, and every record the broker acknowledged must
be consumed exactly once afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from tests.kafka import KafkaTarget

pytestmark = [pytest.mark.kafka, pytest.mark.cluster]

TopicFactory = Callable[..., Awaitable[str]]


async def _consume_all(bootstrap: str, topic: str, group: str, want: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    seen: list[bytes] = []
    try:
        async with asyncio.timeout(90):
            while len(seen) < want:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    seen.extend(r.value for r in records)
                await consumer.commit()
        # Anything beyond ``want`` would be a duplicate: drain briefly to catch it.
        extra = await consumer.getmany(timeout_ms=2000)
        for records in extra.values():
            seen.extend(r.value for r in records)
    finally:
        await consumer.stop()
    return seen


async def _leader_of(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
        return int(described[0]["partitions"][0]["leader"])
    finally:
        await admin.close()


async def test_idempotent_producer_and_consumer_group_exchange_records(
    local_cluster: KafkaTarget, topic_factory: TopicFactory, unique_name: str
) -> None:
    topic = await topic_factory(partitions=3, replication=3)
    producer = AIOKafkaProducer(
        bootstrap_servers=local_cluster.bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        sent = [f"record-{i}".encode() for i in range(300)]
        for i, value in enumerate(sent):
            await producer.send(topic, value, key=f"entity-{i % 7}".encode())
        await producer.flush()
    finally:
        await producer.stop()
    received = await _consume_all(local_cluster.bootstrap, topic, unique_name, len(sent))
    assert sorted(received) == sorted(sent)

    # The group committed: a second consumer of the same group sees nothing new.
    again = AIOKafkaConsumer(
        topic,
        bootstrap_servers=local_cluster.bootstrap,
        group_id=unique_name,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await again.start()
    try:
        leftover = await again.getmany(timeout_ms=3000)
    finally:
        await again.stop()
    assert sum(len(v) for v in leftover.values()) == 0


async def test_killing_the_partition_leader_loses_and_duplicates_nothing(
    local_cluster: KafkaTarget, topic_factory: TopicFactory, unique_name: str
) -> None:
    cluster = local_cluster.local
    assert cluster is not None
    topic = await topic_factory(partitions=1, replication=3, configs={"min.insync.replicas": "2"})
    leader = await _leader_of(local_cluster.bootstrap, topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=local_cluster.bootstrap,
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=15000,
        retry_backoff_ms=200,
    )
    await producer.start()
    acknowledged: list[bytes] = []
    failed = 0
    try:
        for i in range(600):
            if i == 200:
                # Crash the leader mid-stream, without a clean shutdown.
                await asyncio.to_thread(cluster.kill_node, leader, hard=True)
            value = f"n{i}".encode()
            try:
                await producer.send_and_wait(topic, value, key=b"one-entity")
            except KafkaError:
                failed += 1  # not acknowledged: the producer told us, nothing is promised
            else:
                acknowledged.append(value)
    finally:
        await producer.stop()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(cluster.start_node, leader)
    await asyncio.to_thread(cluster.wait_ready, timeout=120)
    new_leader = await _leader_of(local_cluster.bootstrap, topic)
    assert new_leader != -1
    assert len(acknowledged) >= 500, f"only {len(acknowledged)} acknowledged, {failed} failed"

    received = await _consume_all(local_cluster.bootstrap, topic, unique_name, len(acknowledged))
    assert len(received) == len(set(received)), "a record was delivered twice"
    missing = set(acknowledged) - set(received)
    assert not missing, f"{len(missing)} acknowledged records lost"
    # One key, one partition: order is kept as well.
    order = [v for v in received if v in set(acknowledged)]
    assert order == acknowledged
