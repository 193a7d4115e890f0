"""A state backup: an agency's SQLite databases, copied online, in one archive.

:func:`back_up` copies every SQLite database of an agency's state folder
(``<state>/<agency>/``: its local store, ``serve``'s effects, the adapter's outbox, the
Merkle log) with SQLite's online backup, which works while ``silian serve`` writes them:
each database is copied in one read transaction, a snapshot of one moment that the WAL
writer does not wait for. The archive is a tar file, 0600 (it holds decrypted content):

* ``manifest.json`` first (:class:`Manifest`): the format and its version, the agency,
  when, each file's name, size and SHA-256, its tables' row counts, and of the local store
  its ledger's row count and its own chains' heads;
* ``state/<name>`` each database, self-contained (its journal in the file, no ``-wal``).

The local store is copied first: every other database is written *before* the store
notes what it was written for (an effect, an inbox row before the record is marked
processed; an outbox row marked published after its ledger line), so the others are
never older than the store they go with.

The copy of the local store is fenced (:func:`bus.state.store.fence_chains`): it names
no chain a publisher could continue, since what the agency published after the backup
is not in it. Restoring is :mod:`bus.state.restore`; docs/cli.md says what either does.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bus.envelope.ids import format_time, now
from bus.errors import ConfigError
from bus.state.private import check_private, private_file, private_parents
from bus.state.store import fence_chains, ledger_rows, own_chains

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "BackupFile",
    "ChainHeadRow",
    "Manifest",
    "StoreSummary",
    "back_up",
    "databases",
    "is_database",
    "member_name",
    "sha256_of",
    "store_name",
]

FORMAT = "silian-state-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_MEMBERS = "state/"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SIDECARS = ("-wal", "-shm", "-journal")
# A plain file name: no folder, no leading dot, nothing a shell or a tar would read as more.
_NAME = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,200}$"

Progress = Callable[[str], None]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BackupFile(_Frozen):
    """One database in the archive, as ``state/<name>``."""

    name: str = Field(pattern=_NAME)
    kind: str  # store, effects, adapter, merkle-log or sqlite
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    tables: dict[str, int]  # rows per table, at the moment of the copy


class ChainHeadRow(_Frozen):
    chain_id: str
    topic: str
    seq: int
    hash: str


class StoreSummary(_Frozen):
    """The local store as copied: its ledger and this agency's own chains."""

    file: str = Field(pattern=_NAME)
    ledger_rows: int = Field(ge=0)
    # Each publisher's chain id prefix at the moment of the copy; fenced in the copy.
    fenced_publishers: dict[str, str]
    chain_heads: list[ChainHeadRow]


class Manifest(_Frozen):
    format: Literal["silian-state-backup"]
    version: Literal[1]
    agency: str = Field(pattern=r"^[0-9A-Za-z_-]{1,64}$")
    created: str  # RFC 3339, +08:00
    sqlite_version: str
    files: list[BackupFile]
    store: StoreSummary | None
    left_out: list[str]  # what else the folder held (not SQLite databases): not copied


def store_name(agency: str) -> str:
    """The local store's file in ``<state>/<agency>/``, as :class:`bus.node.bus.Bus` names it."""
    return f"{agency}.sqlite"


def member_name(name: str) -> str:
    """The archive member of database ``name``."""
    return _MEMBERS + name


def is_database(path: Path) -> bool:
    """``path`` is a regular file that starts as every SQLite database does."""
    if not path.is_file() or path.name.endswith(_SIDECARS):
        return False
    with path.open("rb") as head:
        return head.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC


def databases(folder: Path, agency: str) -> list[Path]:
    """The SQLite databases directly in ``folder``: the local store first, then by name."""
    found = sorted(path for path in folder.iterdir() if is_database(path))
    return sorted(found, key=lambda path: path.name != store_name(agency))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _kind(name: str, agency: str) -> str:
    known = {
        store_name(agency): "store",
        "effects.sqlite": "effects",
        "adapter.sqlite": "adapter",
        "merkle.sqlite": "merkle-log",
    }
    return known.get(name, "sqlite")


