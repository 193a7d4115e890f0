"""The agency's local store (SQLite): what must survive a restart of its bus process.

* ``chains`` — this agency's own chains: the next sequence number and last record hash
  per (chain id, topic), so a restarted publisher continues its chains without a gap;
* ``peer_chains`` — the last verified (seq, hash) of every chain this agency consumed;
* ``processed`` — (ce_source, ce_id) of every record dealt with, and where (dedup);
* ``ledger`` — every event this agency published or accepted, for lifecycle state,
  ``silian status`` and the receipt tracker;
* ``receipts`` — who must still answer which event, by when.

All calls are async; SQLite work runs in a worker thread. One connection per store.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bus.errors import NotConnectedError

__all__ = ["ChainHead", "LedgerEntry", "LocalStore", "PendingReceipt"]

GENESIS_HASH = "0" * 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chains (
    chain_id TEXT NOT NULL, topic TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (chain_id, topic));
CREATE TABLE IF NOT EXISTS peer_chains (
    chain_id TEXT NOT NULL, topic TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (chain_id, topic));
CREATE TABLE IF NOT EXISTS processed (
    source TEXT NOT NULL, event_id TEXT NOT NULL, origin TEXT NOT NULL, outcome TEXT NOT NULL,
    PRIMARY KEY (source, event_id));
CREATE TABLE IF NOT EXISTS ledger (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL, event_id TEXT NOT NULL, ce_type TEXT NOT NULL, ce_time TEXT NOT NULL,
    subject TEXT NOT NULL, topic TEXT NOT NULL, data BLOB NOT NULL,
    UNIQUE (source, event_id));
CREATE TABLE IF NOT EXISTS receipts (
    source TEXT NOT NULL, event_id TEXT NOT NULL, recipient TEXT NOT NULL,
    ce_type TEXT NOT NULL, subject TEXT NOT NULL, priority TEXT NOT NULL,
    due TEXT NOT NULL, received_at TEXT, handled_at TEXT, rejected TEXT,
    PRIMARY KEY (source, event_id, recipient));
"""


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainHead:
    seq: int
    hash: str


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerEntry:
    source: str
    event_id: str
    ce_type: str
    ce_time: str
    subject: str
    topic: str
    data: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingReceipt:
    source: str
    event_id: str
    recipient: str
    ce_type: str
    subject: str
    priority: str
    due: str
    received_at: str | None
    handled_at: str | None
    rejected: str | None


class _Closed:
    def __getattr__(self, name: str) -> Any:
        raise NotConnectedError("the local store is not open; call `await store.open()` first")


