"""The agency's local store (SQLite): what must survive a restart of its bus process.

* ``meta`` — ``chain:<publisher>``, the chain id prefix of each publishing process (none:
  it starts new chains; a restored backup has none, :func:`fence_chains`);
* ``chains`` — this agency's own chains: the next sequence number and last record hash
  per (chain id, topic), so a restarted publisher continues its chains without a gap;
* ``peer_chains`` — the last verified (seq, hash) of every chain this agency consumed;
* ``processed`` — (ce_source, ce_id) of every record dealt with, and where (dedup);
* ``ledger`` — every event this agency published or accepted, for lifecycle state,
  ``silian status`` and the receipt tracker: its JSON as signed or received (a sealed
  record's plaintext as opened), never re-encoded, and its record hash (what a v2 receipt
  of it must name; none in a row written before receipts named records);
* ``receipts`` — who must still answer which event, by when.

All calls are async; the file is opened and used as :mod:`bus.state.sqlite` says (one
connection on a worker thread of its own, ``synchronous=FULL``).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bus.envelope.headers import GENESIS, Attributes
from bus.envelope.ids import format_time, now, parse_time
from bus.state.sqlite import Layout, SqliteStore, write_transaction

__all__ = [
    "ChainHead",
    "LedgerEntry",
    "LocalStore",
    "PendingReceipt",
    "ReceiptNote",
    "Seen",
    "fence_chains",
    "ledger_rows",
    "own_chains",
]


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
    detail TEXT, PRIMARY KEY (source, event_id));
CREATE TABLE IF NOT EXISTS ledger (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL, event_id TEXT NOT NULL, ce_type TEXT NOT NULL, ce_time TEXT NOT NULL,
    subject TEXT NOT NULL, topic TEXT NOT NULL, data BLOB NOT NULL, hash TEXT,
    UNIQUE (source, event_id));
CREATE TABLE IF NOT EXISTS receipts (
    source TEXT NOT NULL, event_id TEXT NOT NULL, recipient TEXT NOT NULL,
    ce_type TEXT NOT NULL, subject TEXT NOT NULL, priority TEXT NOT NULL,
    due TEXT NOT NULL, received_at TEXT, handled_at TEXT, rejected TEXT,
    PRIMARY KEY (source, event_id, recipient));
CREATE TABLE IF NOT EXISTS rejudged (
    origin TEXT PRIMARY KEY, outcome TEXT NOT NULL, detail TEXT, at TEXT NOT NULL);
"""


def _migrate(db: sqlite3.Connection) -> None:
    columns = {row[1] for row in db.execute("PRAGMA table_info(processed)")}
    if "detail" not in columns:  # a store made before refusals kept their words
        db.execute("ALTER TABLE processed ADD COLUMN detail TEXT")
    columns = {row[1] for row in db.execute("PRAGMA table_info(ledger)")}
    if "hash" not in columns:  # a store made before receipts named the record they answer
        db.execute("ALTER TABLE ledger ADD COLUMN hash TEXT")


# `silian publish` and `silian serve` of one agency open this file at once (one state
# folder): a writer waits the default busy timeout (5 s) for the other's write lock, and a
# store that stays locked longer fails its call (the adapter's link loop retries it).
_LAYOUT = Layout(schema=_SCHEMA, migrate=_migrate)

