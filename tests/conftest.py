"""Fixtures shared by the whole suite: a real Kafka (see tests/kafka.py) and fresh names."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest
import structlog

from tests.kafka import KafkaTarget, KafkaUnavailableError, resolve_kafka


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """The CLI configures structlog with the stream of the moment; undo it after each test."""
    yield
    structlog.reset_defaults()


def _kafka_required() -> bool:
    return os.environ.get("SILIAN_REQUIRE_KAFKA") == "1"


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaTarget]:
    """A real Kafka for the session; skipped (or failed under SILIAN_REQUIRE_KAFKA=1)."""
    try:
        with resolve_kafka() as target:
            yield target
    except KafkaUnavailableError as error:
        message = f"no Kafka available: {error}"
        if _kafka_required():
            pytest.fail(f"SILIAN_REQUIRE_KAFKA=1 but {message}")
        pytest.skip(message)


@pytest.fixture
def kafka_bootstrap(kafka: KafkaTarget) -> str:
    return kafka.bootstrap


@pytest.fixture
def local_cluster(kafka: KafkaTarget) -> KafkaTarget:
    """The three-node cluster whose nodes a test may kill and restart."""
    if kafka.local is None or len(kafka.local.nodes) < 3:
        message = (
            f"Kafka from {kafka.origin} cannot have its nodes killed; set "
            "SILIAN_KAFKA_CLUSTER_DIR or let the suite start its own cluster"
        )
        if _kafka_required():
            pytest.fail(message)
        pytest.skip(message)
    return kafka


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name no other test uses, for topics and consumer groups."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]
    return f"t-{base}-{uuid.uuid4().hex[:8]}"


async def create_topic(
    bootstrap: str,
    name: str,
    *,
    partitions: int = 1,
    replication: int = 1,
    configs: dict[str, str] | None = None,
) -> None:
    """Create a topic and wait until its leaders are known (auto-create is off)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: PLC0415

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, partitions, replication, topic_configs=configs or {})]
        )
        for _ in range(100):
            described = await admin.describe_topics([name])
            parts = described[0].get("partitions", []) if described else []
            if len(parts) == partitions and all(p.get("leader", -1) >= 0 for p in parts):
                return
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


@pytest.fixture
def topic_factory(kafka_bootstrap: str, unique_name: str) -> Callable[..., Awaitable[str]]:
    """``await topic_factory(partitions=…, replication=…)`` → a fresh topic name."""
    counter = 0

    async def make(
        *, partitions: int = 1, replication: int = 1, configs: dict[str, str] | None = None
    ) -> str:
        nonlocal counter
        counter += 1
        name = f"{unique_name}-{counter}"
        await create_topic(
            kafka_bootstrap, name, partitions=partitions, replication=replication, configs=configs
        )
        return name

    return make
