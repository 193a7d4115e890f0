"""Reading an audit bundle: its header, agreements (verified), keys and checkpoints at
once; its records streamed, or in byte ranges (the format: :mod:`bus.audit.bundle`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agencies.history import AgreementHistory
from agencies.keys import KeyRecord
from agencies.signatures import load_signatures
from bus.audit.bundle.lines import (
    BUNDLE_FORMAT_V1,
    BUNDLE_FORMATS,
    END_LINE,
    PROOF_LINE,
    RECORD_LINE,
    SECTION_ORDER,
    brief,
    parse_line,
    parse_line_at,
    record_of_item,
    unb64,
)
from bus.errors import BundleError, SilianError
from bus.transport.base import Record

__all__ = ["Bundle", "byte_spans", "open_bundle"]


@dataclass(kw_only=True)
class Bundle:
    """A bundle's header, verified agreement history and checkpoint notes; records stream.

    Record lines are counted from 1 (the first record line); every BundleError names the
    line of the file (1 = the header line), as :meth:`line_of` gives it.
    """

    path: Path
    format: str
    federation: str
    log_keeper: str | None
    from_start: bool
    complete: bool
    agreements: AgreementHistory
    checkpoints: list[bytes] = field(default_factory=list)
    records_at: int = 0  # the byte offset of the first record line
    records_line: int = 1  # the file's line number of the first record line

    @property
    def text_headers(self) -> bool:
        """Whether header values are stored as text (v2) rather than base64 (v1)."""
        return self.format != BUNDLE_FORMAT_V1

    def line_of(self, index: int) -> int:
        """The file's line number of record line ``index`` (1 = the first record line)."""
        return self.records_line + index - 1

    def records(self) -> Iterator[Record]:
        """Every record, read lazily; BundleError if the file is cut short or malformed."""
        for index, line in self.record_lines():
            yield self.record_at(line, index)

    def record_lines(self) -> Iterator[tuple[int, bytes]]:
        """Each record line as stored, unparsed, with its index (1 = the first record line);
        checks the proof lines after them (v3), the end line, and that nothing follows it.

        For readers that parse elsewhere: a line that starts like a record line is handed
        out as one, and :meth:`record_at` judges it; any other line is judged here.
        """
        count = 0
        with self.path.open("rb") as source:
            source.seek(self.records_at)
            lines = iter(source.readline, b"")
            for line in lines:
                if not line.startswith(RECORD_LINE):
                    where = self._where(count + 1)
                    item = parse_line_at(line, where)
                    kind = item.get("kind")
                    if kind in ("proof", "end"):
                        self._after_records(item, lines, count, source)
                        return
                    if kind != "record":
                        raise BundleError(f"{where}: a {brief(kind)} line among the records")
                count += 1
                yield count, line
        raise BundleError(f"{self.path}: no end line: the bundle is truncated or incomplete")

    def _after_records(
        self, item: dict[str, Any], lines: Iterator[bytes], records: int, source: Any
    ) -> None:
        """Judge the proof lines (``item`` the first of them, or the end line) and the end."""
        line_number, proofs = records + 1, 0
        while item.get("kind") == "proof":
            proofs += 1
            line = next(lines, b"")
            line_number += 1
            if not line:
                raise BundleError(
                    f"{self.path}: no end line: the bundle is truncated or incomplete"
                )
            item = parse_line_at(line, self._where(line_number))
        where = self._where(line_number)
        if item.get("kind") != "end":
            raise BundleError(f"{where}: a {brief(item.get('kind'))} line among the proofs")
        counted = self._end(item, where)
        if counted != records:
            raise BundleError(
                f"{where}: the end line says {counted} records, the bundle holds {records}"
            )
        said = item.get("proofs", 0)
        if said != proofs:
            raise BundleError(
                f"{where}: the end line says {brief(said)} proofs, the bundle holds {proofs}"
            )
        if source.read(1):
            raise BundleError(f"{self._where(line_number + 1)}: nothing may follow the end line")

    def proofs(self) -> Iterator[dict[str, Any]]:
        """The proof lines after the records (v3; none in older bundles), as JSON objects,
        each with ``kind`` ``proof`` (their fields: docs/audit.md "Bundles")."""
        with self.path.open("rb") as source:
            source.seek(self.records_at)
            for line in source:
                if line.startswith(PROOF_LINE):
                    yield parse_line_at(line, f"{self.path}: a proof line")

    def record_at(self, line: bytes, index: int) -> Record:
        """The record of record line ``index`` (as :meth:`record_lines` counts them);
        BundleError, naming the line of the file and saying why, if it is not one."""
        try:  # where it is is worked out only for a malformed line
            item = parse_line(line)
            record = (
                record_of_item(item, self.text_headers) if item.get("kind") == "record" else None
            )
        except BundleError as error:
            raise BundleError(f"{self._where(index)}: {error}") from None
        if record is None:
            kind = brief(item.get("kind"))
            raise BundleError(f"{self._where(index)}: a {kind} line among the records")
        return record

    def record_section(self) -> tuple[int, int, int] | None:
        """(start, end, records) of the record lines, if the file ends with an end line.

        Lets readers split the records among processes by byte range. None when the last
        line is not a well-formed end line: :meth:`record_lines` then says what is wrong.
        """
        with self.path.open("rb") as source:
            size = source.seek(0, 2)
            tail_at = max(self.records_at, size - 4096)
            source.seek(tail_at)
            tail = source.read()
        if not tail.endswith(b"\n"):
            return None
        start = tail.rfind(b"\n", 0, len(tail) - 1) + 1
        if not start and tail_at > self.records_at:
            return None
        last = tail[start:]
        if not last.startswith(END_LINE):
            return None
        try:
            records = self._end(parse_line(last), "the end line")
        except BundleError:
            return None
        end = self._proofs_start(tail_at + start)
        return None if end is None else (self.records_at, end, records)

    def _proofs_start(self, end_at: int) -> int | None:
        """Where the proof lines before the end line (at ``end_at``) start: a binary search
        over the lines (records, then proofs), then every line from there checked to be a
        proof line. None if one is not: :meth:`record_lines` then says what is wrong."""
        with self.path.open("rb") as source:

            def line_at_or_after(position: int) -> int:
                if position <= self.records_at:
                    return self.records_at
                source.seek(position - 1)
                source.readline()
                return min(source.tell(), end_at)

            def proof_from(position: int) -> bool:
                start = line_at_or_after(position)
                if start >= end_at:
                    return True
                source.seek(start)
                return source.read(len(PROOF_LINE)) == PROOF_LINE

            low, high = self.records_at, end_at
            while low < high:
                middle = (low + high) // 2
                if proof_from(middle):
                    high = middle
                else:
                    low = middle + 1
            first = line_at_or_after(low)
            source.seek(first)
            while source.tell() < end_at:
                if not source.readline().startswith(PROOF_LINE):
                    return None
            return first

    def lines_between(self, start: int, end: int) -> list[bytes]:
        """The lines of bytes ``[start, end)`` (a range cut at line ends)."""
        with self.path.open("rb") as source:
            source.seek(start)
            return source.read(end - start).splitlines(keepends=True)

    def _where(self, index: int) -> str:
        return f"{self.path}: line {self.line_of(index)}"

    def _end(self, item: dict[str, Any], where: str) -> int:
        """The records an end line counts; BundleError unless it is well formed and counts
        the checkpoints this bundle holds."""
        for name in ("records", "checkpoints", "proofs"):
            value = item.get(name, 0 if name == "proofs" else None)  # no proofs before v3
            if type(value) is not int or value < 0:
                raise BundleError(
                    f"{where}: the end line's {name} must be a whole number, not {brief(value)}"
                )
        if item["checkpoints"] != len(self.checkpoints):
            raise BundleError(
                f"{where}: the end line says {item['checkpoints']} checkpoints, "
                f"the bundle holds {len(self.checkpoints)}"
            )
        return int(item["records"])


