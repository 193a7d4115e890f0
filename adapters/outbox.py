"""The adapter's own durable state (SQLite in the agency's state folder): store-and-forward.

* ``outbox`` — every outbound event, mapped and validated, in the order the local system
  gave it; drained in that order when the bus is reachable (``pending`` → ``published``,
  or ``failed`` with the reason when the bus refuses it for good: lifecycle, permission).
  ``local_id`` is unique, so a record the local system hands over twice (a crash between
  storing it and confirming it) is stored once.
* ``set_aside`` — local records that could not become events, with the reason.
* ``inbox`` — every inbound event applied to (or refused by) the local system, keyed on
  (source, event id): a redelivered event is not written twice.

Every call is async; the file is opened and used as :mod:`bus.state.sqlite` says
(``synchronous=FULL``: an outbox row survives a power cut).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from bus.envelope.ids import format_time, now
from bus.state.sqlite import Layout, SqliteStore

__all__ = ["AdapterState", "Held", "Known", "OutboxEntry"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    local_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, origin TEXT NOT NULL,
    ce_type TEXT NOT NULL, entity TEXT NOT NULL, data BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', event_id TEXT, detail TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, stored_at TEXT NOT NULL, published_at TEXT);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, position);
CREATE TABLE IF NOT EXISTS set_aside (
    local_id TEXT PRIMARY KEY, origin TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inbox (
    source TEXT NOT NULL, event_id TEXT NOT NULL, ce_type TEXT NOT NULL,
    outcome TEXT NOT NULL, detail TEXT, at TEXT NOT NULL,
    PRIMARY KEY (source, event_id));
"""
_LAYOUT = Layout(schema=_SCHEMA)  # one adapter process per agency uses this file


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboxEntry:
    position: int
    local_id: str
    kind: str
    origin: str
    ce_type: str
    entity: str
    data: bytes
    attempts: int
    stored_at: str


class Held(StrEnum):
    """What the adapter did with a local record it has seen."""

    STORED = "stored"  # an event in the outbox (pending, published or failed)
    SET_ASIDE = "set-aside"  # it could not become an event


@dataclass(frozen=True, kw_only=True, slots=True)
class Known:
    """A local record the adapter already holds: how, and (set aside) why."""

    held: Held
    reason: str | None = None


class AdapterState(SqliteStore):
    """``<state>/<agency>/adapter.sqlite``: outbox, set-aside records and inbox."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _LAYOUT, not_open="the adapter state is not open; call open() first")

    # -- outbox ------------------------------------------------------------------------
    async def knows(self, local_id: str) -> Known | None:
        """How the record ``local_id`` is held already; None when it is new.

        A record handed over again (the adapter stopped before the local system was told)
        must be answered as the first time: confirmed when stored, set aside when set aside.
        """
        rows = await self._db.execute(
            "SELECT 'stored', NULL FROM outbox WHERE local_id = ? UNION ALL "
            "SELECT 'set-aside', reason FROM set_aside WHERE local_id = ?",
            (local_id, local_id),
        )
        if not rows:
            return None
        return Known(held=Held(rows[0][0]), reason=rows[0][1])

    async def add(
        self, *, local_id: str, kind: str, origin: str, ce_type: str, entity: str, data: bytes
    ) -> bool:
        """Store one outbound event; False when ``local_id`` is already stored."""
        changed = await self._db.change(
            "INSERT OR IGNORE INTO outbox (local_id, kind, origin, ce_type, entity, data,"
            " stored_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (local_id, kind, origin, ce_type, entity, data, format_time(now())),
        )
        return changed == 1

    async def pending(self, *, limit: int = 100) -> list[OutboxEntry]:
        rows = await self._db.execute(
            "SELECT position, local_id, kind, origin, ce_type, entity, data, attempts,"
            " stored_at FROM outbox WHERE state = 'pending' ORDER BY position LIMIT ?",
            (limit,),
        )
        return [
            OutboxEntry(
                position=r[0],
                local_id=r[1],
                kind=r[2],
                origin=r[3],
                ce_type=r[4],
                entity=r[5],
                data=bytes(r[6]),
                attempts=r[7],
                stored_at=r[8],
            )
            for r in rows
        ]

    async def published(self, position: int, *, event_id: str, where: str) -> None:
        await self._db.change(
            "UPDATE outbox SET state = 'published', event_id = ?, detail = ?,"
            " published_at = ? WHERE position = ?",
            (event_id, where, format_time(now()), position),
        )

    async def failed(self, position: int, reason: str) -> None:
        """The bus refuses this event for good (lifecycle, permission): kept with why."""
        await self._db.change(
            "UPDATE outbox SET state = 'failed', detail = ? WHERE position = ?",
            (reason, position),
        )

    async def attempt_failed(self, position: int, reason: str) -> None:
        await self._db.change(
            "UPDATE outbox SET attempts = attempts + 1, detail = ? WHERE position = ?",
            (reason, position),
        )

    # -- set aside ---------------------------------------------------------------------
    async def set_aside(self, *, local_id: str, origin: str, reason: str) -> None:
        await self._db.change(
            "INSERT OR IGNORE INTO set_aside (local_id, origin, reason, at) VALUES (?, ?, ?, ?)",
            (local_id, origin, reason, format_time(now())),
        )

    # -- inbox -------------------------------------------------------------------------
    async def inbox_outcome(self, source: str, event_id: str) -> tuple[str, str | None] | None:
        rows = await self._db.execute(
            "SELECT outcome, detail FROM inbox WHERE source = ? AND event_id = ?",
            (source, event_id),
        )
        return None if not rows else (rows[0][0], rows[0][1])

    async def note_inbox(
        self, *, source: str, event_id: str, ce_type: str, outcome: str, detail: str | None
    ) -> None:
        await self._db.change(
            "INSERT OR IGNORE INTO inbox (source, event_id, ce_type, outcome, detail, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (source, event_id, ce_type, outcome, detail, format_time(now())),
        )

    # -- health ------------------------------------------------------------------------
    async def counts(self) -> dict[str, Any]:
        rows = await self._db.execute(
            "SELECT state, COUNT(*), MIN(stored_at) FROM outbox GROUP BY state"
        )
        by_state = {r[0]: r[1] for r in rows}
        oldest = next((r[2] for r in rows if r[0] == "pending"), None)
        inbox = await self._db.execute("SELECT outcome, COUNT(*) FROM inbox GROUP BY outcome")
        aside = await self._db.execute("SELECT COUNT(*) FROM set_aside")
        return {
            "outbox_pending": by_state.get("pending", 0),
            "outbox_oldest_pending": oldest,
            "published": by_state.get("published", 0),
            "publish_failed": by_state.get("failed", 0),
            "set_aside": aside[0][0],
            "inbound": {r[0]: r[1] for r in inbox},
        }