# ``meta`` row ``chain:<publisher>``: the chain id prefix that publisher writes its chains
# under. Without it, a publisher starts new chains (a fresh id) the next time it publishes.
_CHAIN_META = "chain:"


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainHead:
    seq: int
    hash: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Seen:
    """Where a consumer already dealt with an event, and how (``delivered`` or
    ``quarantined:<reason>``, with the refusal's words)."""

    origin: str
    outcome: str
    detail: str | None = None

    @property
    def quarantined(self) -> bool:
        return self.outcome.startswith("quarantined:")


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerEntry:
    source: str
    event_id: str
    ce_type: str
    ce_time: str
    subject: str
    topic: str
    data: bytes
    record_hash: str | None = None  # the record's hash (None: a row from before it was kept)

    @classmethod
    def of(
        cls, attributes: Attributes, *, topic: str, data: bytes, record_hash: str | None = None
    ) -> LedgerEntry:
        """The ledger's line for an event with these attributes, on ``topic``."""
        return cls(
            source=attributes.source,
            event_id=attributes.id,
            ce_type=attributes.type,
            ce_time=attributes.time,
            subject=attributes.subject,
            topic=topic,
            data=data,
            record_hash=record_hash,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceiptNote:
    """One recipient's answer (``received``, ``handled`` or ``rejected``) to an event."""

    source: str
    event_id: str
    recipient: str
    kind: str
    at: str
    reason: str | None = None


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

    @property
    def owed(self) -> bool:
        """The recipient has neither handled nor rejected the event yet."""
        return self.handled_at is None and self.rejected is None

    def overdue_at(self, moment: datetime) -> bool:
        """Still owed at ``moment``, and the deadline of its priority has passed (事事有回音)."""
        return self.owed and parse_time(self.due) <= moment


class LocalStore(SqliteStore):
    """One agency's SQLite store. ``async with LocalStore(path) as store: ...``"""

    def __init__(self, path: Path) -> None:
        super().__init__(
            path, _LAYOUT, not_open="the local store is not open; call `await store.open()` first"
        )

    # -- identity ---------------------------------------------------------------------
    async def process_chain_id(self, agency: str, publisher: str) -> str:
        """The stable chain id of this publishing process (created once, then reused)."""
        name = f"{_CHAIN_META}{publisher}"
        rows = await self._db.execute("SELECT value FROM meta WHERE name = ?", (name,))
        if rows:
            return str(rows[0][0])
        chain_id = f"{agency}.{publisher}.{uuid.uuid4().hex[:12]}"
        await self._db.execute(
            "INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", (name, chain_id)
        )
        rows = await self._db.execute("SELECT value FROM meta WHERE name = ?", (name,))
        return str(rows[0][0])

    async def new_process_chain_id(self, agency: str, publisher: str) -> str:
        """Start new chains for this publisher (after a failed send: see Publisher)."""
        chain_id = f"{agency}.{publisher}.{uuid.uuid4().hex[:12]}"
        await self._db.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (f"{_CHAIN_META}{publisher}", chain_id),
        )
        return chain_id

    # -- own chains ---------------------------------------------------------------------
    async def chain_head(self, chain_id: str, topic: str) -> ChainHead:
        rows = await self._db.execute(
            "SELECT seq, hash FROM chains WHERE chain_id = ? AND topic = ?", (chain_id, topic)
        )
        if not rows:
            return ChainHead(seq=0, hash=GENESIS)
        return ChainHead(seq=int(str(rows[0][0])), hash=str(rows[0][1]))

    async def advance_chain(self, chain_id: str, topic: str, head: ChainHead) -> None:
        await self._db.execute(
            "INSERT INTO chains (chain_id, topic, seq, hash) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (chain_id, topic) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (chain_id, topic, head.seq, head.hash),
        )

    # -- peer chains ----------------------------------------------------------------------
    # -- dedup --------------------------------------------------------------------------
    async def chain_view(
        self, chain_id: str, topic: str, source: str, event_id: str
    ) -> tuple[ChainHead | None, Seen | None]:
        """A consumer's one look before judging a record: the chain's last head, and where
        and how (if at all) this event was already dealt with."""

        def read(db: sqlite3.Connection) -> tuple[ChainHead | None, Seen | None]:
            head = db.execute(
                "SELECT seq, hash FROM peer_chains WHERE chain_id = ? AND topic = ?",
                (chain_id, topic),
            ).fetchone()
            seen = db.execute(
                "SELECT origin, outcome, detail FROM processed WHERE source = ? AND event_id = ?",
                (source, event_id),
            ).fetchone()
            return (
                None if head is None else ChainHead(seq=int(head[0]), hash=str(head[1])),
                None if seen is None else Seen(origin=seen[0], outcome=seen[1], detail=seen[2]),
            )

        return await self._db.run(read)

    async def accept(
        self,
        *,
        source: str,
        event_id: str,
        topic: str,
        chain_id: str,
        head: ChainHead,
        origin: str,
        outcome: str,
        detail: str | None = None,
        entry: LedgerEntry | None = None,
        receipt: ReceiptNote | None = None,
    ) -> None:
        """Everything a consumer records about one record, in one transaction: the ledger
        entry, the receipt it is (for an event of ours), that it was dealt with and where,
        and its chain's new head."""
        statements: list[tuple[str, tuple[object, ...]]] = []
        if entry is not None:
            statements.append(_ledger_insert(entry))
        if receipt is not None:
            statements.append(_receipt_update(receipt))
        statements.append(
            (
                "INSERT OR IGNORE INTO processed (source, event_id, origin, outcome, detail)"
                " VALUES (?, ?, ?, ?, ?)",
                (source, event_id, origin, outcome, detail),
            )
        )
        statements.append(
            (
                "INSERT INTO peer_chains (chain_id, topic, seq, hash) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (chain_id, topic) DO UPDATE"
                " SET seq = excluded.seq, hash = excluded.hash",
                (chain_id, topic, head.seq, head.hash),
            )
        )
        await self._db.transaction(statements)

    async def release(
        self,
        *,
        source: str,
        event_id: str,
        origin: str,
        entry: LedgerEntry,
        receipt: ReceiptNote | None,
        detail: str,
    ) -> None:
        """A quarantined record an officer let through (:mod:`bus.node.release`), in one
        transaction: its ledger line, the answer it is (for an event of ours), that it was
        dealt with here as ``released`` and that its quarantined copy is settled. The chain
        head stays where it is: a released record takes no place in its chain."""
        statements = [_ledger_insert(entry)]
        if receipt is not None:
            statements.append(_receipt_update(receipt))
        statements.append(
            (
                "INSERT INTO processed (source, event_id, origin, outcome, detail)"
                " VALUES (?, ?, ?, 'released', ?) ON CONFLICT (source, event_id) DO UPDATE"
                " SET origin = excluded.origin, outcome = 'released', detail = excluded.detail",
                (source, event_id, origin, detail),
            )
        )
        statements.append(
            (
                "INSERT OR IGNORE INTO rejudged (origin, outcome, detail, at)"
                " VALUES (?, 'released', ?, ?)",
                (origin, detail, format_time(now())),
            )
        )
        await self._db.transaction(statements)

    async def record_published(
        self, entry: LedgerEntry, *, priority: str, due: str | None, recipients: Iterable[str]
    ) -> None:
        """An acknowledged event of this agency and the receipts it is owed, at once."""
        statements = [_ledger_insert(entry)]
        for recipient in recipients:
            statements.append(
                (
                    "INSERT OR IGNORE INTO receipts (source, event_id, recipient, ce_type, subject,"
                    " priority, due) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.source,
                        entry.event_id,
                        recipient,
                        entry.ce_type,
                        entry.subject,
                        priority,
                        due,
                    ),
                )
            )
        await self._db.transaction(statements)

    # -- ledger -------------------------------------------------------------------------
    async def ledger(self, *, subject: str | None = None) -> list[LedgerEntry]:
        sql = "SELECT source, event_id, ce_type, ce_time, subject, topic, data, hash FROM ledger"
        params: tuple[object, ...] = ()
        if subject is not None:
            sql += " WHERE subject = ?"
            params = (subject,)
        rows = await self._db.execute(sql + " ORDER BY position", params)
        return [
            LedgerEntry(
                source=str(r[0]),
                event_id=str(r[1]),
                ce_type=str(r[2]),
                ce_time=str(r[3]),
                subject=str(r[4]),
                topic=str(r[5]),
                data=bytes(r[6]),
                record_hash=None if r[7] is None else str(r[7]),
            )
            for r in rows
        ]

    async def record_hash(self, source: str, event_id: str) -> str | None:
        """The hash of the record the ledger holds under ``(source, event_id)``: what a v2
        receipt of it must name. None: no such event, or a row from before hashes were kept."""
        rows = await self._db.execute(
            "SELECT hash FROM ledger WHERE source = ? AND event_id = ?", (source, event_id)
        )
        return None if not rows or rows[0][0] is None else str(rows[0][0])

    # -- receipts -----------------------------------------------------------------------
    async def receipts(self, *, open_only: bool = False) -> list[PendingReceipt]:
        sql = (
            "SELECT source, event_id, recipient, ce_type, subject, priority, due, received_at,"
            " handled_at, rejected FROM receipts"
        )
        if open_only:
            sql += " WHERE handled_at IS NULL AND rejected IS NULL"
        rows = await self._db.execute(sql + " ORDER BY due, event_id, recipient")
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

    # -- re-judging ---------------------------------------------------------------------
    async def rejudged(self) -> dict[str, str]:
        """Quarantined records judged again for good: origin → outcome."""
        rows = await self._db.execute("SELECT origin, outcome FROM rejudged")
        return {str(r[0]): str(r[1]) for r in rows}

    async def mark_rejudged(self, origin: str, outcome: str, detail: str | None) -> None:
        """``origin`` was judged again and came out ``outcome``: never again."""
        await self._db.execute(
            "INSERT OR IGNORE INTO rejudged (origin, outcome, detail, at) VALUES (?, ?, ?, ?)",
            (origin, outcome, detail, format_time(now())),
        )


