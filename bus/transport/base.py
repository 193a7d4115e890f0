"""The transport interface: what the bus needs from Kafka (or from its embedded stand-in).

Records are bytes in, bytes out: key, value and headers reach a consumer exactly as they
were sent, because signatures are checked over those exact bytes. Delivery is
at-least-once: a consumer commits the *next* offset to read (Kafka semantics), and a
consumer of the same group that starts later resumes from there; anything read but not
committed is read again.

Both transports follow one lifecycle: build, ``await start()`` (or ``async with``), use,
``await stop()``. Before ``start()`` and after ``stop()`` every operation raises
:class:`~bus.errors.NotConnectedError`; transports hold a null "not started" state
instead of ``None`` checks.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import time
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Self

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from bus.errors import NotConnectedError

__all__ = [
    "ConfigChange",
    "Consumer",
    "Coordinates",
    "OutgoingRecord",
    "PartitionShortfall",
    "Record",
    "TimestampType",
    "TopicChanges",
    "TopicDescription",
    "TopicSpec",
    "Transport",
    "estimated_size",
    "not_started",
    "read_to_end",
]

Headers = tuple[tuple[str, bytes | None], ...]
"""A record's headers in order. Kafka allows a null header value (None), and a name may
hold bytes that are not UTF-8 (decoded with ``surrogateescape``, so the bytes survive)."""


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


class TimestampType(enum.IntEnum):
    """Who stamped a record's time (Kafka's own codes)."""

    CREATE_TIME = 0  # the producer, as it pleased: not evidence of anything
    LOG_APPEND_TIME = 1  # the broker, when it appended the record


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingRecord:
    """A record to publish. ``key`` decides the partition (same key, same partition).

    ``value`` None is a tombstone. ``timestamp_ms`` is the producer's time, kept only by a
    topic configured ``message.timestamp.type=CreateTime`` (silian's topics never are).
    """

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int | None = None


def estimated_size(record: OutgoingRecord | Record) -> int:
    """The bytes ``record`` takes in a Kafka request (a batch of one), as the producer
    counts them against ``max_request_size``."""
    headers = [
        ("x" * len(name.encode("utf-8", "surrogateescape")), value)  # the same byte length
        for name, value in record.headers
    ]
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(record.key, record.value, headers))


@dataclass(frozen=True, slots=True, kw_only=True)
class Coordinates:
    """Where the broker stored a record."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """A consumed record: the bytes exactly as sent, and where they were stored.

    Nothing here is trusted: ``value`` None is a tombstone, a header value may be None, a
    header name may not be UTF-8; ``timestamp_type`` says whether the broker stamped the
    time (the consumer's clock check needs it to).
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int
    timestamp_type: TimestampType = TimestampType.LOG_APPEND_TIME

    @property
    def coordinates(self) -> Coordinates:
        return Coordinates(topic=self.topic, partition=self.partition, offset=self.offset)


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicSpec:
    """A topic as it should be: e.g. ``configs={"retention.ms": "-1"}`` for audit topics."""

    name: str
    partitions: int
    replication: int
    configs: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "configs", _frozen_mapping(self.configs))


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicDescription:
    """A topic as it is. ``configs`` are the ones set on the topic itself, not defaults."""

    name: str
    partitions: int
    replication: int
    configs: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "configs", _frozen_mapping(self.configs))


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigChange:
    """One topic config ``ensure_topics`` changed; ``old`` is None when it was not set."""

    topic: str
    name: str
    old: str | None
    new: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionShortfall:
    """A topic that has fewer partitions than its spec asks for; it was *not* grown."""

    topic: str
    existing: int
    wanted: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicChanges:
    """What ``ensure_topics`` did. ``changed`` is False when everything was already so."""

    created: tuple[str, ...] = ()
    reconfigured: tuple[ConfigChange, ...] = ()
    not_grown: tuple[PartitionShortfall, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.created or self.reconfigured)

    def __str__(self) -> str:
        parts = [f"created {name}" for name in self.created]
        parts += [f"set {c.topic} {c.name}={c.new} (was {c.old})" for c in self.reconfigured]
        parts += [
            f"{s.topic} has {s.existing} partitions, spec wants {s.wanted}: not grown"
            for s in self.not_grown
        ]
        return "; ".join(parts) if parts else "no change"


def not_started(what: str) -> NotConnectedError:
    """The one error every "not started" null state raises."""
    return NotConnectedError(
        f"{what} is not started: call 'await {what}.start()' or use 'async with' first"
    )


