"""State backup and restore on real SQLite files: online while another process writes,
round trip equal, damage refused, a folder not empty or in use refused, chains fenced."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.envelope.headers import GENESIS
from bus.errors import BackupError, ConfigError, StateInUseError
from bus.state.backup import MANIFEST, Manifest, back_up, member_name
from bus.state.private import private_folder
from bus.state.restore import restore
from bus.state.sqlite import Database, Layout
from bus.state.store import ChainHead, LedgerEntry, LocalStore

AGENCY = "350722000000"
_EFFECTS = Layout(schema="CREATE TABLE IF NOT EXISTS effects (id TEXT PRIMARY KEY)")

# A second process writing the store as `silian serve` does: each accepted record is a
# ledger line, a "processed" row and a chain head, in one transaction, until told to stop.
_WRITER = """
import asyncio, sys
from pathlib import Path
from bus.state.store import ChainHead, LedgerEntry, LocalStore

async def main(path, stop):
    async with LocalStore(path) as store:
        n = 0
        while not stop.exists():
            n += 1
            await store.accept(
                source="urn:silian:agency:330881000000", event_id=f"e{n}", topic="t",
                chain_id="330881000000.main.abc.p0", head=ChainHead(seq=n, hash=f"h{n}"),
                origin=f"t/0/{n}", outcome="delivered",
                entry=LedgerEntry(source="urn:silian:agency:330881000000", event_id=f"e{n}",
                    ce_type="cn.silian.alert.hit.v1", ce_time="2026-11-26T11:30:00.000+08:00",
                    subject="JS-ALERT-2024-0117", topic="t", data=b'{"n": %d}' % n))

asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
"""


def _count(path: Path, table: str = "ledger") -> int:
    with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def _written(path: Path) -> int:
    """Rows in the ledger, 0 while the writer has not made the file and its schema yet."""
    try:
        return _count(path)
    except sqlite3.OperationalError:
        return 0


def _wait_until(condition: object, what: str) -> None:
    """Wait for ``condition()`` (a guard against a hang, not a measure of time)."""
    deadline = time.monotonic() + 60
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


@contextlib.contextmanager
def _writer(path: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    stop = tmp_path / "stop"
    process = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(stop)])
    try:
        yield process
    finally:
        stop.touch()
        assert process.wait(timeout=60) == 0


async def _store_with_history(folder: Path) -> LocalStore:
    """A store as an agency leaves it: a publisher's chains, a ledger, a receipt owed."""
    store = LocalStore(folder / f"{AGENCY}.sqlite")
    await store.open()
    base = await store.process_chain_id(AGENCY, "main")
    await store.advance_chain(f"{base}.p0", "silian.jpg.alert.v1", ChainHead(seq=7, hash="a" * 64))
    for n in range(3):
        await store.record_published(
            LedgerEntry(
                source=f"urn:silian:agency:{AGENCY}",
                event_id=f"event-{n}",
                ce_type="cn.silian.alert.issued.v1",
                ce_time="2026-11-26T11:30:00.000+08:00",
                subject=f"PC-ALERT-{n}",
                topic="silian.jpg.alert.v1",
                data=f'{{"n": {n}, "名": "浦城"}}'.encode(),
            ),
            priority="urgent",
            due="2026-11-26T11:45:00.000+08:00",
            recipients=["330881000000"],
        )
    return store


@pytest.fixture
async def folder(tmp_path: Path) -> Path:
    """``<state>/<agency>/`` with a store and an effects file, closed."""
    folder = tmp_path / "state" / AGENCY
    store = await _store_with_history(folder)
    await store.close()
    async with Database(folder / "effects.sqlite", _EFFECTS, not_open="effects not open") as db:
        await db.execute("INSERT INTO effects VALUES ('e1')")
    (folder / "witness-330881000000.json").write_text("{}")
    return folder


def test_backup_while_another_process_writes_is_a_consistent_recent_snapshot(
    tmp_path: Path,
) -> None:
    store = tmp_path / "state" / AGENCY / f"{AGENCY}.sqlite"
    with _writer(store, tmp_path):
        _wait_until(lambda: _written(store) >= 200, "200 rows written")
        before = _count(store)  # committed (in the WAL, most of them) before the copy
        manifest = back_up(store.parent, tmp_path / "b.tar", agency=AGENCY)
        after = _count(store)
        _wait_until(lambda: _count(store) > after, "the writer goes on after the backup")
    restored = restore(tmp_path / "b.tar", tmp_path / "other")
    copy = restored.folder / f"{AGENCY}.sqlite"
    rows = _count(copy)
    # Everything committed before the copy began is in it — a copy of the file's bytes
    # would miss what is still in the WAL — and it is one moment: each transaction whole.
    assert before <= rows <= after
    assert _count(copy, "processed") == rows
    assert manifest.store is not None
    assert manifest.store.ledger_rows == rows
    assert manifest.files[0].tables["ledger"] == rows


