"""One export file of the file drop, read with bounded memory (see :mod:`adapters.filedrop`).

An export is taken whole or not at all: :meth:`Export.open` first reads it through once —
its digest, the first of the encodings that decodes all of it, and its syntax (every CSV
row against the header; XML well-formed, no DTD, no entities) — and refuses it with the
reason (:class:`BadExportError`) before a single row goes out. Only then does
:meth:`Export.rows` read it again, one row at a time, so that a million-row export never
sits in memory (``bench/filedrop_memory.py``).

Files are opened without following symbolic links (``O_NOFOLLOW``) and only when they are
regular files, so a link swapped in after the folder was listed is refused, not read.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import stat
import xml.etree.ElementTree as ET  # only for its ParseError; parsing uses defusedxml
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

__all__ = ["BadExportError", "Export", "ExportRow", "open_regular"]

_CHUNK = 1 << 20  # bytes read at a time
_DECLARED = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*encoding=["']([A-Za-z0-9_.-]+)["']""")


class BadExportError(Exception):
    """A whole export cannot be read (encoding, syntax, not a file): it goes to
    ``rejected/`` with this message, which names the file and the row or byte."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ExportRow:
    number: int  # CSV: the line's row number (the header is row 1); XML: the record's
    where: str  # "row 7" / "record 3"
    kind: str
    fields: dict[str, str]


def open_regular(path: Path) -> IO[bytes]:
    """``path`` opened for reading if it is a regular file and not a symbolic link."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # NONBLOCK: a FIFO must not hang us
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if os.path.islink(path):
            raise BadExportError(f"{path.name}: is a symbolic link; not followed") from None
        raise BadExportError(f"{path.name}: cannot be read: {error.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BadExportError(f"{path.name}: is not a regular file")
    return os.fdopen(fd, "rb")


def _codec(encoding: str) -> str:
    """UTF-8 is read with or without a byte-order mark."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


class Export:
    """An export checked whole; :meth:`rows` reads it again, row by row."""

    def __init__(self, path: Path, *, digest: str, encoding: str, kind_field: str) -> None:
        self.path = path
        self.digest = digest  # the first 12 hex digits of the file's SHA-256
        self.encoding = encoding
        self._kind_field = kind_field
        self._xml = path.suffix.lower() == ".xml"

    @classmethod
    def open(cls, path: Path, *, encodings: tuple[str, ...], kind_field: str) -> Export:
        """Check ``path`` whole: :class:`BadExportError` says why it cannot be taken."""
        digest = hashlib.sha256()
        declared = _declared(path) if path.suffix.lower() == ".xml" else None
        candidates = (declared,) if declared is not None else encodings
        problems = []
        chosen = None
        for number, encoding in enumerate(candidates):
            # the first pass reads every byte, for the digest, even past a problem
            problem = _decodes(path, encoding, digest.update if number == 0 else None)
            if problem is None:
                chosen = encoding
                break
            problems.append(problem)
        if chosen is None:
            what = "declared " if declared is not None else ""
            raise BadExportError(f"{path.name}: wrong encoding: {what}" + "; ".join(problems))
        export = cls(path, digest=digest.hexdigest()[:12], encoding=chosen, kind_field=kind_field)
        for _ in export.rows():  # the syntax of every row, before any goes out
            pass
        return export

    def rows(self) -> Iterator[ExportRow]:
        """The records, in file order; the file is open only while this is iterated."""
        with open_regular(self.path) as raw:
            text = io.TextIOWrapper(raw, encoding=_codec(self.encoding), newline="")
            try:
                yield from self._xml_rows(text) if self._xml else self._csv_rows(text)
            except UnicodeDecodeError as error:  # changed since it was checked
                raise BadExportError(
                    f"{self.path.name}: changed while being read: {error}"
                ) from None

    def _csv_rows(self, text: IO[str]) -> Iterator[ExportRow]:
        name = self.path.name
        reader = csv.reader(text)
        try:
            header = [h.strip() for h in next(reader, [])]
            for number, row in enumerate(reader, start=2):  # records: a field may hold "\n"
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise BadExportError(
                        f"{name} row {number}: {len(row)} columns, the header has {len(header)}"
                    )
                fields = dict(zip(header, (c.strip() for c in row), strict=True))
                kind = fields.get(self._kind_field, "")
                yield ExportRow(number=number, where=f"row {number}", kind=kind, fields=fields)
        except csv.Error as error:
            raise BadExportError(f"{name}: not CSV: {error}") from None

    def _xml_rows(self, text: IO[str]) -> Iterator[ExportRow]:
        name = self.path.name
        depth, number = 0, 0
        root: ET.Element | None = None
        try:
            # The text is decoded here (expat reads no multi-byte encoding such as GBK);
            # expat, given text, ignores the declared encoding.
            for event, element in SafeET.iterparse(
                text, events=("start", "end"), forbid_dtd=True, forbid_entities=True
            ):
                if event == "start":
                    depth += 1
                    root = element if root is None else root
                    continue
                depth -= 1
                if depth != 1 or root is None:
                    continue
                number += 1
                fields = {child.tag: (child.text or "").strip() for child in element}
                kind = element.get(self._kind_field) or fields.get(self._kind_field)
                root.clear()  # what was read is let go: memory stays flat
                where = f"record {number}"
                yield ExportRow(number=number, where=where, kind=kind or element.tag, fields=fields)
        except ET.ParseError as error:
            raise BadExportError(f"{name}: not well-formed XML: {error}") from None
        except DefusedXmlException as error:  # entities, DTDs: not from an honest export
            raise BadExportError(f"{name}: refused XML: {type(error).__name__}") from None


def _declared(path: Path) -> str | None:
    """An XML file's declared encoding (it wins over the list), if it names a known one."""
    with open_regular(path) as raw:
        declared = _DECLARED.match(raw.read(1024))
    if declared is None:
        return None
    encoding = declared[1].decode("ascii")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise BadExportError(f"{path.name}: wrong encoding: declared {encoding}, unknown") from None
    return encoding


def _decodes(path: Path, encoding: str, digest: Callable[[bytes], object] | None) -> str | None:
    """None when all of ``path`` decodes in ``encoding``; else where it does not, for
    people. ``digest``, if given, is fed every byte of the file."""
    decoder = codecs.getincrementaldecoder(_codec(encoding))(errors="strict")
    offset, lines = 0, 1  # bytes and newlines before the chunk in hand
    problem = None
    with open_regular(path) as raw:
        while chunk := raw.read(_CHUNK):
            if digest is not None:
                digest(chunk)
            if problem is None:
                problem = _decoded(decoder, chunk, offset, lines, encoding)
                if problem is not None and digest is None:
                    return problem
            offset += len(chunk)
            lines += chunk.count(b"\n")
    if problem is None:
        problem = _decoded(decoder, b"", offset, lines, encoding, final=True)
    return problem


def _decoded(
    decoder: codecs.IncrementalDecoder,
    chunk: bytes,
    offset: int,
    lines: int,
    encoding: str,
    *,
    final: bool = False,
) -> str | None:
    try:
        decoder.decode(chunk, final)
    except UnicodeDecodeError as error:
        # error.object is the decoder's unfinished tail of the last chunk (never a
        # newline: only lead bytes wait) followed by this chunk
        data = bytes(error.object)
        at = offset + len(chunk) - len(data) + error.start
        line = lines + data[: error.start].count(b"\n")
        return f"not {encoding} (byte 0x{data[error.start]:02x} at offset {at}, line {line})"
    return None
