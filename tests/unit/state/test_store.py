"""The local store on the SQLite helper: a store from an earlier silian still opens, and a
store not open says so."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from bus.errors import NotConnectedError
from bus.state.store import ChainHead, LedgerEntry, LocalStore, Seen


async def test_a_store_from_before_refusals_kept_their_words_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "agency" / "store.sqlite"
    path.parent.mkdir(mode=0o700)
    with contextlib.closing(sqlite3.connect(path)) as old:
        old.execute(
            "CREATE TABLE processed (source TEXT NOT NULL, event_id TEXT NOT NULL,"
            " origin TEXT NOT NULL, outcome TEXT NOT NULL, PRIMARY KEY (source, event_id))"
        )
        old.execute("INSERT INTO processed VALUES ('s', 'old', 't/0/0', 'delivered')")
        old.commit()
    path.chmod(0o600)
    async with LocalStore(path) as store:
        await store.accept(
            source="s",
            event_id="new",
            topic="t",
            chain_id="c",
            head=ChainHead(seq=1, hash="h"),
            origin="t/0/1",
            outcome="quarantined:bad-signature",
            detail="the signature does not verify",
        )
        _, old_seen = await store.chain_view("c", "t", "s", "old")
        head, new_seen = await store.chain_view("c", "t", "s", "new")
    assert old_seen == Seen(origin="t/0/0", outcome="delivered")
    assert new_seen == Seen(
        origin="t/0/1",
        outcome="quarantined:bad-signature",
        detail="the signature does not verify",
    )
    assert head == ChainHead(seq=1, hash="h")


async def test_a_ledger_from_before_receipts_named_records_is_migrated(tmp_path: Path) -> None:
    """An old row has no record hash (a v2 receipt of it is not judged); a new one has."""
    path = tmp_path / "agency" / "store.sqlite"
    path.parent.mkdir(mode=0o700)
    with contextlib.closing(sqlite3.connect(path)) as old:
        old.execute(
            "CREATE TABLE ledger (position INTEGER PRIMARY KEY AUTOINCREMENT,"
            " source TEXT NOT NULL, event_id TEXT NOT NULL, ce_type TEXT NOT NULL,"
            " ce_time TEXT NOT NULL, subject TEXT NOT NULL, topic TEXT NOT NULL,"
            " data BLOB NOT NULL, UNIQUE (source, event_id))"
        )
        old.execute("INSERT INTO ledger VALUES (1, 's', 'old', 'ty', 'tm', 'sub', 't', x'7b7d')")
        old.commit()
    path.chmod(0o600)
    new = LedgerEntry(
        source="s",
        event_id="new",
        ce_type="ty",
        ce_time="tm",
        subject="sub",
        topic="t",
        data=b"{}",
        record_hash="ab" * 32,
    )
    async with LocalStore(path) as store:
        await store.record_published(new, priority="routine", due=None, recipients=())
        assert await store.record_hash("s", "old") is None
        assert await store.record_hash("s", "new") == "ab" * 32
        assert await store.record_hash("s", "unknown") is None
        assert [e.record_hash for e in await store.ledger()] == [None, "ab" * 32]


async def test_a_store_not_open_raises_not_connected(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store.sqlite")
    with pytest.raises(NotConnectedError, match=r"not open; call `await store.open\(\)` first"):
        await store.ledger()
    async with store:
        assert await store.ledger() == []
    with pytest.raises(NotConnectedError, match="the local store is not open"):
        await store.chain_head("c", "t")
