"""The embedded transport: Kafka's semantics on one SQLite file, for one machine.

Same as Kafka: topics with partitions; offsets contiguous from 0 per partition; a keyed
record goes to the partition Kafka's default partitioner picks (murmur2), a record
without a key round-robins; key, value and headers come back byte for byte; consumer
groups keep committed offsets and resume from them. Several processes may open the same
file (SQLite WAL; writers take the write lock before choosing an offset).

Record times follow the topic's ``message.timestamp.type`` as a broker's do: the append
time for ``LogAppendTime`` (silian's topics), the producer's ``timestamp_ms`` (or now)
for ``CreateTime``, Kafka's default for a topic that does not say.

Different from Kafka, on purpose: a consumer group has a single member. Each consumer
reads *all* partitions of its topics and there is no rebalancing, so two consumers of
one group running at the same time both see every record. ``replication`` is recorded
but means nothing here, and topic configs (retention, cleanup) are recorded, not enforced:
nothing is ever deleted.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import re
import sqlite3
import time
from collections.abc import Awaitable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

from bus.errors import TransportError
from bus.state.sqlite import write_transaction
from bus.transport._sqlite import (
    Database,
    configs_to_text,
    decode_headers,
    describe,
    encode_headers,
    layout_of,
    log_end,
    partitions_of,
)
from bus.transport._topics import check_specs, plan_topics
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
    estimated_size,
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


class EmbeddedTransport(Transport):
    """Kafka's semantics in ``path`` (an SQLite file, created if missing)."""

    def __init__(self, path: Path, *, max_request_size: int = _DEFAULT_MAX_REQUEST_SIZE) -> None:
        self._path = path
        self._max_request_size = max_request_size
        self._store: _Store = _NoStore("EmbeddedTransport")
        # Null-key records round-robin per topic, per transport (as per Kafka producer).
        self._round_robin: dict[str, Iterator[int]] = {}
        self._queued: list[tuple[OutgoingRecord, asyncio.Future[Coordinates]]] = []
        self._writer: asyncio.Future[None] | None = None

    @property
    def path(self) -> Path:
        return self._path

    async def start(self) -> None:
        if isinstance(self._store, _OpenStore):
            return
        self._store = _OpenStore(await Database(self._path).open())

    async def stop(self) -> None:
        store, self._store = self._store, _NoStore("EmbeddedTransport")
        writer, self._writer = self._writer, None
        if writer is not None:
            await asyncio.gather(writer, return_exceptions=True)  # what was queued is written
        if isinstance(store, _OpenStore):
            await store.get().close()

    @property
    def max_request_size(self) -> int:
        return self._max_request_size

    async def send(self, record: OutgoingRecord) -> Coordinates:
        return await (await self.enqueue(record))

    async def enqueue(self, record: OutgoingRecord) -> Awaitable[Coordinates]:
        """Queue ``record``; records queued while a write is under way go in the next one.

        Like Kafka's producer batching: many records handed over back to back (a consumer
        quarantining a flood of junk, pipelined publishes) cost one SQLite transaction, and
        one sync to disk, between them. Order is kept: offsets follow the order of queuing.
        """
        db = self._store.get()
        size = estimated_size(record)
        if size > self._max_request_size:
            raise TransportError(
                f"send to topic {record.topic!r} failed: the record is larger than "
                f"max_request_size ({self._max_request_size} bytes): it is {size} bytes "
                "when serialized"
            )
        done: asyncio.Future[Coordinates] = asyncio.get_running_loop().create_future()
        self._queued.append((record, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_queued(db))
        return done

    async def _write_queued(self, db: Database) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            records = [record for record, _ in batch]
            try:
                placed = await db.run(
                    "sending records", functools.partial(self._append, records=records)
                )
            except TransportError as error:
                placed = [error] * len(batch)
            except BaseException as error:  # cancelled at shutdown: nothing was written
                for _, done in batch:
                    if not done.done():
                        done.set_exception(TransportError(f"send not done: {error!r}"))
                raise
            for (_, done), where in zip(batch, placed, strict=True):
                if done.done():
                    continue  # its sender gave up waiting (cancelled)
                if isinstance(where, Coordinates):
                    done.set_result(where)
                else:
                    done.set_exception(where)

    def _append(
        self, conn: sqlite3.Connection, *, records: list[OutgoingRecord]
    ) -> list[Coordinates | TransportError]:
        """Append ``records`` in one write transaction; a record to a missing topic fails
        alone, as it would on Kafka."""
        placed: list[Coordinates | TransportError] = []
        with write_transaction(conn):
            for record in records:
                layout = layout_of(conn, record.topic)
                if layout is None:
                    placed.append(
                        TransportError(
                            f"send to topic {record.topic!r} failed: the topic does not exist "
                            "(topics are created with ensure_topics)"
                        )
                    )
                    continue
                partitions, stamped = layout
                moment = time.time_ns() // 1_000_000
                if stamped is TimestampType.CREATE_TIME and record.timestamp_ms is not None:
                    moment = record.timestamp_ms
                if record.key is None:
                    counter = self._round_robin.setdefault(record.topic, itertools.count())
                    partition = next(counter) % partitions
                else:
                    partition = partition_for_key(record.key, partitions)
                offset = log_end(conn, record.topic, partition)
                conn.execute(
                    "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.topic,
                        partition,
                        offset,
                        record.key,
                        record.value,
                        encode_headers(record.headers),
                        moment,
                        int(stamped),
                    ),
                )
                placed.append(Coordinates(topic=record.topic, partition=partition, offset=offset))
        return placed

    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> TopicChanges:
        db = self._store.get()
        checked = check_specs(specs)

        def ensure(conn: sqlite3.Connection) -> TopicChanges:
            # One write transaction: the check and the change see the same state even when
            # another process ensures the same topics at the same moment.
            with write_transaction(conn):
                plan = plan_topics(checked, describe(conn, (s.name for s in checked)))
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
        return await db.run("describing topics", lambda conn: describe(conn, wanted))

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
        db = await Database(self._path).open()
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
            for partition in range(partitions_of(conn, topic) or 0):
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
                    start = log_end(conn, topic, partition)
                self._positions[(topic, partition)] = start

    def _read(self, conn: sqlite3.Connection, max_records: int) -> list[Record]:
        self._refresh_assignment(conn)
        records: list[Record] = []
        for topic, partition in sorted(self._positions):
            room = max_records - len(records)
            if room <= 0:
                break
            rows = conn.execute(
                "SELECT offset_no, key, value, headers, timestamp_ms, timestamp_type FROM records "
                "WHERE topic = ? AND partition_no = ? AND offset_no >= ? "
                "ORDER BY offset_no LIMIT ?",
                (topic, partition, self._positions[(topic, partition)], room),
            ).fetchall()
            for offset, key, value, headers, timestamp_ms, stamped in rows:
                records.append(
                    Record(
                        topic=topic,
                        partition=partition,
                        offset=offset,
                        key=None if key is None else bytes(key),
                        value=None if value is None else bytes(value),
                        headers=decode_headers(headers),
                        timestamp_ms=timestamp_ms,
                        timestamp_type=TimestampType(stamped),
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

    async def lag(self) -> dict[tuple[str, int], int]:
        positions = dict(self._positions)

        def measure(conn: sqlite3.Connection) -> dict[tuple[str, int], int]:
            return {
                where: max(0, log_end(conn, *where) - position)
                for where, position in positions.items()
            }

        return await self._store.get().run("measuring the lag", measure)