def back_up(folder: Path, out: Path, *, agency: str, progress: Progress | None = None) -> Manifest:
    """Copy the databases of ``folder`` (an agency's state folder) into the archive ``out``.

    ``out`` is replaced only once the new archive is whole and on disk. ConfigError when
    ``folder`` is no agency's state or holds no database; SQLite's errors as they are.
    """
    say = progress or (lambda _line: None)
    if not folder.is_dir():
        raise ConfigError(f"no state of agency {agency}: {folder} is not a folder")
    check_private(folder)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; name the archive file to write")
    found = databases(folder, agency)
    if not found:
        raise ConfigError(f"state folder {folder} holds no SQLite database to back up")
    names = {path.name for path in found}
    left_out = sorted(
        path.name
        for path in folder.iterdir()
        if path.name not in names and path.name.removesuffix(_sidecar(path.name)) not in names
    )
    private_parents(out)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))  # 0700
    try:
        files, store = [], None
        for number, source in enumerate(found, 1):
            size = source.stat().st_size
            say(f"{number}/{len(found)} {source.name} ({_megabytes(size)}) …")
            copy = stage / source.name
            summary = _copy(source, copy, store=source.name == store_name(agency))
            if summary is not None:
                store = summary
            tables = _tables(copy)
            files.append(
                BackupFile(
                    name=source.name,
                    kind=_kind(source.name, agency),
                    size=copy.stat().st_size,
                    sha256=sha256_of(copy),
                    tables=tables,
                )
            )
        manifest = Manifest(
            format=FORMAT,
            version=FORMAT_VERSION,
            agency=agency,
            created=format_time(now()),
            sqlite_version=sqlite3.sqlite_version,
            files=files,
            store=store,
            left_out=left_out,
        )
        say(f"writing {out} …")
        _write_archive(out, manifest, stage)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return manifest


def _sidecar(name: str) -> str:
    return next((suffix for suffix in _SIDECARS if name.endswith(suffix)), "")


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _copy(source: Path, target: Path, *, store: bool) -> StoreSummary | None:
    """``source`` copied online to ``target`` (0600, self-contained); a store also fenced."""
    # Read-write, though it only reads: the last connection to close a WAL database (this
    # one, when serve is not running) checkpoints it and removes its -wal; a read-only one
    # would leave an empty -wal and an -shm behind.
    reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=30.0)
    try:
        private_file(target)  # 0600 before SQLite writes a page or a journal beside it
        copy = sqlite3.connect(target, isolation_level=None)
        try:
            # pages=-1: every page in one step, so in one read transaction of the source —
            # a snapshot of one moment. A step-by-step copy would start again from the
            # beginning after each write of the running service, maybe forever.
            reader.backup(copy, pages=-1)
            copy.execute("PRAGMA journal_mode=DELETE")  # the file whole, no -wal beside it
            if not store:
                return None
            publishers, heads = own_chains(copy)
            summary = StoreSummary(
                file=source.name,
                ledger_rows=ledger_rows(copy),
                fenced_publishers=publishers,
                chain_heads=[
                    ChainHeadRow(chain_id=chain_id, topic=topic, seq=head.seq, hash=head.hash)
                    for chain_id, topic, head in heads
                ],
            )
            fence_chains(copy)
            return summary
        finally:
            copy.close()
    finally:
        reader.close()


def _tables(path: Path) -> dict[str, int]:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = [
            str(row[0])
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            )
        ]
        quoted = {name: '"' + name.replace('"', '""') + '"' for name in names}
        return {
            name: int(db.execute(f"SELECT count(*) FROM {quoted[name]}").fetchone()[0])  # noqa: S608 - names from the file's own catalogue, quoted
            for name in names
        }
    finally:
        db.close()


def _write_archive(out: Path, manifest: Manifest, stage: Path) -> None:
    """The tar archive, written beside ``out`` as ``.<name>.tmp`` (0600), synced, renamed."""
    temporary = out.with_name(f".{out.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", closefd=False) as raw:
            with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for name, size, data in _members(manifest, stage):
                    info = tarfile.TarInfo(name)
                    info.size, info.mode = size, 0o600
                    info.mtime = int(now().timestamp())
                    with data:
                        tar.addfile(info, data)
            raw.flush()
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temporary, out)
    folder = os.open(out.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)  # the rename too is on disk
    finally:
        os.close(folder)


def _members(manifest: Manifest, stage: Path) -> Iterator[tuple[str, int, io.BufferedIOBase]]:
    text = (manifest.model_dump_json(indent=2) + "\n").encode("utf-8")
    yield MANIFEST, len(text), io.BytesIO(text)
    for file in manifest.files:
        yield member_name(file.name), file.size, (stage / file.name).open("rb")
