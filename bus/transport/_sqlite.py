"""The embedded transport's storage: one SQLite file in WAL mode, shared by processes.

Every write runs in a ``BEGIN IMMEDIATE`` transaction, which takes SQLite's write lock up
front: two processes appending to one partition therefore never compute the same next
offset, and offsets stay contiguous from 0. Readers never block writers (WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from bus.errors import TransportError
from bus.state.private import private_database, private_parents
from bus.transport.base import Headers

__all__ = [
    "Database",
    "configs_from_text",
    "configs_to_text",
    "decode_headers",
    "encode_headers",
    "write_transaction",
]

T = TypeVar("T")

# How long a writer waits for another process's write lock before giving up.
_BUSY_TIMEOUT_S = 30.0

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


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A transaction that holds the database's write lock from its first statement."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class Database:
    """One connection, used from worker threads one call at a time (never the loop)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> Database:
        def connect() -> sqlite3.Connection:
            private_parents(path)  # --embedded may name a folder of the operator's
            private_database(path)
            conn = sqlite3.connect(
                path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                # FULL: a committed append survives a power cut, as an acknowledged send must.
                conn.execute("PRAGMA synchronous=FULL")
                with write_transaction(conn):
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(_RECORDS)
                    _migrate(conn)
            except BaseException:
                conn.close()
                raise
            return conn

        try:
            conn = await asyncio.to_thread(connect)
        except sqlite3.Error as error:
            raise TransportError(f"cannot open embedded store {path}: {error}") from error
        return cls(conn, path)

    async def run(self, action: str, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on a worker thread; SQLite errors become TransportError."""

        def locked() -> T:
            with self._lock:
                return work(self._conn)

        try:
            return await asyncio.to_thread(locked)
        except sqlite3.Error as error:
            raise TransportError(f"{action} failed in {self.path}: {error}") from error

    async def close(self) -> None:
        def close() -> None:
            with self._lock:
                self._conn.close()

        await asyncio.to_thread(close)


def configs_to_text(configs: dict[str, str]) -> str:
    return json.dumps(configs, sort_keys=True, ensure_ascii=False)


def configs_from_text(text: str) -> dict[str, str]:
    loaded = json.loads(text)
    return {str(k): str(v) for k, v in loaded.items()}
