"""The embedded transport: Kafka's semantics on one SQLite file, for one machine.

Same as Kafka: topics with partitions; offsets contiguous from 0 per partition; a keyed
record goes to the partition Kafka's default partitioner picks (murmur2), a record
without a key round-robins; key, value and headers come back byte for byte; consumer
groups keep committed offsets and resume from them. Several processes may open the same
file (SQLite WAL; writers take the write lock before choosing an offset).

Different from Kafka, on purpose: a consumer group has a single member. Each consumer
reads *all* partitions of its topics and there is no rebalancing, so two consumers of
one group running at the same time both see every record. ``replication`` is recorded
but means nothing here, and topic configs (retention, cleanup) are recorded, not enforced:
nothing is ever deleted.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from bus.errors import TransportError
from bus.transport._sqlite import (
    Database,
    configs_from_text,
    configs_to_text,
    decode_headers,
    encode_headers,
    write_transaction,
)
from bus.transport._topics import check_specs, plan_topics
from bus.transport.base import (
    Consumer,
    Coordinates,
    OutgoingRecord,
    Record,
    TopicChanges,
    TopicDescription,
    TopicSpec,
    Transport,
    not_started,
)
from bus.transport.partitioner import partition_for_key

__all__ = ["EmbeddedConsumer", "EmbeddedTransport"]

# How often a waiting fetch looks for new records (other processes may append any time).
_POLL_INTERVAL_S = 0.02
_DEFAULT_MAX_REQUEST_SIZE = 1_048_576


class _Store(Protocol):
    def get(self) -> Database: ...


class _NoStore:
    """The null state of a transport or consumer that is not started (or was stopped)."""

    def __init__(self, owner: str) -> None:
        self._owner = owner

    def get(self) -> Database:
        raise not_started(self._owner)


class _OpenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self) -> Database:
        return self._db


def _describe(conn: sqlite3.Connection, names: Iterable[str]) -> dict[str, TopicDescription]:
    found: dict[str, TopicDescription] = {}
    for name in names:
        row = conn.execute(
            "SELECT partitions, replication, configs FROM topics WHERE name = ?", (name,)
        ).fetchone()
        if row is not None:
            found[name] = TopicDescription(
                name=name, partitions=row[0], replication=row[1], configs=configs_from_text(row[2])
            )
    return found


def _partitions(conn: sqlite3.Connection, topic: str) -> int | None:
    row = conn.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
    return None if row is None else int(row[0])


def _log_end(conn: sqlite3.Connection, topic: str, partition: int) -> int:
    row = conn.execute(
        "SELECT COALESCE(MAX(offset_no) + 1, 0) FROM records WHERE topic = ? AND partition_no = ?",
        (topic, partition),
    ).fetchone()
    return int(row[0])


class EmbeddedTransport(Transport):
    """Kafka's semantics in ``path`` (an SQLite file, created if missing)."""

    def __init__(self, path: Path, *, max_request_size: int = _DEFAULT_MAX_REQUEST_SIZE) -> None:
        self._path = path
        self._max_request_size = max_request_size
        self._store: _Store = _NoStore("EmbeddedTransport")
        # Null-key records round-robin per topic, per transport (as per Kafka producer).
        self._round_robin: dict[str, Iterator[int]] = {}

    @property
    def path(self) -> Path:
        return self._path

    async def start(self) -> None:
        if isinstance(self._store, _OpenStore):
            return
        self._store = _OpenStore(await Database.open(self._path))

    async def stop(self) -> None:
        store, self._store = self._store, _NoStore("EmbeddedTransport")
        if isinstance(store, _OpenStore):
            await store.get().close()

    async def send(self, record: OutgoingRecord) -> Coordinates:
        db = self._store.get()
        action = f"send to topic {record.topic!r}"
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(
            record.key, record.value, list(record.headers)
        )
        if size > self._max_request_size:
            raise TransportError(
                f"{action} failed: the record is larger than max_request_size "
                f"({self._max_request_size} bytes): it is {size} bytes when serialized"
            )
        counter = self._round_robin.setdefault(record.topic, itertools.count())
        headers = encode_headers(record.headers)

        def append(conn: sqlite3.Connection) -> Coordinates:
            with write_transaction(conn):
                partitions = _partitions(conn, record.topic)
                if partitions is None:
                    raise TransportError(
                        f"{action} failed: the topic does not exist "
                        "(topics are created with ensure_topics)"
                    )
                partition = (
                    next(counter) % partitions
                    if record.key is None
                    else partition_for_key(record.key, partitions)
                )
                offset = _log_end(conn, record.topic, partition)
                conn.execute(
                    "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.topic,
                        partition,
                        offset,
                        record.key,
                        record.value,
                        headers,
                        time.time_ns() // 1_000_000,
                    ),
                )
            return Coordinates(topic=record.topic, partition=partition, offset=offset)

        return await db.run(action, append)

    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> TopicChanges:
        db = self._store.get()
        checked = check_specs(specs)

        def ensure(conn: sqlite3.Connection) -> TopicChanges:
            # One write transaction: the check and the change see the same state even when
            # another process ensures the same topics at the same moment.
            with write_transaction(conn):
                plan = plan_topics(checked, _describe(conn, (s.name for s in checked)))
                for spec in plan.create:
                    conn.execute(
                        "INSERT INTO topics VALUES (?, ?, ?, ?)",
                        (
                            spec.name,
                            spec.partitions,
                            spec.replication,
                            configs_to_text(dict(spec.configs)),
                        ),
                    )
                for name, configs in plan.reconfigure.items():
                    conn.execute(
                        "UPDATE topics SET configs = ? WHERE name = ?",
                        (configs_to_text(dict(configs)), name),
                    )
            return plan.changes

        return await db.run("ensuring topics", ensure)

    async def describe_topics(self, names: Iterable[str]) -> dict[str, TopicDescription]:
        db = self._store.get()
        wanted = list(names)
        return await db.run("describing topics", lambda conn: _describe(conn, wanted))

    def consumer(
        self,
        *,
        group_id: str,
        topics: Iterable[str],
        pattern: str | None = None,
        from_beginning: bool = True,
    ) -> EmbeddedConsumer:
        return EmbeddedConsumer(
            self._path,
            group_id=group_id,
            topics=tuple(topics),
            pattern=pattern,
            from_beginning=from_beginning,
        )


