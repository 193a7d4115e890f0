"""The embedded transport's storage: one SQLite file in WAL mode, shared by processes.

Opened and used as :mod:`bus.state.sqlite` says (``synchronous=FULL``: a committed append
survives a power cut, as an acknowledged send must). Every write runs in a
:func:`~bus.state.sqlite.write_transaction`, which takes SQLite's write lock up front: two
processes appending to one partition therefore never compute the same next offset, and
offsets stay contiguous from 0. Readers never block writers (WAL).
"""

from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from bus.errors import TransportError
from bus.state.sqlite import Database as SqliteDatabase
from bus.state.sqlite import Folder, Layout
from bus.transport.base import Headers, TimestampType, TopicDescription

__all__ = [
    "Database",
    "configs_from_text",
    "configs_to_text",
    "decode_headers",
    "describe",
    "encode_headers",
    "layout_of",
    "log_end",
    "partitions_of",
]

T = TypeVar("T")

_RECORDS = """
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL,
    partition_no INTEGER NOT NULL,
    offset_no INTEGER NOT NULL,
    key BLOB,
    value BLOB,
    headers BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    timestamp_type INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (topic, partition_no, offset_no)
) WITHOUT ROWID
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    name TEXT PRIMARY KEY,
    partitions INTEGER NOT NULL,
    replication INTEGER NOT NULL,
    configs TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS group_offsets (
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition_no INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition_no)
) WITHOUT ROWID;
"""

_LENGTH = struct.Struct(">I")
_NULL = 0xFFFFFFFF  # the length of a null header value (Kafka's -1)


def encode_headers(headers: Headers) -> bytes:
    """Length-prefixed names and values, so every byte comes back as it went in.

    A name is stored as the bytes it was read from (UTF-8, or ``surrogateescape`` for one
    that is not); a null value as the length ``0xFFFFFFFF``.
    """
    out = bytearray(_LENGTH.pack(len(headers)))
    for name, value in headers:
        raw_name = name.encode("utf-8", "surrogateescape")
        out += _LENGTH.pack(len(raw_name)) + raw_name
        out += _LENGTH.pack(_NULL) if value is None else _LENGTH.pack(len(value)) + value
    return bytes(out)


def decode_headers(blob: bytes) -> Headers:
    (count,) = _LENGTH.unpack_from(blob, 0)
    at = _LENGTH.size
    headers: list[tuple[str, bytes | None]] = []
    for _ in range(count):
        (size,) = _LENGTH.unpack_from(blob, at)
        at += _LENGTH.size
        name = blob[at : at + size].decode("utf-8", "surrogateescape")
        at += size
        (size,) = _LENGTH.unpack_from(blob, at)
        at += _LENGTH.size
        if size == _NULL:
            headers.append((name, None))
            continue
        headers.append((name, bytes(blob[at : at + size])))
        at += size
    return tuple(headers)


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a file made by an earlier silian up to this schema (inside the write lock).

    Earlier files could not hold a tombstone (``value NOT NULL``) and had no
    ``timestamp_type`` (every record was stamped at append, which ``1`` says).
    """
    columns = {row[1]: row for row in conn.execute("PRAGMA table_info(records)")}
    if "timestamp_type" in columns and not columns["value"][3]:
        return
    conn.execute("ALTER TABLE records RENAME TO records_old")
    conn.execute(_RECORDS)
    conn.execute(
        "INSERT INTO records (topic, partition_no, offset_no, key, value, headers, timestamp_ms)"
        " SELECT topic, partition_no, offset_no, key, value, headers, timestamp_ms"
        " FROM records_old"
    )
    conn.execute("DROP TABLE records_old")


# Several processes share the file: a writer waits up to 30 s for another's write lock.
# ``--embedded`` names a file of the operator's, in a folder that is theirs.
_LAYOUT = Layout(
    schema=_SCHEMA + _RECORDS, migrate=_migrate, folder=Folder.GIVEN, busy_timeout=30.0
)


class Database:
    """The embedded transport's file; SQLite's errors become TransportError, naming the
    action and the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = SqliteDatabase(path, _LAYOUT, not_open=f"the embedded store {path} is not open")

    async def open(self) -> Database:
        try:
            await self._db.open()
        except sqlite3.Error as error:
            raise TransportError(f"cannot open embedded store {self.path}: {error}") from error
        return self

    async def run(self, action: str, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on the file's worker thread; SQLite errors become TransportError."""
        try:
            return await self._db.run(work)
        except sqlite3.Error as error:
            raise TransportError(f"{action} failed in {self.path}: {error}") from error

    async def close(self) -> None:
        await self._db.close()


def configs_to_text(configs: dict[str, str]) -> str:
    return json.dumps(configs, sort_keys=True, ensure_ascii=False)


def configs_from_text(text: str) -> dict[str, str]:
    loaded = json.loads(text)
    return {str(k): str(v) for k, v in loaded.items()}


# -- reading the topics table ----------------------------------------------------------------


def describe(conn: sqlite3.Connection, names: Iterable[str]) -> dict[str, TopicDescription]:
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


def partitions_of(conn: sqlite3.Connection, topic: str) -> int | None:
    row = conn.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
    return None if row is None else int(row[0])


def layout_of(conn: sqlite3.Connection, topic: str) -> tuple[int, TimestampType] | None:
    """A topic's partitions and who stamps its records' times (Kafka's default: producer)."""
    row = conn.execute("SELECT partitions, configs FROM topics WHERE name = ?", (topic,)).fetchone()
    if row is None:
        return None
    stamped = configs_from_text(row[1]).get("message.timestamp.type", "CreateTime")
    kind = (
        TimestampType.LOG_APPEND_TIME if stamped == "LogAppendTime" else TimestampType.CREATE_TIME
    )
    return int(row[0]), kind


def log_end(conn: sqlite3.Connection, topic: str, partition: int) -> int:
    row = conn.execute(
        "SELECT COALESCE(MAX(offset_no) + 1, 0) FROM records WHERE topic = ? AND partition_no = ?",
        (topic, partition),
    ).fetchone()
    return int(row[0])