def byte_spans(path: Path, start: int, end: int, size: int) -> Iterator[tuple[int, int]]:
    """``[start, end)`` cut into ranges of about ``size`` bytes, each ending at a line end.

    ``end`` must itself be a line end (as :meth:`Bundle.record_section` gives it).
    """
    with path.open("rb") as source:
        while start < end:
            cut = start + size
            if cut >= end:
                cut = end
            else:
                source.seek(cut)
                cut = min(end, cut + len(source.readline()))  # on to the end of that line
            yield start, cut
            start = cut


def open_bundle(path: Path) -> Bundle:
    """Read the header, the agreements (verified), the key lines (each one checked against
    the agreement version it names) and the checkpoints; records are left on disk.

    Anything malformed is a BundleError naming the line of the file.
    """
    agreements = AgreementHistory()
    checkpoints: list[bytes] = []
    header: _Header | None = None
    position = lines = stage = 0
    with path.open("rb") as source:
        for number, line in enumerate(iter(source.readline, b""), start=1):
            where = f"{path}: line {number}"
            if header is None:
                header = _header_line(line, path)
            else:
                item = parse_line_at(line, where)
                kind, stage = _section(item, stage, where)
                if kind in ("record", "end"):
                    break
                try:
                    if kind == "agreement":
                        _agreement_line(item, agreements)
                    elif kind == "key":
                        _key_line(item, agreements)
                    else:
                        checkpoints.append(_checkpoint_line(item))
                except BundleError as error:
                    raise BundleError(f"{where}: {error}") from None
            position += len(line)
            lines += 1
    if header is None:
        raise BundleError(f"{path} is empty")
    if not agreements.versions:
        raise BundleError(f"{path} holds no agreement version: nothing to verify against")
    if header.federation != agreements.latest.federation_id:
        raise BundleError(
            f"{path}: line 1: the header names federation {brief(header.federation)}, "
            f"its agreement is of {agreements.latest.federation_id}"
        )
    return Bundle(
        path=path,
        format=header.format,
        federation=header.federation,
        log_keeper=header.log_keeper,
        from_start=header.from_start,
        complete=header.complete,
        agreements=agreements,
        checkpoints=checkpoints,
        records_at=position,
        records_line=lines + 1,
    )