# -- a copy of the file, read and fenced by the state backup (bus.state.backup) ---------------
# These take a connection to a *copy* of a store (made with SQLite's backup), never to a
# store a bus process has open.


def ledger_rows(db: sqlite3.Connection) -> int:
    """How many events the ledger holds."""
    return int(db.execute("SELECT count(*) FROM ledger").fetchone()[0])


def own_chains(db: sqlite3.Connection) -> tuple[dict[str, str], list[tuple[str, str, ChainHead]]]:
    """Each publisher's chain id prefix, and the head of every chain of this agency the
    store knows as (chain id, topic, head), the current chains and the ones left before."""
    publishers = {
        str(name).removeprefix(_CHAIN_META): str(value)
        for name, value in db.execute(
            "SELECT name, value FROM meta WHERE substr(name, 1, ?) = ? ORDER BY name",
            (len(_CHAIN_META), _CHAIN_META),
        )
    }
    heads = [
        (str(chain_id), str(topic), ChainHead(seq=int(seq), hash=str(digest)))
        for chain_id, topic, seq, digest in db.execute(
            "SELECT chain_id, topic, seq, hash FROM chains ORDER BY chain_id, topic"
        )
    ]
    return publishers, heads


def fence_chains(db: sqlite3.Connection) -> dict[str, str]:
    """Make every publisher of this store start new chains: its ``chain:<publisher>`` row
    goes, so its next publish takes a fresh chain id (:meth:`LocalStore.process_chain_id`)
    at seq 1. For a store older than what it published (a restored backup): continuing
    its chains from the heads it holds would sign a second record for a (chain id, seq)
    already sent — a fork of its own chain. Returns the prefixes fenced, by publisher."""
    publishers, _ = own_chains(db)
    with write_transaction(db):
        db.execute("DELETE FROM meta WHERE substr(name, 1, ?) = ?", (len(_CHAIN_META), _CHAIN_META))
    return publishers


def _ledger_insert(entry: LedgerEntry) -> tuple[str, tuple[object, ...]]:
    return (
        "INSERT OR IGNORE INTO ledger"
        " (source, event_id, ce_type, ce_time, subject, topic, data, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.source,
            entry.event_id,
            entry.ce_type,
            entry.ce_time,
            entry.subject,
            entry.topic,
            entry.data,
            entry.record_hash,
        ),
    )


def _receipt_update(note: ReceiptNote) -> tuple[str, tuple[object, ...]]:
    column = {"received": "received_at", "handled": "handled_at", "rejected": "rejected"}[note.kind]
    value = note.at if note.kind != "rejected" else f"{note.at} {note.reason or ''}".strip()
    return (
        f"UPDATE receipts SET {column} = COALESCE({column}, ?) "  # noqa: S608 - fixed names
        "WHERE source = ? AND event_id = ? AND recipient = ?",
        (value, note.source, note.event_id, note.recipient),
    )
