"""The file-drop adapter: a legacy system that exports and imports files (Guangfeng's).

Folder layout under ``root`` (each may be set on its own)::

    outbox/     the legacy system exports *.csv and *.xml here (UTF-8 or GBK)
    inbox/      the adapter writes one file per inbound event; the legacy system imports
    archive/    exports the adapter has published (moved, never deleted)
    rejected/   exports that could not be read, each with <name>.reason.txt; and single
                rows that could not be mapped, as <name>.row<N>.reason.txt

**A half-written file is never read.** With ``ready = "marker"`` (the default) an export
``X.csv`` is taken only once ``X.csv.done`` exists — the legacy system writes the marker
after closing the file. With ``ready = "stable"`` (for systems that cannot write a
marker) a file is taken once its size and modification time have not changed for
``settle_seconds``. Either way, names starting with ``.`` or ``~`` or ending in ``.tmp``
or ``.part`` are ignored. Exports are taken in name order (legacy systems name them by
time), rows in file order.

**Encodings**: each file is decoded with the first of ``encodings`` (default UTF-8, then
GBK) that reads it whole; an XML file's own declaration wins. A file no encoding reads is
moved to ``rejected/`` with the byte offset of the problem.

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
import csv
import hashlib
import io
import os
import re
import shutil
import time
import xml.etree.ElementTree as ET  # only to build inbound files; parsing uses defusedxml
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from adapters._files import write_atomic
from adapters.base import (
    InboundEvent,
    LocalRecord,
    LocalRejectionError,
    LocalSystem,
    LocalUnavailableError,
)
from adapters.config import LocalSection
from bus.errors import ConfigError

__all__ = ["FileDropConfig", "FileDropSystem"]

_IGNORED_PREFIXES = (".", "~")
_IGNORED_SUFFIXES = (".tmp", ".part", ".done", ".reason.txt")
MARKER = ".done"
_DECLARED = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*encoding=["']([A-Za-z0-9_.-]+)["']""")


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
        for name in (*encodings, str(s.get("inbound_encoding", "gbk"))):
            try:
                "".encode(name)
            except LookupError:
                raise ConfigError(f"{section.source}: unknown encoding {name!r}") from None
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
        )


class _BadFileError(Exception):
    """A whole export cannot be read (encoding, syntax): it goes to ``rejected/``."""


@dataclass
class _OpenFile:
    path: Path
    pending: set[str] = field(default_factory=set)