async def test_round_trip_gives_back_the_same_ledger_receipts_and_effects(
    folder: Path, tmp_path: Path
) -> None:
    async with LocalStore(folder / f"{AGENCY}.sqlite") as store:
        ledger, receipts = await store.ledger(), await store.receipts()
    manifest = back_up(folder, tmp_path / "b.tar", agency=AGENCY)
    restored = restore(tmp_path / "b.tar", tmp_path / "new-state")
    assert restored.folder == tmp_path / "new-state" / AGENCY
    assert restored.files == [f"{AGENCY}.sqlite", "effects.sqlite"]  # the store first
    async with LocalStore(restored.folder / f"{AGENCY}.sqlite") as store:
        assert await store.ledger() == ledger
        assert await store.receipts() == receipts
    assert _count(restored.folder / "effects.sqlite", "effects") == 1
    assert manifest.left_out == ["witness-330881000000.json"]
    for path in (restored.folder, *restored.folder.iterdir()):
        assert path.stat().st_mode & 0o077 == 0, path
    assert (tmp_path / "b.tar").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (tmp_path / "new-state").iterdir()) == [AGENCY]  # no stage


async def test_the_manifest_says_what_the_archive_holds(folder: Path, tmp_path: Path) -> None:
    manifest = back_up(folder, tmp_path / "b.tar", agency=AGENCY)
    with tarfile.open(tmp_path / "b.tar") as tar:
        assert tar.getnames() == [
            MANIFEST,
            member_name(f"{AGENCY}.sqlite"),
            member_name("effects.sqlite"),
        ]
        on_disk = json.loads(tar.extractfile(MANIFEST).read())  # type: ignore[union-attr]
    assert Manifest.model_validate(on_disk) == manifest
    assert on_disk["format"] == "silian-state-backup"
    assert on_disk["version"] == 1
    assert on_disk["agency"] == AGENCY
    assert on_disk["created"].endswith("+08:00")
    store = on_disk["store"]
    assert store["ledger_rows"] == 3
    assert list(store["fenced_publishers"]) == ["main"]
    base = store["fenced_publishers"]["main"]
    assert store["chain_heads"] == [
        {"chain_id": f"{base}.p0", "topic": "silian.jpg.alert.v1", "seq": 7, "hash": "a" * 64}
    ]
    kinds = {f["name"]: f["kind"] for f in on_disk["files"]}
    assert kinds == {f"{AGENCY}.sqlite": "store", "effects.sqlite": "effects"}


def _rewrite(archive: Path, change: object) -> None:
    """Rewrite ``archive`` with ``change(name, data) -> (name, data) | None`` per member."""
    with tarfile.open(archive) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
    with tarfile.open(archive, "w") as tar:
        for name, data in members:
            changed = change(name, data)  # type: ignore[operator]
            if changed is None:
                continue
            info = tarfile.TarInfo(changed[0])
            info.size = len(changed[1])
            tar.addfile(info, io.BytesIO(changed[1]))


def _flip_byte(name: str, data: bytes) -> tuple[str, bytes]:
    if name == member_name("effects.sqlite"):
        data = data[:5000] + bytes([data[5000] ^ 1]) + data[5001:]
    return name, data


def _drop_effects(name: str, data: bytes) -> tuple[str, bytes] | None:
    return None if name == member_name("effects.sqlite") else (name, data)


def _extra(name: str, data: bytes) -> tuple[str, bytes]:
    return ("state/../../evil.sqlite", data) if name.endswith("effects.sqlite") else (name, data)


def _manifest_first_not(name: str, data: bytes) -> tuple[str, bytes]:
    return ("notes.json", data) if name == MANIFEST else (name, data)


def _new_version(name: str, data: bytes) -> tuple[str, bytes]:
    if name != MANIFEST:
        return name, data
    manifest = json.loads(data)
    manifest["version"] = 2
    return name, json.dumps(manifest).encode()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_flip_byte, "effects.sqlite is damaged or altered"),
        (_drop_effects, "lacks effects.sqlite, which its manifest lists"),
        (_extra, "holds 'state/../../evil.sqlite', which its manifest does not list"),
        (_manifest_first_not, "is not a silian state backup (no manifest.json first)"),
        (_new_version, "not a silian state backup of a known version (manifest.json: version"),
    ],
)
def test_a_damaged_or_altered_backup_is_refused_and_nothing_restored(
    folder: Path, tmp_path: Path, change: object, words: str
) -> None:
    archive = tmp_path / "b.tar"
    back_up(folder, archive, agency=AGENCY)
    _rewrite(archive, change)
    with pytest.raises(BackupError, match=words.replace("(", r"\(").replace(")", r"\)")):
        restore(archive, tmp_path / "target")
    assert list((tmp_path / "target").iterdir()) == []  # no agency folder, no stage left


