"""The Kafka transport: aiokafka's idempotent producer, consumer groups and admin client.

Every aiokafka error is turned into :class:`~bus.errors.TransportError` with the action,
the topic and Kafka's reason in the message; the original stays as ``__cause__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import Awaitable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    MessageSizeTooLargeError,
    UnknownTopicOrPartitionError,
)

from bus.errors import BrokerUnreachableError, TransportError
from bus.transport import _kafka_records
from bus.transport._kafka_admin import TopicAdmin
from bus.transport.base import (
    Consumer,
    Coordinates,
    OutgoingRecord,
    Record,
    TimestampType,
    TopicChanges,
    TopicDescription,
    TopicSpec,
    Transport,
    not_started,
)

__all__ = ["KafkaConfig", "KafkaConsumer", "KafkaTransport"]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaConfig:
    """How to reach Kafka. Timeouts in milliseconds, as Kafka's own settings are.

    ``request_timeout_ms`` bounds producer and admin requests (and how long a send to a
    topic that does not exist waits for it); consumers keep aiokafka's own timeouts,
    which must stay above ``session_timeout_ms``.
    """

    bootstrap: str
    client_id: str = "silian"
    request_timeout_ms: int = 30_000
    linger_ms: int = 5
    max_request_size: int = 1_048_576
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    topic_ready_timeout_s: float = 30.0
    security_protocol: SecurityProtocol = "PLAINTEXT"
    ssl_context: ssl.SSLContext | None = None
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)

    def client_options(self) -> dict[str, Any]:
        """Options every aiokafka client of this config shares."""
        return {
            "bootstrap_servers": self.bootstrap,
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "ssl_context": self.ssl_context,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.sasl_username,
            "sasl_plain_password": self.sasl_password,
        }


def _reason(error: BaseException) -> str:
    if isinstance(error, UnknownTopicOrPartitionError):
        return "the topic does not exist (topics are created with ensure_topics)"
    return str(error) or type(error).__name__


@contextlib.contextmanager
def _kafka_errors(action: str) -> Iterator[None]:
    try:
        yield
    except KafkaConnectionError as error:  # no broker answered: the network, not the request
        raise BrokerUnreachableError(f"{action} failed: {_reason(error)}") from error
    except KafkaError as error:
        raise TransportError(f"{action} failed: {_reason(error)}") from error
    except TimeoutError as error:
        raise TransportError(f"{action} failed: no answer from Kafka in time") from error


class _Clients(Protocol):
    @property
    def producer(self) -> Any: ...

    @property
    def topics(self) -> TopicAdmin: ...


class _NoClients:
    """The null state of a transport that is not started (or was stopped)."""

    @property
    def producer(self) -> Any:
        raise not_started("KafkaTransport")

    @property
    def topics(self) -> TopicAdmin:
        raise not_started("KafkaTransport")


@dataclass(frozen=True, slots=True)
class _Started:
    producer: Any
    admin: Any
    topics: TopicAdmin


class KafkaTransport(Transport):
    """Publishes with ``enable_idempotence=True, acks="all"``: a send returns only once
    every in-sync replica has the record, and retries never duplicate it."""

    def __init__(self, config: KafkaConfig) -> None:
        self._config = config
        self._clients: _Clients = _NoClients()

    @property
    def config(self) -> KafkaConfig:
        return self._config

    @property
    def max_request_size(self) -> int:
        return self._config.max_request_size

    async def start(self) -> None:
        if isinstance(self._clients, _Started):
            return
        options = self._config.client_options()
        producer = AIOKafkaProducer(
            **options,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=self._config.request_timeout_ms,
            linger_ms=self._config.linger_ms,
            max_request_size=self._config.max_request_size,
        )
        admin = AIOKafkaAdminClient(**options, request_timeout_ms=self._config.request_timeout_ms)
        try:
            with _kafka_errors(f"connecting to Kafka at {self._config.bootstrap}"):
                await producer.start()
                await admin.start()
        except TransportError:
            await producer.stop()
            await admin.close()
            raise
        topics = TopicAdmin(admin, ready_timeout=self._config.topic_ready_timeout_s)
        self._clients = _Started(producer=producer, admin=admin, topics=topics)

    async def stop(self) -> None:
        started, self._clients = self._clients, _NoClients()
        if isinstance(started, _Started):
            try:
                await started.producer.stop()
            finally:
                await started.admin.close()

    async def send(self, record: OutgoingRecord) -> Coordinates:
        return await (await self.enqueue(record))

    async def enqueue(self, record: OutgoingRecord) -> Awaitable[Coordinates]:
        producer = self._clients.producer
        action = f"send to topic {record.topic!r}"
        for name, _ in record.headers:
            if not name.isascii() and not _utf8(name):
                raise TransportError(f"{action} failed: header name {name!r} is not UTF-8")
        with _kafka_errors(action):
            try:
                pending = await producer.send(
                    record.topic,
                    record.value,
                    key=record.key,
                    headers=list(record.headers),
                    timestamp_ms=record.timestamp_ms,
                )
            except MessageSizeTooLargeError as error:
                limit = self._config.max_request_size
                raise TransportError(
                    f"{action} failed: the record is larger than max_request_size "
                    f"({limit} bytes): {error}"
                ) from error

        async def acknowledged() -> Coordinates:
            with _kafka_errors(action):
                metadata = await pending
            return Coordinates(
                topic=metadata.topic, partition=metadata.partition, offset=metadata.offset
            )

        return asyncio.ensure_future(acknowledged())

    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> TopicChanges:
        topics = self._clients.topics
        wanted = list(specs)
        with _kafka_errors("ensuring topics " + ", ".join(s.name for s in wanted)):
            return await topics.ensure(wanted)

    async def describe_topics(self, names: Iterable[str]) -> dict[str, TopicDescription]:
        topics = self._clients.topics
        wanted = list(names)
        with _kafka_errors("describing topics " + ", ".join(wanted)):
            return await topics.describe(wanted)

    def consumer(
        self,
        *,
        group_id: str,
        topics: Iterable[str],
        pattern: str | None = None,
        from_beginning: bool = True,
    ) -> KafkaConsumer:
        return KafkaConsumer(
            self._config,
            group_id=group_id,
            topics=tuple(topics),
            pattern=pattern,
            from_beginning=from_beginning,
        )


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a name read with surrogateescape: not UTF-8 on the wire
        return False
    return True


class _ConsumerState(Protocol):
    @property
    def consumer(self) -> Any: ...


class _NoConsumer:
    @property
    def consumer(self) -> Any:
        raise not_started("KafkaConsumer")


@dataclass(frozen=True, slots=True)
class _StartedConsumer:
    consumer: Any


class KafkaConsumer(Consumer):
    """A member of a Kafka consumer group: manual commits, ``read_committed``."""

    def __init__(
        self,
        config: KafkaConfig,
        *,
        group_id: str,
        topics: tuple[str, ...],
        pattern: str | None = None,
        from_beginning: bool,
    ) -> None:
        if not topics and not pattern:
            raise TransportError(f"consumer group {group_id!r} was given no topics")
        self._config = config
        self._group_id = group_id
        self._topics = topics
        self._pattern = pattern
        self._from_beginning = from_beginning
        self._state: _ConsumerState = _NoConsumer()

    async def start(self) -> None:
        if isinstance(self._state, _StartedConsumer):
            return
        _kafka_records.install()  # a header name that is not UTF-8 must not stop us
        consumer = AIOKafkaConsumer(
            *(() if self._pattern else self._topics),
            **self._config.client_options(),
            # A pattern subscription notices new topics (a case opened) at metadata refresh.
            metadata_max_age_ms=5_000 if self._pattern else 300_000,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if self._from_beginning else "latest",
            isolation_level="read_committed",
            session_timeout_ms=self._config.session_timeout_ms,
            heartbeat_interval_ms=self._config.heartbeat_interval_ms,
        )
        if self._pattern:
            # aiokafka takes topics or a pattern, not both: fold the topics into the pattern.
            named = "|".join(re.escape(t) for t in self._topics)
            consumer.subscribe(pattern=f"^(?:{named})$|{self._pattern}" if named else self._pattern)
        try:
            with _kafka_errors(f"starting consumer of group {self._group_id!r}"):
                await consumer.start()
        except TransportError:
            await consumer.stop()
            raise
        self._state = _StartedConsumer(consumer)

    async def stop(self) -> None:
        state, self._state = self._state, _NoConsumer()
        if isinstance(state, _StartedConsumer):
            with _kafka_errors(f"stopping consumer of group {self._group_id!r}"):
                await state.consumer.stop()

    async def fetch(
        self,
        *,
        max_records: int = 500,
        timeout: float = 1.0,
    ) -> list[Record]:
        consumer = self._state.consumer
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, got {max_records}")
        with _kafka_errors(f"fetching for group {self._group_id!r}"):
            batches = await consumer.getmany(
                timeout_ms=max(0, round(timeout * 1000)), max_records=max_records
            )
        return [
            Record(
                topic=r.topic,
                partition=r.partition,
                offset=r.offset,
                key=r.key,
                value=r.value,
                headers=tuple(r.headers),
                timestamp_ms=r.timestamp,
                timestamp_type=TimestampType(r.timestamp_type),
            )
            for tp in sorted(batches, key=lambda tp: (tp.topic, tp.partition))
            for r in batches[tp]
        ]

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        consumer = self._state.consumer
        if not offsets:
            return
        with _kafka_errors(f"committing offsets of group {self._group_id!r}"):
            await consumer.commit(
                {TopicPartition(topic, partition): o for (topic, partition), o in offsets.items()}
            )

    async def seek_to_beginning(self) -> None:
        consumer = self._state.consumer
        with _kafka_errors(f"seeking to the beginning for group {self._group_id!r}"):
            await consumer.seek_to_beginning()

    async def seek(self, positions: Mapping[tuple[str, int], int]) -> None:
        consumer = self._state.consumer
        assigned = consumer.assignment()
        for (topic, partition), offset in positions.items():
            tp = TopicPartition(topic, partition)
            if tp in assigned:  # a partition lost to a rebalance is re-read by its new owner
                consumer.seek(tp, offset)

    def assignment(self) -> frozenset[tuple[str, int]]:
        consumer = self._state.consumer
        return frozenset((tp.topic, tp.partition) for tp in consumer.assignment())

    async def lag(self) -> dict[tuple[str, int], int]:
        consumer = self._state.consumer
        assigned = list(consumer.assignment())
        if not assigned:
            return {}
        with _kafka_errors(f"measuring the lag of group {self._group_id!r}"):
            ends = await consumer.end_offsets(assigned)
        behind: dict[tuple[str, int], int] = {}
        for tp in assigned:
            try:  # a partition still resetting its position has no lag to tell yet
                position = await asyncio.wait_for(consumer.position(tp), timeout=1.0)
            except (TimeoutError, KafkaError):
                continue
            behind[(tp.topic, tp.partition)] = max(0, ends[tp] - position)
        return behind