class LocalStore:
    """One agency's SQLite store. ``async with LocalStore(path) as store: ...``"""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | _Closed = _Closed()
        self._lock = asyncio.Lock()

    async def open(self) -> LocalStore:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = await asyncio.to_thread(
            sqlite3.connect, str(self.path), check_same_thread=False, isolation_level=None
        )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        self._db = db
        return self

    async def close(self) -> None:
        if isinstance(self._db, sqlite3.Connection):
            db, self._db = self._db, _Closed()
            await asyncio.to_thread(db.close)

    async def __aenter__(self) -> LocalStore:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, sql: str, params: Iterable[object] = ()) -> list[tuple[Any, ...]]:
        db = self._db
        async with self._lock:
            return await asyncio.to_thread(lambda: db.execute(sql, tuple(params)).fetchall())

    # -- identity ---------------------------------------------------------------------
    async def process_chain_id(self, agency: str, publisher: str) -> str:
        """The stable chain id of this publishing process (created once, then reused)."""
        name = f"chain:{publisher}"
        rows = await self._run("SELECT value FROM meta WHERE name = ?", (name,))
        if rows:
            return str(rows[0][0])
        chain_id = f"{agency}.{publisher}.{uuid.uuid4().hex[:12]}"
        await self._run("INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", (name, chain_id))
        rows = await self._run("SELECT value FROM meta WHERE name = ?", (name,))
        return str(rows[0][0])

    # -- own chains ---------------------------------------------------------------------
    async def chain_head(self, chain_id: str, topic: str) -> ChainHead:
        rows = await self._run(
            "SELECT seq, hash FROM chains WHERE chain_id = ? AND topic = ?", (chain_id, topic)
        )
        if not rows:
            return ChainHead(seq=0, hash=GENESIS_HASH)
        return ChainHead(seq=int(str(rows[0][0])), hash=str(rows[0][1]))

    async def advance_chain(self, chain_id: str, topic: str, head: ChainHead) -> None:
        await self._run(
            "INSERT INTO chains (chain_id, topic, seq, hash) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (chain_id, topic) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (chain_id, topic, head.seq, head.hash),
        )

    # -- peer chains ----------------------------------------------------------------------
    async def peer_head(self, chain_id: str, topic: str) -> ChainHead | None:
        rows = await self._run(
            "SELECT seq, hash FROM peer_chains WHERE chain_id = ? AND topic = ?",
            (chain_id, topic),
        )
        return ChainHead(seq=int(str(rows[0][0])), hash=str(rows[0][1])) if rows else None

    async def set_peer_head(self, chain_id: str, topic: str, head: ChainHead) -> None:
        await self._run(
            "INSERT INTO peer_chains (chain_id, topic, seq, hash) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (chain_id, topic) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (chain_id, topic, head.seq, head.hash),
        )

    # -- dedup --------------------------------------------------------------------------
    async def processed_origin(self, source: str, event_id: str) -> str | None:
        """Where (``topic/partition/offset``) this event was dealt with, if it was."""
        rows = await self._run(
            "SELECT origin FROM processed WHERE source = ? AND event_id = ?", (source, event_id)
        )
        return str(rows[0][0]) if rows else None

    async def mark_processed(
        self, source: str, event_id: str, *, origin: str, outcome: str
    ) -> None:
        await self._run(
            "INSERT OR IGNORE INTO processed (source, event_id, origin, outcome)"
            " VALUES (?, ?, ?, ?)",
            (source, event_id, origin, outcome),
        )

    # -- ledger -------------------------------------------------------------------------
    async def record(self, entry: LedgerEntry) -> bool:
        """Add an event to the ledger; False if it was there already."""
        rows = await self._run(
            "INSERT OR IGNORE INTO ledger (source, event_id, ce_type, ce_time, subject, topic,"
            " data) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING position",
            (
                entry.source,
                entry.event_id,
                entry.ce_type,
                entry.ce_time,
                entry.subject,
                entry.topic,
                entry.data,
            ),
        )
        return bool(rows)

    async def ledger(self, *, subject: str | None = None) -> list[LedgerEntry]:
        sql = "SELECT source, event_id, ce_type, ce_time, subject, topic, data FROM ledger"
        params: tuple[object, ...] = ()
        if subject is not None:
            sql += " WHERE subject = ?"
            params = (subject,)
        rows = await self._run(sql + " ORDER BY position", params)
        return [
            LedgerEntry(
                source=str(r[0]),
                event_id=str(r[1]),
                ce_type=str(r[2]),
                ce_time=str(r[3]),
                subject=str(r[4]),
                topic=str(r[5]),
                data=bytes(r[6]),
            )
            for r in rows
        ]

    # -- receipts -----------------------------------------------------------------------
    async def expect_receipts(
        self,
        *,
        source: str,
        event_id: str,
        ce_type: str,
        subject: str,
        priority: str,
        due: str,
        recipients: Iterable[str],
    ) -> None:
        for recipient in recipients:
            await self._run(
                "INSERT OR IGNORE INTO receipts (source, event_id, recipient, ce_type, subject,"
                " priority, due) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (source, event_id, recipient, ce_type, subject, priority, due),
            )

    async def note_receipt(
        self,
        *,
        source: str,
        event_id: str,
        recipient: str,
        kind: str,
        at: str,
        reason: str | None = None,
    ) -> bool:
        """Record a receipt; False when no receipt was expected from that recipient."""
        column = {"received": "received_at", "handled": "handled_at", "rejected": "rejected"}[kind]
        value = at if kind != "rejected" else f"{at} {reason or ''}".strip()
        rows = await self._run(
            f"UPDATE receipts SET {column} = COALESCE({column}, ?) "  # noqa: S608 - fixed names
            "WHERE source = ? AND event_id = ? AND recipient = ? RETURNING 1",
            (value, source, event_id, recipient),
        )
        return bool(rows)

    async def receipts(self, *, open_only: bool = False) -> list[PendingReceipt]:
        sql = (
            "SELECT source, event_id, recipient, ce_type, subject, priority, due, received_at,"
            " handled_at, rejected FROM receipts"
        )
        if open_only:
            sql += " WHERE handled_at IS NULL AND rejected IS NULL"
        rows = await self._run(sql + " ORDER BY due, event_id, recipient")
        return [
            PendingReceipt(
                source=str(r[0]),
                event_id=str(r[1]),
                recipient=str(r[2]),
                ce_type=str(r[3]),
                subject=str(r[4]),
                priority=str(r[5]),
                due=str(r[6]),
                received_at=None if r[7] is None else str(r[7]),
                handled_at=None if r[8] is None else str(r[8]),
                rejected=None if r[9] is None else str(r[9]),
            )
            for r in rows
        ]
