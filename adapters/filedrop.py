"""The file-drop adapter: a legacy system that exports and imports files (Guangfeng's).

Folder layout under ``root`` (each may be set on its own)::

    outbox/     the legacy system exports *.csv and *.xml here (UTF-8 or GBK)
    inbox/      the adapter writes one file per inbound event; the legacy system imports
    archive/    exports the adapter has published (moved, never deleted)
    rejected/   exports that could not be read, each with <name>.reason.txt; and single
                rows that could not be mapped, as <name>.<N>.reason.txt

**A half-written file is never read.** With ``ready = "marker"`` (the default) an export
``X.csv`` is taken only once ``X.csv.done`` exists — the legacy system writes the marker
after closing the file. With ``ready = "stable"`` (for systems that cannot write a
marker) a file is taken once its size and modification time have not changed for
``settle_seconds``. Either way, names starting with ``.`` or ``~`` or ending in ``.tmp``
or ``.part`` are ignored. Exports are taken in name order (legacy systems name them by
time), one at a time, rows in file order.

**Only files of the outbox are read.** A symbolic link there (to anywhere) is never
followed: it is moved to ``rejected/`` with the reason, as is anything that is not a
regular file by the time it is opened (``O_NOFOLLOW``); the outbox folder itself must stay
where the configuration found it.

**Bounded memory**: an export is read through once to be checked whole (encoding, syntax;
:mod:`adapters._exports`), then read again and handed to the runner ``batch`` rows at a
time (default 500); rows handed out but not yet confirmed or set aside are handed out
again on the next fetch, so a step that failed is retried without a restart.

**Encodings**: each file is decoded with the first of ``encodings`` (default UTF-8, then
GBK) that reads it whole; an XML file's own declaration wins. A file no encoding reads is
moved to ``rejected/`` with the byte offset of the problem. XML is parsed with defusedxml:
a DTD or an entity refuses the file.

**Records**: a CSV file has a header row; each further row is a record, ``where`` =
``<file> row <n>`` (the header is row 1). An XML file's root holds one element per
record, whose child elements are the fields. The record kind is the ``kind_field``
column / attribute / child (default ``记录类型``).

**Inbound**: one file per event, ``<kind>_<event id>.xml`` (or ``.csv``) in
``inbound_encoding`` (default GBK), written to a temporary name and renamed into place
(and followed by its ``.done`` marker in marker mode), so the legacy system never sees
half a file. Idempotent: an event already written (the adapter keeps a list of them in its
state folder) is not written again, even if the legacy system already took the file.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters._exports import BadExportError, Export, ExportRow
from adapters._files import import_file, write_atomic
from adapters.base import (
    InboundEvent,
    LocalRecord,
    LocalSystem,
    LocalUnavailableError,
)
from adapters.config import LocalSection
from bus.errors import ConfigError
from bus.logs import get_logger

__all__ = ["FileDropConfig", "FileDropSystem"]

log = get_logger("silian.adapters.filedrop")

_IGNORED_PREFIXES = (".", "~")
_IGNORED_SUFFIXES = (".tmp", ".part", ".done", ".reason.txt")
MARKER = ".done"


@dataclass(frozen=True, kw_only=True, slots=True)
class FileDropConfig:
    """``[local]`` with ``kind = "filedrop"``."""

    outbox: Path
    inbox: Path
    archive: Path
    rejected: Path
    state_dir: Path
    ready: str = "marker"  # marker | stable
    settle_seconds: float = 2.0
    encodings: tuple[str, ...] = ("utf-8", "gbk")
    kind_field: str = "记录类型"
    inbound_format: str = "xml"  # xml | csv
    inbound_encoding: str = "gbk"
    batch: int = 500  # rows handed to the runner per fetch

    @classmethod
    def from_section(cls, section: LocalSection) -> FileDropConfig:
        root = section.path("root", ".")
        s = section.settings

        def folder(name: str) -> Path:
            return section.path(name) if name in s else root / name

        ready = str(s.get("ready", "marker"))
        if ready not in {"marker", "stable"}:
            raise ConfigError(f'{section.source}: ready must be "marker" or "stable"')
        inbound_format = str(s.get("inbound_format", "xml"))
        if inbound_format not in {"xml", "csv"}:
            raise ConfigError(f'{section.source}: inbound_format must be "xml" or "csv"')
        encodings = tuple(str(e) for e in s.get("encodings", ["utf-8", "gbk"]))
        if not encodings:
            raise ConfigError(f"{section.source}: encodings must name at least one encoding")
        for name in (*encodings, str(s.get("inbound_encoding", "gbk"))):
            try:
                "".encode(name)
            except LookupError:
                raise ConfigError(f"{section.source}: unknown encoding {name!r}") from None
        batch = section.number("batch", 500)
        if batch < 1 or batch != int(batch):
            raise ConfigError(f"{section.source}: batch must be a whole number ≥ 1")
        return cls(
            outbox=folder("outbox"),
            inbox=folder("inbox"),
            archive=folder("archive"),
            rejected=folder("rejected"),
            state_dir=section.state_dir,
            ready=ready,
            settle_seconds=section.number("settle_seconds", 2.0),
            encodings=encodings,
            kind_field=str(s.get("kind_field", "记录类型")),
            inbound_format=inbound_format,
            inbound_encoding=str(s.get("inbound_encoding", "gbk")),
            batch=int(batch),
        )


@dataclass
class _OpenFile:
    """An export in progress: the rest of its rows, and those handed out not yet settled."""

    path: Path
    rows: Generator[LocalRecord, None, None]
    handed: dict[str, LocalRecord] = field(default_factory=dict)
    read_all: bool = False


class FileDropSystem(LocalSystem):
    def __init__(self, config: FileDropConfig) -> None:
        self._config = config
        # file name → export in progress, in name order; all but the last are read to the end
        self._open: dict[str, _OpenFile] = {}
        self._seen_sizes: dict[str, tuple[int, int, float]] = {}  # stable mode
        self._written: set[str] = set()
        self._written_log = config.state_dir / "filedrop-written.txt"
        self._outbox_at = os.path.realpath(config.outbox)  # where it is; checked each listing

    async def start(self) -> None:
        def prepare() -> set[str]:
            c = self._config
            for folder in (c.outbox, c.inbox, c.archive, c.rejected, c.state_dir):
                folder.mkdir(parents=True, exist_ok=True)
            self._outbox_at = os.path.realpath(c.outbox)
            if not self._written_log.exists():
                return set()
            return set(self._written_log.read_text(encoding="utf-8").split())

        self._written = await asyncio.to_thread(prepare)

    async def stop(self) -> None:
        self._forget_all()

    def _forget_all(self) -> None:
        for open_file in self._open.values():
            open_file.rows.close()  # and with it the file
        self._open.clear()

    # -- outbound ----------------------------------------------------------------------
    async def fetch_outbound(self) -> list[LocalRecord]:
        return await asyncio.to_thread(self._fetch)

    def _fetch(self) -> list[LocalRecord]:
        """Up to ``batch`` rows: those handed out and not settled since, if any (again);
        else the next rows of the exports in name order."""
        again = [record for f in self._open.values() for record in f.handed.values()]
        if again:
            return again
        batch: list[LocalRecord] = []
        while len(batch) < self._config.batch:
            reading = next((f for f in self._open.values() if not f.read_all), None)
            reading = reading or self._open_next()
            if reading is None:
                break
            wanted = self._config.batch - len(batch)
            try:
                rows = list(itertools.islice(reading.rows, wanted))
            except BadExportError as error:  # it changed under us after the check
                self._forget(reading)
                self._reject_file(reading.path, str(error))
                continue
            reading.read_all = len(rows) < wanted
            reading.handed.update((record.local_id, record) for record in rows)
            batch.extend(rows)
            if reading.read_all and not reading.handed:
                self._finish(reading)  # nothing in it (or nothing left): archived
        return batch

    def _open_next(self) -> _OpenFile | None:
        """The first ready export in name order, checked whole; bad ones are rejected."""
        c = self._config
        try:
            if (now_at := os.path.realpath(c.outbox)) != self._outbox_at:
                raise LocalUnavailableError(
                    f"outbox {c.outbox} now leads to {now_at}, not {self._outbox_at} as at "
                    "start; not followed"
                )
            entries = sorted(os.scandir(c.outbox), key=lambda e: e.name)
        except OSError as error:
            raise LocalUnavailableError(f"outbox {c.outbox}: {error.strerror}") from None
        present = {entry.name for entry in entries}
        for entry in entries:
            if entry.name in self._open or not _looks_like_export(entry.name):
                continue
            try:
                if (open_file := self._take_up(entry, present)) is not None:
                    return open_file
            except FileNotFoundError:
                continue  # gone since the folder was listed
        return None

    def _take_up(self, entry: os.DirEntry[str], present: set[str]) -> _OpenFile | None:
        """``entry``, checked whole and open for reading, if it is a ready export."""
        c, path = self._config, self._config.outbox / entry.name
        if entry.is_symlink():
            target = os.readlink(path)
            self._reject_file(path, f"{entry.name}: is a symbolic link (to {target}); "
                                    "only files in the outbox are read")  # fmt: skip
            return None
        if not entry.is_file(follow_symlinks=False) or not self._ready(entry, present):
            return None
        try:
            export = Export.open(path, encodings=c.encodings, kind_field=c.kind_field)
        except BadExportError as error:
            self._reject_file(path, str(error))
            return None
        open_file = _OpenFile(path=path, rows=self._records(export))
        self._open[entry.name] = open_file
        return open_file

    def _records(self, export: Export) -> Generator[LocalRecord, None, None]:
        name, where = export.path.name, str(export.path)
        row: ExportRow
        for row in export.rows():
            yield LocalRecord(
                local_id=f"{name}@{export.digest}#{row.number}",
                kind=row.kind,
                fields=row.fields,
                where=f"{where} {row.where}",
            )

    def _ready(self, entry: os.DirEntry[str], names: set[str]) -> bool:
        if self._config.ready == "marker":
            return f"{entry.name}{MARKER}" in names
        stat = entry.stat(follow_symlinks=False)
        now = time.monotonic()
        seen = self._seen_sizes.get(entry.name)
        if seen is None or seen[:2] != (stat.st_size, stat.st_mtime_ns):
            self._seen_sizes[entry.name] = (stat.st_size, stat.st_mtime_ns, now)
            return False
        return now - seen[2] >= self._config.settle_seconds

    def _move(self, path: Path, folder: Path) -> Path:
        target = folder / path.name
        if target.exists() or target.is_symlink():  # one of the same name came before
            target = folder / f"{path.stem}.{time.monotonic_ns()}{path.suffix}"
        shutil.move(path, target)  # a symbolic link is moved, never followed
        marker = path.with_name(path.name + MARKER)
        if marker.exists() or marker.is_symlink():
            marker.unlink()
        return target

    def _forget(self, open_file: _OpenFile) -> None:
        open_file.rows.close()
        self._open.pop(open_file.path.name, None)
        self._seen_sizes.pop(open_file.path.name, None)

    def _finish(self, open_file: _OpenFile) -> None:
        """Every row of the export is settled: archive it."""
        self._forget(open_file)
        try:
            self._move(open_file.path, self._config.archive)
        except FileNotFoundError:
            pass  # gone already (an operator moved it): nothing to archive
        except OSError as error:
            raise LocalUnavailableError(
                f"archive {self._config.archive}: {open_file.path.name} cannot be moved "
                f"there: {error.strerror}"
            ) from None

    def _reject_file(self, path: Path, reason: str) -> None:
        log.warning("filedrop.rejected", file=path.name, reason=reason)
        try:
            target = self._move(path, self._config.rejected)
            write_atomic(target.with_name(target.name + ".reason.txt"), (reason + "\n").encode())
        except FileNotFoundError:
            pass  # gone since it was listed
        except OSError as error:
            raise LocalUnavailableError(
                f"rejected {self._config.rejected}: {path.name} cannot be moved there: "
                f"{error.strerror}"
            ) from None

    def _settle(self, record: LocalRecord) -> None:
        name = record.local_id.split("@", 1)[0]
        open_file = self._open.get(name)
        if open_file is None:
            return
        open_file.handed.pop(record.local_id, None)
        if not open_file.handed and open_file.read_all:
            self._finish(open_file)

    async def confirm_outbound(self, record: LocalRecord) -> None:
        open_file = self._open.get(record.local_id.split("@", 1)[0])
        if open_file is not None and (len(open_file.handed) > 1 or not open_file.read_all):
            # not the export's last row: nothing to move, so no trip to a worker thread
            # (a million-row export would pay a million of them)
            open_file.handed.pop(record.local_id, None)
            return
        await asyncio.to_thread(self._settle, record)

    async def set_aside(self, record: LocalRecord, reason: str) -> None:
        def keep() -> None:
            name, _, row = record.local_id.partition("#")
            note = f"{reason}\n\n{record.where}\n" + "\n".join(
                f"{k}: {v}" for k, v in record.fields.items()
            )
            target = self._config.rejected / f"{name.split('@')[0]}.{row}.reason.txt"
            try:
                write_atomic(target, (note + "\n").encode("utf-8"))
            except OSError as error:
                raise LocalUnavailableError(
                    f"rejected {self._config.rejected}: the note {target.name} cannot be "
                    f"written: {error.strerror}"
                ) from None
            self._settle(record)

        await asyncio.to_thread(keep)

    # -- inbound -----------------------------------------------------------------------
    async def write_inbound(self, event: InboundEvent) -> None:
        if event.event_id in self._written:
            return
        await asyncio.to_thread(self._write, event)
        self._written.add(event.event_id)

    def _write(self, event: InboundEvent) -> None:
        c = self._config
        name = f"{event.kind}_{event.event_id}.{c.inbound_format}"
        data = import_file(
            event, fmt=c.inbound_format, encoding=c.inbound_encoding, kind_field=c.kind_field
        )
        try:
            write_atomic(c.inbox / name, data)
            if c.ready == "marker":
                write_atomic(c.inbox / (name + MARKER), b"")
            with self._written_log.open("a", encoding="utf-8") as log_file:
                log_file.write(event.event_id + "\n")
                log_file.flush()
                os.fsync(log_file.fileno())
        except OSError as error:
            raise LocalUnavailableError(f"inbox {c.inbox}: {error}") from None

    async def health(self) -> dict[str, Any]:
        def count(folder: Path) -> int:
            try:
                return sum(1 for p in folder.iterdir() if not p.name.endswith(MARKER))
            except OSError:
                return -1

        c = self._config
        return {
            "outbox_files": await asyncio.to_thread(count, c.outbox),
            "inbox_files": await asyncio.to_thread(count, c.inbox),
            "rejected_files": await asyncio.to_thread(count, c.rejected),
            "in_progress": sorted(self._open),
        }


def _looks_like_export(name: str) -> bool:
    """A CSV or XML export, not a temporary, hidden or bookkeeping file."""
    if name.startswith(_IGNORED_PREFIXES) or name.endswith(_IGNORED_SUFFIXES):
        return False
    return name.lower().endswith((".csv", ".xml"))