class FileDropSystem(LocalSystem):
    def __init__(self, config: FileDropConfig) -> None:
        self._config = config
        self._open: dict[str, _OpenFile] = {}  # file name → rows not yet confirmed
        self._seen_sizes: dict[str, tuple[int, int, float]] = {}  # stable mode
        self._written: set[str] = set()
        self._written_log = config.state_dir / "filedrop-written.txt"

    async def start(self) -> None:
        def prepare() -> set[str]:
            c = self._config
            for folder in (c.outbox, c.inbox, c.archive, c.rejected, c.state_dir):
                folder.mkdir(parents=True, exist_ok=True)
            if not self._written_log.exists():
                return set()
            return set(self._written_log.read_text(encoding="utf-8").split())

        self._written = await asyncio.to_thread(prepare)

    async def stop(self) -> None:
        self._open.clear()

    # -- outbound ----------------------------------------------------------------------
    async def fetch_outbound(self) -> list[LocalRecord]:
        return await asyncio.to_thread(self._fetch)

    def _fetch(self) -> list[LocalRecord]:
        try:
            names = sorted(p.name for p in self._config.outbox.iterdir() if p.is_file())
        except OSError as error:
            raise LocalUnavailableError(f"outbox {self._config.outbox}: {error}") from None
        records: list[LocalRecord] = []
        present = set(names)
        for name in names:
            if name in self._open or not self._ready(name, present):
                continue
            path = self._config.outbox / name
            try:
                found = self._read(path)
            except _BadFileError as error:
                self._reject_file(path, str(error))
                continue
            if not found:
                self._archive(path)
                continue
            self._open[name] = _OpenFile(path=path, pending={r.local_id for r in found})
            records.extend(found)
        return records

    def _ready(self, name: str, names: set[str]) -> bool:
        if name.startswith(_IGNORED_PREFIXES) or name.endswith(_IGNORED_SUFFIXES):
            return False
        if not name.lower().endswith((".csv", ".xml")):
            return False
        if self._config.ready == "marker":
            return f"{name}{MARKER}" in names
        stat = (self._config.outbox / name).stat()
        now = time.monotonic()
        seen = self._seen_sizes.get(name)
        if seen is None or seen[:2] != (stat.st_size, stat.st_mtime_ns):
            self._seen_sizes[name] = (stat.st_size, stat.st_mtime_ns, now)
            return False
        return now - seen[2] >= self._config.settle_seconds

    def _decode(self, path: Path, raw: bytes) -> str:
        problems = []
        for encoding in self._config.encodings:
            try:
                text = raw.decode(
                    "utf-8-sig" if encoding.lower() in {"utf-8", "utf8"} else encoding
                )
            except UnicodeDecodeError as error:
                line = raw[: error.start].count(b"\n") + 1
                problems.append(f"not {encoding} (byte 0x{raw[error.start]:02x} at offset "
                                f"{error.start}, line {line})")  # fmt: skip
                continue
            return text
        raise _BadFileError(f"{path.name}: wrong encoding: " + "; ".join(problems))

    def _read(self, path: Path) -> list[LocalRecord]:
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()[:12]
        if path.suffix.lower() == ".xml":
            rows = self._xml_rows(path, raw)
        else:
            rows = self._csv_rows(path, self._decode(path, raw))
        records = []
        for where, kind, fields in rows:
            records.append(
                LocalRecord(
                    local_id=f"{path.name}@{digest}#{where.rsplit(' ', 1)[-1]}",
                    kind=kind,
                    fields=fields,
                    where=f"{path} {where}",
                )
            )
        return records

    def _csv_rows(self, path: Path, text: str) -> list[tuple[str, str, dict[str, Any]]]:
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return []
        except csv.Error as error:
            raise _BadFileError(f"{path.name}: not CSV: {error}") from None
        rows = []
        try:
            for number, row in enumerate(reader, start=2):
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise _BadFileError(
                        f"{path.name} row {number}: {len(row)} columns, the header has "
                        f"{len(header)}"
                    )
                fields = dict(zip(header, (c.strip() for c in row), strict=True))
                rows.append((f"row {number}", fields.get(self._config.kind_field, ""), fields))
        except csv.Error as error:
            raise _BadFileError(f"{path.name}: not CSV: {error}") from None
        return rows

    def _xml_rows(self, path: Path, raw: bytes) -> list[tuple[str, str, dict[str, Any]]]:
        try:
            try:
                root = SafeET.fromstring(raw)
            except (ET.ParseError, ValueError, LookupError):
                # expat reads no multi-byte encoding (GBK) and needs a right declaration:
                # decode with the declared encoding (else the list), then parse the text
                root = SafeET.fromstring(self._xml_text(path, raw))
        except ET.ParseError as error:
            raise _BadFileError(f"{path.name}: not well-formed XML: {error}") from None
        except DefusedXmlException as error:  # entities, DTDs: not from an honest export
            raise _BadFileError(f"{path.name}: refused XML: {type(error).__name__}") from None
        rows = []
        for number, element in enumerate(root, start=1):
            fields = {child.tag: (child.text or "").strip() for child in element}
            kind = element.get(self._config.kind_field) or fields.get(self._config.kind_field)
            rows.append((f"record {number}", kind or element.tag, fields))
        return rows

    def _xml_text(self, path: Path, raw: bytes) -> str:
        declared = _DECLARED.match(raw)
        if declared is None:
            text = self._decode(path, raw)
        else:
            encoding = declared[1].decode("ascii")
            try:
                text = raw.decode(encoding)
            except (LookupError, UnicodeDecodeError) as error:
                raise _BadFileError(
                    f"{path.name}: wrong encoding: declared {encoding}, but {error}"
                ) from None
        text = text.lstrip("\ufeff")
        return text[text.index("?>") + 2 :] if text.startswith("<?xml") else text

    def _move(self, path: Path, folder: Path) -> Path:
        target = folder / path.name
        if target.exists():  # an export of the same name came before: keep both
            target = folder / f"{path.stem}.{time.monotonic_ns()}{path.suffix}"
        shutil.move(path, target)
        marker = path.with_name(path.name + MARKER)
        if marker.exists():
            marker.unlink()
        return target

    def _archive(self, path: Path) -> None:
        self._open.pop(path.name, None)
        self._seen_sizes.pop(path.name, None)
        self._move(path, self._config.archive)

    def _reject_file(self, path: Path, reason: str) -> None:
        target = self._move(path, self._config.rejected)
        write_atomic(target.with_name(target.name + ".reason.txt"), (reason + "\n").encode())

    def _settle(self, record: LocalRecord) -> None:
        name = record.local_id.split("@", 1)[0]
        open_file = self._open.get(name)
        if open_file is None:
            return
        open_file.pending.discard(record.local_id)
        if not open_file.pending and open_file.path.exists():
            self._archive(open_file.path)

    async def confirm_outbound(self, record: LocalRecord) -> None:
        await asyncio.to_thread(self._settle, record)

    async def set_aside(self, record: LocalRecord, reason: str) -> None:
        def keep() -> None:
            name, _, row = record.local_id.partition("#")
            note = f"{reason}\n\n{record.where}\n" + "\n".join(
                f"{k}: {v}" for k, v in record.fields.items()
            )
            target = self._config.rejected / f"{name.split('@')[0]}.{row}.reason.txt"
            write_atomic(target, (note + "\n").encode("utf-8"))
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
        fields = {k: "" if v is None else str(v) for k, v in event.fields.items()}
        if c.inbound_format == "xml":
            element = ET.Element("记录", {c.kind_field: event.kind, "事件编号": event.event_id})
            for key, value in fields.items():
                try:
                    ET.SubElement(element, key).text = value
                except ValueError as error:
                    raise LocalRejectionError(f"field {key!r}: {error}") from None
            data = ET.tostring(element, encoding=c.inbound_encoding, xml_declaration=True)
        else:
            out = io.StringIO(newline="")
            writer = csv.writer(out)
            writer.writerow([c.kind_field, *fields])
            writer.writerow([event.kind, *fields.values()])
            try:
                data = out.getvalue().encode(c.inbound_encoding)
            except UnicodeEncodeError as error:
                raise LocalRejectionError(
                    f"{error.object[error.start : error.end]!r} cannot be written in "
                    f"{c.inbound_encoding}, the legacy system's encoding"
                ) from None
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