class Consumer(abc.ABC):
    """A member of a consumer group reading the group's topics.

    ``fetch`` returns records ordered by (topic, partition, offset). The consumer's
    position moves past what ``fetch`` returned; only ``commit`` makes that durable for
    the group, so a restarted consumer re-reads everything after the last commit.
    """

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @abc.abstractmethod
    async def fetch(
        self,
        *,
        max_records: int = 500,
        timeout: float = 1.0,
    ) -> list[Record]:
        """Up to ``max_records`` records, waiting up to ``timeout`` seconds for the first."""

    @abc.abstractmethod
    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Commit, per (topic, partition), the offset of the *next* record to read."""

    async def commit_record(self, record: Record) -> None:
        """Commit everything up to and including ``record`` in its partition."""
        await self.commit({(record.topic, record.partition): record.offset + 1})

    @abc.abstractmethod
    async def seek_to_beginning(self) -> None:
        """Move every assigned partition back to its first record (nothing is committed)."""

    @abc.abstractmethod
    async def seek(self, positions: Mapping[tuple[str, int], int]) -> None:
        """Read each given (topic, partition) again from the given offset (next fetch)."""

    @abc.abstractmethod
    def assignment(self) -> frozenset[tuple[str, int]]:
        """The (topic, partition) pairs this consumer currently reads."""

    @abc.abstractmethod
    async def lag(self) -> dict[tuple[str, int], int]:
        """Per assigned (topic, partition), how many records lie beyond the next one to read
        (0: caught up); a partition whose position is not known yet is left out."""

    async def caught_up(self) -> bool:
        """Every partition this consumer is assigned has a known position at its end
        (False before the group assigned any)."""
        assigned = self.assignment()
        if not assigned:
            return False
        lag = await self.lag()
        return lag.keys() == assigned and not any(lag.values())


async def read_to_end(
    transport: Transport, topic: str, *, group_id: str, within: float = 30.0
) -> list[Record]:
    """Every record of ``topic`` as it stands now, read to its end by a consumer of its own
    (``group_id``, never committed), in at most ``within`` seconds."""
    records: list[Record] = []
    deadline = time.monotonic() + within
    async with transport.consumer(group_id=group_id, topics=[topic]) as consumer:
        while time.monotonic() < deadline:
            batch = await consumer.fetch(timeout=0.3)
            records.extend(batch)
            if not batch and await consumer.caught_up():
                break
    return records


class Transport(abc.ABC):
    """Publishes records, provisions topics and makes consumers."""

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def max_request_size(self) -> int:
        """The largest record (as :func:`estimated_size` counts it) a send may carry."""
        return 1_048_576

    @abc.abstractmethod
    async def send(self, record: OutgoingRecord) -> Coordinates:
        """Publish; returns once the broker acknowledged, raises TransportError if not."""

    async def enqueue(self, record: OutgoingRecord) -> Awaitable[Coordinates]:
        """Hand ``record`` to the transport and return the acknowledgement to await later.

        Records enqueued one after another keep that order within a partition, so a
        publisher can sign and enqueue the next record of a chain before the broker
        acknowledged the previous one. The default sends and waits (no pipelining).
        """
        done: asyncio.Future[Coordinates] = asyncio.get_running_loop().create_future()
        done.set_result(await self.send(record))
        return done

    @abc.abstractmethod
    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> TopicChanges:
        """Create missing topics and set configs that differ from the specs.

        Idempotent: a second call with the same specs returns ``changed == False``.
        Configs not named in a spec are left alone. A spec with *fewer* partitions than
        the topic has raises ConfigError (Kafka cannot shrink a topic). A spec with *more*
        is reported in ``not_grown`` and the topic is left as it is: adding partitions
        moves keys to other partitions and breaks per-entity order, so growing a topic is
        an operator's decision, not a side effect of starting a service. Replication of
        an existing topic is not changed either.
        """

    @abc.abstractmethod
    async def describe_topics(self, names: Iterable[str]) -> dict[str, TopicDescription]:
        """The named topics that exist; missing names are absent from the result."""

    @abc.abstractmethod
    def consumer(
        self,
        *,
        group_id: str,
        topics: Iterable[str],
        pattern: str | None = None,
        from_beginning: bool = True,
    ) -> Consumer:
        """A new, not yet started consumer in ``group_id`` reading ``topics``.

        ``pattern`` (a regular expression matched against whole topic names) adds every
        topic that matches, including topics created after the consumer started: that is
        how an agency follows joint cases opened later, one topic per case.

        A factory only: it needs no started transport, and the consumer has its own
        connection and lifecycle (``await consumer.start()`` or ``async with``).

        With no committed offset for a partition, ``from_beginning`` starts at its first
        record, otherwise at its end.
        """
