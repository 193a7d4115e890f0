"""Embedded-only behaviour: storage format, several processes, single-member groups."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest

import bus
from bus.errors import TransportError
from bus.transport import EmbeddedTransport, OutgoingRecord, TopicSpec
from bus.transport._sqlite import decode_headers, encode_headers
from bus.transport.base import TimestampType


def spec(name: str = "t", partitions: int = 1) -> TopicSpec:
    return TopicSpec(name=name, partitions=partitions, replication=1)


@pytest.mark.parametrize(
    "headers",
    [
        (),
        (("", b""),),
        (("签名", bytes(range(256))), ("ce_id", b"0190"), ("ce_id", b"dup")),
    ],
)
def test_header_codec_round_trips(headers: tuple[tuple[str, bytes], ...]) -> None:
    assert decode_headers(encode_headers(headers)) == headers


async def test_null_keys_round_robin(tmp_path: Path) -> None:
    async with EmbeddedTransport(tmp_path / "bus.db") as transport:
        await transport.ensure_topics([spec(partitions=3)])
        placed = [
            (await transport.send(OutgoingRecord(topic="t", key=None, value=b"v"))).partition
            for _ in range(6)
        ]
    assert placed == [0, 1, 2, 0, 1, 2]


async def test_records_and_commits_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "bus.db"
    async with EmbeddedTransport(path) as transport:
        await transport.ensure_topics([spec()])
        for value in (b"a", b"b", b"c"):
            await transport.send(OutgoingRecord(topic="t", key=b"k", value=value))
        async with transport.consumer(group_id="g", topics=["t"]) as consumer:
            first = await consumer.fetch(max_records=1, timeout=0)
            await consumer.commit_record(first[0])
    async with EmbeddedTransport(path) as reopened:
        assert not (await reopened.ensure_topics([spec()])).changed
        async with reopened.consumer(group_id="g", topics=["t"]) as consumer:
            rest = await consumer.fetch(timeout=0)
    assert [r.value for r in first + rest] == [b"a", b"b", b"c"]


async def test_group_has_a_single_member_that_reads_every_partition(tmp_path: Path) -> None:
    # Documented difference from Kafka: no partition sharing between members of a group.
    async with EmbeddedTransport(tmp_path / "bus.db") as transport:
        await transport.ensure_topics([spec(partitions=3)])
        for i in range(6):
            await transport.send(OutgoingRecord(topic="t", key=f"k{i}".encode(), value=b"v"))
        one = transport.consumer(group_id="g", topics=["t"])
        two = transport.consumer(group_id="g", topics=["t"])
        async with one, two:
            assert one.assignment() == two.assignment() == {("t", 0), ("t", 1), ("t", 2)}
            assert len(await one.fetch(timeout=0)) == len(await two.fetch(timeout=0)) == 6


async def test_consumer_picks_up_a_topic_created_after_it_started(tmp_path: Path) -> None:
    transport = EmbeddedTransport(tmp_path / "bus.db")
    async with transport, transport.consumer(group_id="g", topics=["later"]) as consumer:
        assert await consumer.fetch(timeout=0) == []
        assert consumer.assignment() == frozenset()
        await transport.ensure_topics([spec("later")])
        await transport.send(OutgoingRecord(topic="later", key=b"k", value=b"v"))
        assert [r.value for r in await consumer.fetch(timeout=1)] == [b"v"]


async def test_fetch_wakes_up_when_a_record_arrives(tmp_path: Path) -> None:
    async with EmbeddedTransport(tmp_path / "bus.db") as transport:
        await transport.ensure_topics([spec()])
        async with transport.consumer(group_id="g", topics=["t"]) as consumer:
            waiting = asyncio.create_task(consumer.fetch(timeout=10))
            await asyncio.sleep(0.1)
            await transport.send(OutgoingRecord(topic="t", key=b"k", value=b"v"))
            records = await asyncio.wait_for(waiting, timeout=2)
    assert [r.value for r in records] == [b"v"]


async def test_commit_of_unassigned_partition_is_refused(tmp_path: Path) -> None:
    async with EmbeddedTransport(tmp_path / "bus.db") as transport:
        await transport.ensure_topics([spec()])
        async with transport.consumer(group_id="g", topics=["t"]) as consumer:
            with pytest.raises(TransportError, match="not assigned"):
                await consumer.commit({("t", 5): 1})


_PROJECT_ROOT = Path(bus.__file__).resolve().parent.parent

_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from bus.transport import EmbeddedTransport, OutgoingRecord

    async def main(path: str, name: str) -> None:
        async with EmbeddedTransport(Path(path)) as transport:
            for i in range(150):
                value = f"{name}-{i}".encode()
                await transport.send(OutgoingRecord(topic="t", key=b"same", value=value))

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def test_several_processes_append_with_contiguous_offsets(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    async with EmbeddedTransport(path) as transport:
        await transport.ensure_topics([spec()])
        writers = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", _WRITER, str(path), name, cwd=_PROJECT_ROOT
            )
            for name in ("p1", "p2", "p3")
        ]
        assert [await w.wait() for w in writers] == [0, 0, 0]
        async with transport.consumer(group_id="g", topics=["t"]) as consumer:
            records = await consumer.fetch(max_records=1000, timeout=0)
    assert [r.offset for r in records] == list(range(450))
    for name in ("p1", "p2", "p3"):
        mine = [r.value for r in records if r.value.startswith(name.encode())]
        assert mine == [f"{name}-{i}".encode() for i in range(150)]


async def test_a_file_from_before_tombstones_is_rebuilt_and_keeps_its_records(
    tmp_path: Path,
) -> None:
    """Earlier files had ``value NOT NULL`` and no ``timestamp_type``: opened now, the old
    records read back as they were (stamped at append), and a tombstone can be stored."""
    path = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(path)) as old:
        old.execute(
            "CREATE TABLE records (topic TEXT NOT NULL, partition_no INTEGER NOT NULL,"
            " offset_no INTEGER NOT NULL, key BLOB, value BLOB NOT NULL, headers BLOB NOT NULL,"
            " timestamp_ms INTEGER NOT NULL, PRIMARY KEY (topic, partition_no, offset_no))"
            " WITHOUT ROWID"
        )
        old.execute(
            "CREATE TABLE topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL,"
            " replication INTEGER NOT NULL, configs TEXT NOT NULL)"
        )
        old.execute("INSERT INTO topics VALUES ('t', 1, 1, '{}')")
        old.execute(
            "INSERT INTO records VALUES ('t', 0, 0, X'6b', X'76', ?, 1700000000000)",
            (encode_headers((("h", b"1"),)),),
        )
        old.commit()
    path.chmod(0o600)
    async with EmbeddedTransport(path) as transport:
        await transport.send(OutgoingRecord(topic="t", key=b"k", value=None))
        async with transport.consumer(group_id="g", topics=["t"]) as consumer:
            records = await consumer.fetch(max_records=10, timeout=0)
    assert [(r.offset, r.key, r.value, r.headers) for r in records] == [
        (0, b"k", b"v", (("h", b"1"),)),
        (1, b"k", None, ()),
    ]
    assert records[0].timestamp_ms == 1700000000000
    assert records[0].timestamp_type is TimestampType.LOG_APPEND_TIME


async def test_sqlite_errors_are_transport_errors_naming_the_action_and_the_file(
    tmp_path: Path,
) -> None:
    garbage = tmp_path / "not-a-database.db"
    garbage.write_bytes(b"this is no SQLite file, whatever its name says" * 100)
    garbage.chmod(0o600)
    with pytest.raises(TransportError, match=rf"cannot open embedded store {garbage}: .*database"):
        await EmbeddedTransport(garbage).start()

    path = tmp_path / "bus.db"
    async with EmbeddedTransport(path) as transport:
        with contextlib.closing(sqlite3.connect(path)) as other:
            other.execute("DROP TABLE topics")
        with pytest.raises(
            TransportError, match=rf"describing topics failed in {path}: no such table: topics"
        ):
            await transport.describe_topics(["t"])