def test_a_truncated_archive_is_refused(folder: Path, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar"
    back_up(folder, archive, agency=AGENCY)
    archive.write_bytes(archive.read_bytes()[:20_000])
    with pytest.raises(BackupError, match=r"backup b\.tar is damaged"):
        restore(archive, tmp_path / "target")
    assert list((tmp_path / "target").iterdir()) == []


def test_a_folder_not_empty_is_refused_without_force(folder: Path, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar"
    back_up(folder, archive, agency=AGENCY)
    target = private_folder(tmp_path / "target" / AGENCY)
    (target / "health.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"is not empty \(health.json\); .* pass --force"):
        restore(archive, tmp_path / "target")
    assert [p.name for p in target.iterdir()] == ["health.json"]


async def test_force_moves_the_databases_there_aside_and_keeps_other_files(
    folder: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "b.tar"
    back_up(folder, archive, agency=AGENCY)
    async with LocalStore(folder / f"{AGENCY}.sqlite") as store:  # the folder moves on …
        await store.record_published(
            LedgerEntry(
                source="s", event_id="later", ce_type="t", ce_time="x", subject="s",
                topic="t", data=b"{}",
            ),
            priority="routine", due=None, recipients=(),
        )  # fmt: skip
    # A -wal with no database beside it would be read as the restored file's own.
    (folder / "effects.sqlite").unlink()
    (folder / "effects.sqlite-wal").write_bytes(b"left by someone")
    restored = restore(archive, folder.parent, force=True)
    assert restored.moved_aside is not None
    aside = sorted(p.name for p in restored.moved_aside.iterdir())
    assert aside == [f"{AGENCY}.sqlite", "effects.sqlite-wal"]
    assert restored.kept == ["witness-330881000000.json"]
    assert not (folder / "effects.sqlite-wal").exists()
    assert _count(folder / "effects.sqlite", "effects") == 1
    async with LocalStore(folder / f"{AGENCY}.sqlite") as store:
        assert [e.event_id for e in await store.ledger()] == ["event-0", "event-1", "event-2"]
    assert _count(restored.moved_aside / f"{AGENCY}.sqlite") == 4  # nothing was deleted


async def test_a_folder_a_process_has_open_is_refused(folder: Path, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar"
    back_up(folder, archive, agency=AGENCY)
    async with LocalStore(folder / f"{AGENCY}.sqlite") as store:  # serve's, idle
        await store.ledger()
        with pytest.raises(StateInUseError, match=rf"{AGENCY}.sqlite open in another process"):
            restore(archive, folder.parent, force=True)
        assert len(await store.ledger()) == 3  # untouched
    restore(archive, folder.parent, force=True)  # once it is closed


def test_the_backup_must_be_the_agency_asked_for(folder: Path, tmp_path: Path) -> None:
    back_up(folder, tmp_path / "b.tar", agency=AGENCY)
    with pytest.raises(ConfigError, match=f"agency {AGENCY}'s, not 330881000000's"):
        restore(tmp_path / "b.tar", tmp_path / "target", agency="330881000000")


async def test_restore_fences_the_chains_and_a_publisher_starts_fresh(
    folder: Path, tmp_path: Path
) -> None:
    async with LocalStore(folder / f"{AGENCY}.sqlite") as store:
        old = await store.process_chain_id(AGENCY, "main")
    back_up(folder, tmp_path / "b.tar", agency=AGENCY)
    restored = restore(tmp_path / "b.tar", tmp_path / "target")
    assert restored.fenced == {"main": old}
    async with LocalStore(restored.folder / f"{AGENCY}.sqlite") as store:
        new = await store.process_chain_id(AGENCY, "main")
        assert new != old
        assert new.startswith(f"{AGENCY}.main.")
        assert await store.chain_head(f"{new}.p0", "silian.jpg.alert.v1") == ChainHead(
            seq=0, hash=GENESIS
        )
        # The old chain's head is kept, as history: nobody continues it.
        assert (await store.chain_head(f"{old}.p0", "silian.jpg.alert.v1")).seq == 7