def _section(item: dict[str, Any], stage: int, where: str) -> tuple[str, int]:
    """(kind, its place in the order) of a line after the header; BundleError if the kind
    is unknown or comes after a later section."""
    kind = item.get("kind")
    order = SECTION_ORDER.get(kind, 0) if isinstance(kind, str) else 0
    if not order:
        what = "a second header line" if kind == "header" else f"unknown kind {brief(kind)}"
        raise BundleError(f"{where}: {what}")
    if order < stage:
        raise BundleError(f"{where}: a {kind} line cannot follow the later sections")
    return str(kind), order


@dataclass(frozen=True, slots=True)
class _Header:
    format: str
    federation: str
    log_keeper: str | None
    from_start: bool
    complete: bool


_AGENCY_CODE = re.compile(r"[1-8][0-9]{11}")  # agencies.identity.AgencyCodeStr


def _header_line(line: bytes, path: Path) -> _Header:
    """The header (line 1); BundleError unless it is one of a format this version reads."""
    where = f"{path}: line 1"
    formats = " or ".join(BUNDLE_FORMATS)
    try:
        item = parse_line_at(line, where)
    except BundleError as error:
        raise BundleError(
            f"{path} is not a silian audit bundle this version reads ({formats}): {error}"
        ) from None
    if item.get("kind") != "header" or item.get("format") not in BUNDLE_FORMATS:
        found = item.get("format") if item.get("kind") == "header" else None
        raise BundleError(
            f"{path} is not a silian audit bundle this version reads ({formats})"
            + (f"; its format is {brief(found)}" if found else "")
        )
    federation, keeper = item.get("federation"), item.get("log_keeper")
    if not isinstance(federation, str):
        raise BundleError(f"{where}: federation must be a federation id, not {brief(federation)}")
    if keeper is not None and not (isinstance(keeper, str) and _AGENCY_CODE.fullmatch(keeper)):
        raise BundleError(
            f"{where}: log_keeper must be an agency code or null, not {brief(keeper)}"
        )
    for name in ("from_start", "complete"):
        if type(item.get(name)) is not bool:
            raise BundleError(f"{where}: {name} must be true or false, not {brief(item.get(name))}")
    return _Header(
        format=str(item["format"]),
        federation=federation,
        log_keeper=keeper,
        from_start=item["from_start"],
        complete=item["complete"],
    )


def _agreement_line(item: dict[str, Any], agreements: AgreementHistory) -> None:
    """Verify the version an agreement line holds and add it to ``agreements``."""
    version, expected = item.get("version"), len(agreements.versions) + 1
    if type(version) is not int or version != expected:
        raise BundleError(
            f"agreement version {brief(version)} where version {expected} comes "
            "(versions come in order from 1)"
        )
    document = unb64(item.get("document"), "agreement document")
    signature_file = unb64(item.get("signatures"), "agreement signatures")
    try:
        agreements.add(document, load_signatures(signature_file))
    except SilianError as error:
        raise BundleError(f"agreement version {version} does not verify: {error}") from None


def _key_line(item: dict[str, Any], agreements: AgreementHistory) -> None:
    """A key line must repeat, exactly, a key record that the version it names declares."""
    version, versions = item.get("version"), agreements.versions
    if type(version) is not int or not 1 <= version <= len(versions):
        raise BundleError(
            f"a key line names agreement version {brief(version)}, which this bundle "
            f"does not hold (it holds 1 to {len(versions)})"
        )
    try:
        record = KeyRecord.model_validate(
            {name: value for name, value in item.items() if name not in ("kind", "version")}
        )
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(record)"
        raise BundleError(f"not a public key record: {where}: {first['msg']}") from None
    agreement = versions[version - 1]
    member = agreement.member(record.agency) if agreement.is_member(record.agency) else None
    declared = None if member is None else member.key(record.key_id)
    if declared is None:
        raise BundleError(f"key {record.key_id} is not declared by {agreement.label}")
    if declared != record:
        raise BundleError(f"key {record.key_id} is not as {agreement.label} declares it")


def _checkpoint_line(item: dict[str, Any]) -> bytes:
    note = item.get("note")
    if not isinstance(note, str):
        raise BundleError(f"a checkpoint note must be text, not {brief(note)}")
    try:
        return note.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, written as a \u escape
        raise BundleError("a checkpoint note must be UTF-8 text") from None
