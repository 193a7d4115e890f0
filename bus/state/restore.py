"""Restoring a state backup (:mod:`bus.state.backup`) into an agency's state folder.

:func:`restore` does, in this order, and stops with nothing changed at the first refusal:

1. reads the archive into a private staging folder beside the state, verifying it: the
   manifest first (its format and version), then every member — exactly the files the
   manifest lists, each of its size and SHA-256 — then each a sound SQLite database
   (``PRAGMA integrity_check``) and the store's ledger of the manifest's row count.
   A damaged or altered backup is a :class:`BackupError` naming the file;
2. refuses a state folder a process has open (:class:`StateInUseError`): ``silian
   serve`` takes no lock of its own, so SQLite is asked — every connection to a WAL
   database holds a shared lock on it for as long as it is open, and a connection that
   cannot take the file for itself (``locking_mode=EXCLUSIVE``, no wait) is not alone;
3. refuses a state folder that is not empty unless ``force`` (ConfigError); with it, the
   databases already there (and their ``-wal``/``-shm``) are moved, not deleted, into
   ``before-restore-<time>/`` in the folder; every other file stays;
4. fences the store's chains (:func:`bus.state.store.fence_chains`): a restored store is
   older than what its publishers already signed, and continuing a chain from its heads
   would sign a second record for a (chain id, seq) already sent — a fork, which every
   neighbour must take for a forgery. Its publishers start new chains instead;
5. puts the databases in place (0600) and syncs the folder.

What restore does not do — consumer groups, receipts, the outbox, the witness — is
written down in docs/cli.md.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from bus.envelope.ids import now
from bus.errors import BackupError, ConfigError, StateInUseError
from bus.state.backup import (
    MANIFEST,
    Manifest,
    Progress,
    databases,
    member_name,
)
from bus.state.private import private_file, private_folder
from bus.state.store import fence_chains, ledger_rows

__all__ = ["Restored", "in_use", "restore", "verify_backup"]

_MANIFEST_LIMIT = 1 << 20  # a manifest is a few kilobytes; more is not one of ours
_SIDECARS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True, kw_only=True)
class Restored:
    """What :func:`restore` did."""

    manifest: Manifest
    folder: Path  # <state>/<agency>
    files: list[str]  # the databases put in place
    fenced: dict[str, str]  # publisher → the chain id prefix it no longer continues
    moved_aside: Path | None  # where the databases the folder held went (force)
    kept: list[str]  # other files the folder held, left as they were


def in_use(path: Path) -> bool:
    """Another connection (this process's or another's) has the database ``path`` open.

    Every connection to a WAL database keeps a shared lock on it while it is open, idle
    or not; one that asks for the file alone without waiting is then refused at once.
    """
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=0)
    try:
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("BEGIN EXCLUSIVE")
        db.execute("ROLLBACK")
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            return True
        raise
    finally:
        db.close()
    return False


def verify_backup(archive: Path, stage: Path, *, progress: Progress | None = None) -> Manifest:
    """Step 1: ``archive`` read into ``stage`` (a private folder) and verified; its manifest."""
    say = progress or (lambda _line: None)
    name = archive.name
    handle = archive.open("rb")  # a missing or unreadable file is the OS's error, as it is
    try:
        with handle, tarfile.open(fileobj=handle, mode="r:*") as tar:
            members = iter(tar)
            first = next(members, None)
            if first is None or first.name != MANIFEST or not first.isfile():
                raise BackupError(f"{name} is not a silian state backup (no {MANIFEST} first)")
            manifest = _manifest(name, _read(tar.extractfile(first), _MANIFEST_LIMIT))
            expected = {member_name(f.name): f for f in manifest.files}
            if len(expected) != len(manifest.files):
                raise BackupError(f"backup {name}: its manifest lists a file twice: altered")
            seen: set[str] = set()
            for member in members:
                file = expected.get(member.name)
                if file is None or member.name in seen or not member.isfile():
                    raise BackupError(
                        f"backup {name} holds {member.name[:100]!r}, which its manifest "
                        "does not list: altered"
                    )
                seen.add(member.name)
                say(f"verifying {file.name} …")
                size, digest = _stage(tar.extractfile(member), stage / file.name)
                if size != file.size or digest != file.sha256:
                    raise BackupError(
                        f"backup {name}: {file.name} is damaged or altered (size {size}, "
                        f"SHA-256 {digest[:16]}…; the manifest says size {file.size}, "
                        f"SHA-256 {file.sha256[:16]}…)"
                    )
    except (tarfile.TarError, EOFError) as error:
        raise BackupError(
            f"backup {name} is damaged (truncated, or not a tar file): {error}"
        ) from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError(
            f"backup {name} lacks {missing[0].removeprefix('state/')}, which its manifest "
            "lists: damaged (truncated?)"
        )
    for file in manifest.files:
        _check_database(name, stage / file.name, file.name)
    if manifest.store is not None:
        rows = _ledger_rows(stage / manifest.store.file)
        if rows != manifest.store.ledger_rows:
            raise BackupError(
                f"backup {name}: the ledger of {manifest.store.file} holds {rows} rows, its "
                f"manifest says {manifest.store.ledger_rows}: altered"
            )
    return manifest


def restore(
    archive: Path,
    state: Path,
    *,
    agency: str = "",
    force: bool = False,
    progress: Progress | None = None,
) -> Restored:
    """Restore ``archive`` into ``state``/<its agency> as the module docstring says.

    ``agency`` (when not empty) must be the backup's. ``state`` is the state folder that
    holds one folder per agency (``--state``), made 0700 if missing.
    """
    root = private_folder(state)
    stage = Path(tempfile.mkdtemp(prefix=".restore-", dir=root))  # 0700, on the same disk
    try:
        manifest = verify_backup(archive, stage, progress=progress)  # 1.
        if agency and agency != manifest.agency:
            raise ConfigError(
                f"backup {archive.name} is agency {manifest.agency}'s, not {agency}'s"
            )
        folder = private_folder(root / manifest.agency)  # made 0700, or checked private
        present = sorted(folder.iterdir())
        held = databases(folder, manifest.agency)
        busy = [path.name for path in held if in_use(path)]  # 2.
        if busy:
            raise StateInUseError(
                f"state folder {folder} is in use: {', '.join(busy)} open in another process "
                "(silian serve, an adapter?); stop it, then restore"
            )
        if present and not force:  # 3.
            shown = ", ".join(path.name for path in present[:3])
            more = f" and {len(present) - 3} more" if len(present) > 3 else ""
            raise ConfigError(
                f"state folder {folder} is not empty ({shown}{more}); restore refuses to "
                "overwrite it: pass --force to move its databases aside"
            )
        fenced: dict[str, str] = {}
        if manifest.store is not None:  # 4. (the backup fenced its copy; so again here)
            fenced = {**manifest.store.fenced_publishers, **_fence(stage / manifest.store.file)}
        aside = _move_aside(folder, held, [f.name for f in manifest.files]) if force else None
        for file in manifest.files:  # 5.
            os.replace(stage / file.name, folder / file.name)
        _sync(folder)
        restored = {f.name for f in manifest.files}
        kept = sorted(p.name for p in folder.iterdir() if p.name not in restored and p != aside)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return Restored(
        manifest=manifest,
        folder=folder,
        files=[f.name for f in manifest.files],
        fenced=fenced,
        moved_aside=aside,
        kept=kept,
    )


def _manifest(name: str, text: bytes) -> Manifest:
    try:
        return Manifest.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the manifest"
        raise BackupError(
            f"{name} is not a silian state backup of a known version ({MANIFEST}: {where}: "
            f"{first['msg']})"
        ) from None


def _read(data: IO[bytes] | None, limit: int) -> bytes:
    text = b"" if data is None else data.read(limit + 1)
    if len(text) > limit:
        raise BackupError(f"{MANIFEST} is larger than {limit} bytes: not a silian state backup")
    return text


def _stage(data: IO[bytes] | None, target: Path) -> tuple[int, str]:
    """``data`` written to ``target`` (0600); its size and SHA-256."""
    digest, size = hashlib.sha256(), 0
    private_file(target)
    with target.open("wb") as out:
        for block in iter(lambda: b"" if data is None else data.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


def _check_database(archive: str, path: Path, name: str) -> None:
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            verdict = [str(row[0]) for row in db.execute("PRAGMA integrity_check")]
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"backup {archive}: {name} is not a sound database: {error}") from None
    if verdict != ["ok"]:
        raise BackupError(f"backup {archive}: {name} fails SQLite's integrity check: {verdict[0]}")


def _ledger_rows(path: Path) -> int:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return ledger_rows(db)
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path.name} is not a silian local store: {error}") from None
    finally:
        db.close()


def _fence(path: Path) -> dict[str, str]:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        return fence_chains(db)
    finally:
        db.close()


def _move_aside(folder: Path, held: list[Path], restoring: list[str]) -> Path | None:
    """The databases ``folder`` holds, and the ``-wal``/``-shm`` of every database about to
    be put there, moved into ``before-restore-<time>/`` (a stale ``-wal`` beside a restored
    file would be read as its own). None when there was nothing to move."""
    names = {path.name for path in held} | set(restoring)
    moving = [
        folder / (name + suffix)
        for name in sorted(names)
        for suffix in ("", *_SIDECARS)
        if (folder / (name + suffix)).exists()
    ]
    if not moving:
        return None
    stamp = now().strftime("%Y%m%dT%H%M%S")
    aside = folder / f"before-restore-{stamp}"
    for again in range(2, 1000):  # two restores within one second
        if not aside.exists():
            break
        aside = folder / f"before-restore-{stamp}-{again}"
    private_folder(aside)
    for path in moving:
        os.replace(path, aside / path.name)
    _sync(aside)
    return aside


def _sync(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