class EmbeddedConsumer(Consumer):
    """The single member of its group: reads every partition of its topics."""

    def __init__(
        self,
        path: Path,
        *,
        group_id: str,
        topics: tuple[str, ...],
        pattern: str | None = None,
        from_beginning: bool,
    ) -> None:
        if not topics and not pattern:
            raise TransportError(f"consumer group {group_id!r} was given no topics")
        self._path = path
        self._group_id = group_id
        self._topics = topics
        self._pattern = re.compile(pattern) if pattern else None
        self._from_beginning = from_beginning
        self._store: _Store = _NoStore("EmbeddedConsumer")
        # Next offset to read per assigned (topic, partition); like Kafka's fetch position.
        self._positions: dict[tuple[str, int], int] = {}

    async def start(self) -> None:
        if isinstance(self._store, _OpenStore):
            return
        db = await Database.open(self._path)
        self._store = _OpenStore(db)
        self._positions = {}
        await db.run("joining the group", self._refresh_assignment)

    async def stop(self) -> None:
        store, self._store = self._store, _NoStore("EmbeddedConsumer")
        self._positions = {}
        if isinstance(store, _OpenStore):
            await store.get().close()

    def _refresh_assignment(self, conn: sqlite3.Connection) -> None:
        """Pick up partitions of subscribed topics (topics may be created after start)."""
        topics = list(self._topics)
        if self._pattern is not None:
            names = (str(row[0]) for row in conn.execute("SELECT name FROM topics"))
            topics += [n for n in names if n not in topics and self._pattern.match(n)]
        for topic in topics:
            for partition in range(_partitions(conn, topic) or 0):
                if (topic, partition) in self._positions:
                    continue
                row = conn.execute(
                    "SELECT next_offset FROM group_offsets "
                    "WHERE group_id = ? AND topic = ? AND partition_no = ?",
                    (self._group_id, topic, partition),
                ).fetchone()
                if row is not None:
                    start = int(row[0])
                elif self._from_beginning:
                    start = 0
                else:
                    start = _log_end(conn, topic, partition)
                self._positions[(topic, partition)] = start

    def _read(self, conn: sqlite3.Connection, max_records: int) -> list[Record]:
        self._refresh_assignment(conn)
        records: list[Record] = []
        for topic, partition in sorted(self._positions):
            room = max_records - len(records)
            if room <= 0:
                break
            rows = conn.execute(
                "SELECT offset_no, key, value, headers, timestamp_ms FROM records "
                "WHERE topic = ? AND partition_no = ? AND offset_no >= ? "
                "ORDER BY offset_no LIMIT ?",
                (topic, partition, self._positions[(topic, partition)], room),
            ).fetchall()
            for offset, key, value, headers, timestamp_ms in rows:
                records.append(
                    Record(
                        topic=topic,
                        partition=partition,
                        offset=offset,
                        key=None if key is None else bytes(key),
                        value=bytes(value),
                        headers=decode_headers(headers),
                        timestamp_ms=timestamp_ms,
                    )
                )
            if rows:
                self._positions[(topic, partition)] = rows[-1][0] + 1
        return records

    async def fetch(
        self,
        *,
        max_records: int = 500,
        timeout: float = 1.0,
    ) -> list[Record]:
        db = self._store.get()
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, got {max_records}")
        deadline = time.monotonic() + max(0.0, timeout)
        action = f"fetching for group {self._group_id!r}"
        while True:
            records = await db.run(action, lambda conn: self._read(conn, max_records))
            remaining = deadline - time.monotonic()
            if records or remaining <= 0:
                return records
            await asyncio.sleep(min(_POLL_INTERVAL_S, remaining))

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        db = self._store.get()
        for (topic, partition), offset in offsets.items():
            if (topic, partition) not in self._positions:
                raise TransportError(
                    f"group {self._group_id!r} cannot commit {topic}[{partition}]: "
                    "the partition is not assigned to this consumer"
                )
            if offset < 0:
                raise TransportError(f"cannot commit negative offset {offset} for {topic}")

        def store(conn: sqlite3.Connection) -> None:
            with write_transaction(conn):
                conn.executemany(
                    "INSERT INTO group_offsets VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (group_id, topic, partition_no) "
                    "DO UPDATE SET next_offset = excluded.next_offset",
                    [(self._group_id, t, p, o) for (t, p), o in offsets.items()],
                )

        await db.run(f"committing offsets of group {self._group_id!r}", store)

    async def seek_to_beginning(self) -> None:
        self._store.get()
        self._positions = dict.fromkeys(self._positions, 0)

    async def seek(self, positions: Mapping[tuple[str, int], int]) -> None:
        self._store.get()
        for where, offset in positions.items():
            if where in self._positions:
                self._positions[where] = offset

    def assignment(self) -> frozenset[tuple[str, int]]:
        self._store.get()
        return frozenset(self._positions)
