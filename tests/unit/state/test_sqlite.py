"""The one SQLite helper: how every store's file is opened, and the async wrapper over it."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.outbox import AdapterState
from bus.cli.serve import Effects
from bus.errors import ConfigError, NotConnectedError
from bus.state.sqlite import Database, Folder, Layout, connect, write_transaction
from bus.state.store import LocalStore
from bus.tlog.log import MerkleLog
from bus.transport import EmbeddedTransport

SCHEMA = "CREATE TABLE IF NOT EXISTS items (n INTEGER PRIMARY KEY, name TEXT);"
LAYOUT = Layout(schema=SCHEMA)
FULL = 2  # PRAGMA synchronous


def pragmas(db: sqlite3.Connection) -> tuple[str, int, int]:
    """journal mode, synchronous level, busy timeout (ms) of a connection."""
    return (
        db.execute("PRAGMA journal_mode").fetchone()[0],
        db.execute("PRAGMA synchronous").fetchone()[0],
        db.execute("PRAGMA busy_timeout").fetchone()[0],
    )


def tables(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


# -- opening ------------------------------------------------------------------------------


def test_a_file_opens_private_in_wal_with_full_sync_and_its_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "own" / "store.sqlite"
    db = connect(path, Layout(schema=SCHEMA, busy_timeout=2.5))
    try:
        assert pragmas(db) == ("wal", FULL, 2500)
        assert db.in_transaction is False  # autocommit: no transaction left open
        assert path.parent.stat().st_mode & 0o777 == 0o700
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        db.close()
    assert tables(path) == {"items"}


def test_a_given_folder_is_left_as_it_is_and_an_own_folder_is_checked(tmp_path: Path) -> None:
    shared = tmp_path / "operators"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    connect(shared / "bus.sqlite", Layout(schema=SCHEMA, folder=Folder.GIVEN)).close()
    assert shared.stat().st_mode & 0o777 == 0o755
    with pytest.raises(ConfigError, match=r"state folder .* is open to group or others"):
        connect(shared / "state.sqlite", LAYOUT)


def test_schema_and_migration_are_one_write_transaction(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    seen: list[bool] = []

    def migrate(db: sqlite3.Connection) -> None:
        seen.append(db.in_transaction)
        db.execute("ALTER TABLE items ADD COLUMN note TEXT")

    connect(path, Layout(schema=SCHEMA, migrate=migrate)).close()
    assert seen == [True]

    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (n INTEGER)")
        raise sqlite3.OperationalError("the migration broke")

    with pytest.raises(sqlite3.OperationalError, match="the migration broke"):
        connect(tmp_path / "other.sqlite", Layout(schema=SCHEMA, migrate=broken))
    assert tables(tmp_path / "other.sqlite") == set()  # nothing of it was kept


def test_a_write_transaction_holds_the_write_lock_from_its_first_statement(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite"
    db = connect(path, LAYOUT)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with write_transaction(db):
            db.execute("SELECT COUNT(*) FROM items").fetchone()  # a read first
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again after the commit
        other.execute("ROLLBACK")
        with pytest.raises(ZeroDivisionError):
            insert_then_fail(db)
        assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0  # rolled back
    finally:
        other.close()
        db.close()


def insert_then_fail(db: sqlite3.Connection) -> None:
    with write_transaction(db):
        db.execute("INSERT INTO items (name) VALUES ('gone')")
        raise ZeroDivisionError


# -- running --------------------------------------------------------------------------------


async def test_execute_change_run_and_transaction(tmp_path: Path) -> None:
    async with Database(tmp_path / "s.sqlite", LAYOUT, not_open="closed") as db:
        assert await db.change("INSERT INTO items (n, name) VALUES (1, 'a')") == 1
        assert await db.change("INSERT OR IGNORE INTO items (n, name) VALUES (1, 'b')") == 0
        assert await db.execute("SELECT n, name FROM items WHERE n = ?", (1,)) == [(1, "a")]
        await db.transaction(
            [("INSERT INTO items (n, name) VALUES (?, ?)", (n, f"i{n}")) for n in (2, 3)]
        )
        with pytest.raises(sqlite3.IntegrityError):  # the second fails: neither is kept
            await db.transaction(
                [
                    ("INSERT INTO items (n, name) VALUES (4, 'kept?')", ()),
                    ("INSERT INTO items (n, name) VALUES (1, 'duplicate')", ()),
                ]
            )
        count = await db.run(lambda conn: conn.execute("SELECT COUNT(*) FROM items").fetchone())
        assert count == (3,)


async def test_calls_run_one_at_a_time_in_the_order_they_were_made(tmp_path: Path) -> None:
    async with Database(tmp_path / "s.sqlite", LAYOUT, not_open="closed") as db:
        running: list[int] = []

        def work(n: int) -> Callable[[sqlite3.Connection], int]:
            def step(conn: sqlite3.Connection) -> int:
                running.append(n)
                assert len(running) == 1, "two calls at once"
                conn.execute("INSERT INTO items (name) VALUES (?)", (str(n),))
                running.remove(n)
                return threading.get_ident()

            return step

        threads = await asyncio.gather(*(db.run(work(n)) for n in range(50)))
        assert len(set(threads)) == 1  # one worker thread, never the loop's
        assert threading.get_ident() not in threads
        names = await db.execute("SELECT name FROM items ORDER BY n")
        assert [int(r[0]) for r in names] == list(range(50))


async def test_a_call_carries_the_callers_context(tmp_path: Path) -> None:
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")
    marker.set("the caller's")
    async with Database(tmp_path / "s.sqlite", LAYOUT, not_open="closed") as db:
        assert await db.run(lambda _: marker.get()) == "the caller's"


async def test_a_store_not_open_says_so_in_its_own_words(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.sqlite", LAYOUT, not_open="the thing is not open")
    with pytest.raises(NotConnectedError, match="the thing is not open"):
        await db.execute("SELECT 1")
    await db.close()  # closing what is not open: nothing to do
    await db.open()
    assert await db.execute("SELECT 1") == [(1,)]
    await db.close()
    for call in (
        db.execute("SELECT 1"),
        db.change("DELETE FROM items"),
        db.run(lambda conn: None),
        db.transaction([]),
    ):
        with pytest.raises(NotConnectedError, match="the thing is not open"):
            await call
    await db.open()  # opened again, the rows are still there
    assert await db.execute("SELECT COUNT(*) FROM items") == [(0,)]
    await db.close()


async def test_an_open_that_fails_raises_and_leaves_the_store_closed(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.sqlite", Layout(schema="CREATE TABLE broken ("), not_open="no")
    with pytest.raises(sqlite3.OperationalError):
        await db.open()
    with pytest.raises(NotConnectedError, match="no"):
        await db.execute("SELECT 1")


# -- every store on it ---------------------------------------------------------------------


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[sqlite3.Connection]:
    """Every SQLite connection opened while the test runs (sqlite3.connect, watched)."""
    connections: list[sqlite3.Connection] = []
    real = sqlite3.connect

    def watched(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connections.append(real(*args, **kwargs))
        return connections[-1]

    monkeypatch.setattr(sqlite3, "connect", watched)
    return connections


async def test_every_store_holding_write_ahead_state_syncs_fully(
    tmp_path: Path, opened: list[sqlite3.Connection]
) -> None:
    """The local store (chain heads written ahead of their records) ran NORMAL: a power
    cut could lose a head whose record was sent, and the restarted publisher would hand its
    seq out again. Every store is FULL now; only the shared transport file waits 30 s."""
    state = tmp_path / "state" / "330000000000"
    found: dict[str, tuple[str, int, int]] = {}

    def check(name: str) -> None:
        found[name] = pragmas(opened[-1])

    async with LocalStore(state / "330000000000.sqlite"):
        check("local store")
    adapter = await AdapterState(state / "adapter.sqlite").open()
    check("adapter state")
    await adapter.close()
    async with EmbeddedTransport(tmp_path / "bus.sqlite"):
        check("embedded transport")
    async with Effects(state / "effects.sqlite", None):
        check("serve's effects")
    with MerkleLog(state / "merkle.sqlite", "silian/t/0"):
        check("merkle log")
    assert found == {
        "local store": ("wal", FULL, 5000),
        "adapter state": ("wal", FULL, 5000),
        "embedded transport": ("wal", FULL, 30000),
        "serve's effects": ("wal", FULL, 5000),
        "merkle log": ("wal", FULL, 5000),
    }
