"""Audit bundles: a signed history on one file that verifies with no Kafka and no network.

JSON Lines, UTF-8, one object a line, in this order (docs/audit.md gives every field)::

    {"kind": "header", "format": "silian-audit-bundle-v2", "federation": …, "log_keeper": …}
    {"kind": "agreement", "version": 1, "document": <base64 exact bytes>, "signatures": <base64>}
    {"kind": "key", "version": V, …}         a key record version V declares, for outside tools
    {"kind": "checkpoint", "note": "<signed note text, with cosignatures>"}
    {"kind": "record", "topic", "partition", "offset", "timestamp_ms", "key", "value",
     "headers": [[name, "text"], [name, {"base64": …}], …]}  key/value base64, as stored
    {"kind": "end", "records": N, "checkpoints": M}

A header value is its text when every byte is printable ASCII (every well-formed silian
header is: an auditor can grep a bundle for an event id), else ``{"base64": …}``; either
way the reader gets the exact stored bytes back. Kafka allows what silian refuses, and a
bundle keeps it as stored: ``"value": null`` for a tombstone, ``[name, null]`` for a null
header value, a name that is not UTF-8 as ``{"base64": …}``, and ``"timestamp_type":
"create"`` on a record whose time its producer set (absent: the broker's append time).
Format v1 (every header value base64) is still read.

Nothing in a bundle is trusted because it is in the bundle: agreement versions are
verified (every member's signature, chained by digest), records by their signatures,
checkpoints by the log's and witnesses' keys from the agreement; a key line must repeat
exactly a key record of the version it names. The ``end`` line only catches a file cut
short by accident (its counts must match, nothing may follow it); deletion at the end of
a partition is caught by the signed checkpoints. Every line is checked before use (JSON
depth first, then each field's type and range) and a malformed one is a BundleError
naming its line in the file, 1 being the header.
"""

from __future__ import annotations

import base64
import binascii
import json
import json.scanner
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from pydantic import ValidationError

from agencies.folder import AgreementFolder
from agencies.history import AgreementHistory
from agencies.keys import KeyRecord
from agencies.signatures import dump_signatures, load_signatures
from bus.errors import BundleError, SilianError
from bus.state.private import open_private
from bus.transport.base import Record, TimestampType
from contracts.json_depth import FILE_DEPTH, nests_deeper

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_FORMATS",
    "Bundle",
    "BundleWriter",
    "agreement_documents",
    "byte_spans",
    "header_bytes",
    "header_json",
    "open_bundle",
    "record_of_line",
]

BUNDLE_FORMAT = "silian-audit-bundle-v2"
BUNDLE_FORMAT_V1 = "silian-audit-bundle-v1"  # every header value base64
BUNDLE_FORMATS = (BUNDLE_FORMAT_V1, BUNDLE_FORMAT)  # what this version reads
RECORD_LINE = b'{"kind":"record",'  # how BundleWriter starts every record line
_END_LINE = b'{"kind":"end",'
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))
_a2b = binascii.a2b_base64
_ORDER = {"header": 0, "agreement": 1, "key": 2, "checkpoint": 3, "record": 4, "end": 5}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _name_json(name: str) -> str | dict[str, str]:
    """A header name as a bundle stores it: text, or base64 of bytes that are not UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return {"base64": _b64(name.encode("utf-8", "surrogateescape"))}
    return name


def header_json(value: bytes) -> str | dict[str, str]:
    """A header value as a v2 bundle stores it: text if printable ASCII, else base64."""
    if not value.translate(None, _PRINTABLE_ASCII):  # nothing but printable ASCII
        return value.decode("ascii")
    return {"base64": _b64(value)}


def header_bytes(stored: object, text_headers: bool) -> bytes:
    """The exact bytes of a stored header value (raises on a malformed one)."""
    if not text_headers:
        return _a2b(stored, strict_mode=True)  # type: ignore[arg-type]
    if isinstance(stored, str):
        return stored.encode("ascii")
    if not isinstance(stored, dict) or set(stored) != {"base64"}:
        raise ValueError('a header value is text or {"base64": …}')
    return _a2b(stored["base64"], strict_mode=True)


def _unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise BundleError(f"{what} must be a base64 string")
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{what} is not base64") from None


class BundleWriter:
    """Writes a bundle line by line; sections must come in the order above."""

    def __init__(
        self,
        path: Path,
        *,
        federation: str,
        agreements: AgreementHistory,
        documents: list[tuple[bytes, bytes]],
        log_keeper: str | None = None,
        from_start: bool = True,
        complete: bool = True,
    ) -> None:
        self.path = path
        self._out: IO[str] = open_private(path, "w")
        self._stage = 0
        self.records = self.checkpoints = 0
        self._line(
            {
                "kind": "header",
                "format": BUNDLE_FORMAT,
                "federation": federation,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "log_keeper": log_keeper,
                "from_start": from_start,
                "complete": complete,
            }
        )
        for number, (document, signatures) in enumerate(documents, start=1):
            self._line(
                {
                    "kind": "agreement",
                    "version": number,
                    "document": _b64(document),
                    "signatures": _b64(signatures),
                }
            )
        for version in agreements.versions:
            for member in version.members:
                for record in member.keys:
                    self._line(
                        {
                            "kind": "key",
                            "version": version.version,
                            **record.model_dump(mode="json"),
                        }
                    )

    def _line(self, item: dict[str, Any]) -> None:
        stage = _ORDER[item["kind"]]
        if stage < self._stage:
            raise BundleError(f"a {item['kind']} line cannot follow later sections")
        self._stage = stage
        self._out.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")

    def checkpoint(self, note: bytes) -> None:
        self._line({"kind": "checkpoint", "note": note.decode("utf-8")})
        self.checkpoints += 1

    def record(self, record: Record) -> None:
        line: dict[str, Any] = {
            "kind": "record",
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp_ms": record.timestamp_ms,
            "key": None if record.key is None else _b64(record.key),
            "value": None if record.value is None else _b64(record.value),
            "headers": [
                [_name_json(name), None if value is None else header_json(value)]
                for name, value in record.headers
            ],
        }
        if record.timestamp_type is TimestampType.CREATE_TIME:
            line["timestamp_type"] = "create"
        self._line(line)
        self.records += 1

    def copy_records(self, bundle: Bundle) -> None:
        """Append every record of another bundle (verbatim if it has this format)."""
        self._stage = _ORDER["record"]
        if bundle.format != BUNDLE_FORMAT:
            for record in bundle.records():
                self.record(record)
            return
        with bundle.path.open("rb") as source:
            source.seek(bundle.records_at)
            for line in source:
                if line.startswith(_END_LINE):
                    return
                self._out.write(line.decode("utf-8"))
                self.records += 1
        raise BundleError(f"{bundle.path}: no end line: the bundle is truncated or incomplete")

    def close(self) -> None:
        if not self._out.closed:
            self._line({"kind": "end", "records": self.records, "checkpoints": self.checkpoints})
            self._out.close()

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._out.close()  # no end line: a reader sees the bundle is incomplete


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
        checks the end line, and that nothing follows it.

        For readers that parse elsewhere: a line that starts like a record line is handed
        out as one, and :meth:`record_at` judges it; any other line is judged here.
        """
        count = 0
        with self.path.open("rb") as source:
            source.seek(self.records_at)
            for line in source:
                if not line.startswith(RECORD_LINE):
                    where = self._where(count + 1)
                    item = _parse_at(line, where)
                    kind = item.get("kind")
                    if kind == "end":
                        records = self._end(item, where)
                        if records != count:
                            raise BundleError(
                                f"{where}: the end line says {records} records, "
                                f"the bundle holds {count}"
                            )
                        if source.read(1):
                            raise BundleError(
                                f"{self._where(count + 2)}: nothing may follow the end line"
                            )
                        return
                    if kind != "record":
                        raise BundleError(f"{where}: a {_brief(kind)} line among the records")
                count += 1
                yield count, line
        raise BundleError(f"{self.path}: no end line: the bundle is truncated or incomplete")

    def record_at(self, line: bytes, index: int) -> Record:
        """The record of record line ``index`` (as :meth:`record_lines` counts them);
        BundleError, naming the line of the file and saying why, if it is not one."""
        try:  # where it is is worked out only for a malformed line
            item = _parse(line)
            record = _record(item, self.text_headers) if item.get("kind") == "record" else None
        except BundleError as error:
            raise BundleError(f"{self._where(index)}: {error}") from None
        if record is None:
            kind = _brief(item.get("kind"))
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
        if not last.startswith(_END_LINE):
            return None
        try:
            records = self._end(_parse(last), "the end line")
        except BundleError:
            return None
        return self.records_at, tail_at + start, records

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
        for name in ("records", "checkpoints"):
            value = item.get(name)
            if type(value) is not int or value < 0:
                raise BundleError(
                    f"{where}: the end line's {name} must be a whole number, not {_brief(value)}"
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


def _parse(line: bytes) -> dict[str, Any]:
    """One line as a JSON object; BundleError (its place left to the caller) if not one."""
    if nests_deeper(line, FILE_DEPTH):  # before json.loads recurses into it
        raise BundleError(f"nested deeper than {FILE_DEPTH} levels")
    try:
        item = json.loads(line)
    except ValueError:
        raise BundleError("not JSON") from None
    if not isinstance(item, dict):
        raise BundleError("not a JSON object")
    return item


def _parse_at(line: bytes, where: str) -> dict[str, Any]:
    """:func:`_parse`, its BundleError starting with ``where``."""
    try:
        return _parse(line)
    except BundleError as error:
        raise BundleError(f"{where}: {error}") from None


def _brief(value: object) -> str:
    """A value as an error message shows it: its repr, cut short."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


_INT32 = 2**31 - 1
_INT64 = 2**63 - 1


_scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type] # C, bare


def record_of_line(line: bytes, text_headers: bool) -> Record | None:
    """The record of a plainly well-formed record line (as :class:`BundleWriter` writes
    them), quickly; None for anything else — :meth:`Bundle.record_at` then says what."""
    if not line.startswith(RECORD_LINE):
        return None
    try:
        decoded = line.decode("utf-8")
        item, stop = _scan(decoded, 0)
        if stop != len(decoded) or item["kind"] != "record":
            return None  # trailing bytes
        return _record_quick(item, text_headers)
    except Exception:  # noqa: BLE001 - anything odd: the careful reading says what
        return None


def _record_quick(item: dict[str, Any], text_headers: bool) -> Record:
    """:func:`_record` for a well-formed line, without its per-field words (raises if not)."""
    key, value, topic = item["key"], item["value"], item["topic"]
    partition, offset, moment = item["partition"], item["offset"], item["timestamp_ms"]
    if text_headers:
        headers = tuple(
            [(n, None if v is None else header_bytes(v, True)) for n, v in item["headers"]]
        )
    else:
        headers = tuple([(n, _a2b(v, strict_mode=True)) for n, v in item["headers"]])
    if (
        type(topic) is not str
        or not topic
        or type(partition) is not int
        or type(offset) is not int
        or type(moment) is not int
        or not (0 <= partition <= _INT32 and 0 <= offset <= _INT64 and 0 <= moment <= _INT64)
        or not all(type(name) is str for name, _ in headers)
        or "timestamp_type" in item
    ):
        raise TypeError("not plainly well formed")  # _record says what
    return Record(
        topic=topic,
        partition=partition,
        offset=offset,
        key=None if key is None else _a2b(key, strict_mode=True),
        value=None if value is None else _a2b(value, strict_mode=True),
        headers=headers,
        timestamp_ms=moment,
    )


def _name(name: object) -> str:
    if isinstance(name, str):
        return name
    if isinstance(name, dict) and set(name) == {"base64"}:
        return _unb64(name["base64"], "a header name").decode("utf-8", "surrogateescape")
    raise BundleError(f'header name {_shown(name)} is not text or {{"base64": …}}')


def _shown(value: object, limit: int = 80) -> str:
    """A value as an error message can print it: a hostile one quoted, escaped and cut."""
    text = value if isinstance(value, str) else repr(value)
    if not (text.isascii() and text.isprintable()):
        text = repr(text)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _header(name: object, stored: object, text_headers: bool) -> tuple[str, bytes | None]:
    text = _name(name)
    if stored is None and text_headers:
        return text, None
    if not text_headers:
        return text, _unb64(stored, f"header {_shown(text)}")
    if isinstance(stored, str):
        if not stored.isascii():
            raise BundleError(
                f"header {_shown(text)} is text but not ASCII (bytes belong in base64)"
            )
        return text, stored.encode("ascii")
    if isinstance(stored, dict) and set(stored) == {"base64"}:
        return text, _unb64(stored["base64"], f"header {_shown(text)}")
    raise BundleError(f'header {_shown(text)} must be text or {{"base64": …}} (or null)')


def _whole(item: dict[str, Any], field: str, top: int) -> int:
    value = item.get(field)
    if type(value) is not int or not 0 <= value <= top:
        raise BundleError(f"{field} must be a whole number from 0 to {top}, not {_shown(value)}")
    return value


def _record(item: dict[str, Any], text_headers: bool) -> Record:
    try:
        return _record_quick(item, text_headers)
    except Exception:  # noqa: BLE001, S110 - read it again, carefully, to say what is wrong
        pass
    topic, key, value, stored = (
        item.get("topic"),
        item.get("key"),
        item.get("value"),
        item.get("headers"),
    )
    if not isinstance(topic, str) or not topic:
        raise BundleError(f"topic must be a topic name, not {_shown(topic)}")
    if not isinstance(stored, list) or not all(
        isinstance(pair, list) and len(pair) == 2 for pair in stored
    ):
        raise BundleError("headers must be a list of [name, value] pairs")
    stamped = item.get("timestamp_type", "append")
    if stamped not in ("append", "create"):
        raise BundleError(f'timestamp_type must be "append" or "create", not {_shown(stamped)}')
    return Record(
        topic=topic,
        partition=_whole(item, "partition", _INT32),
        offset=_whole(item, "offset", _INT64),
        key=None if key is None else _unb64(key, "record key"),
        value=None if value is None else _unb64(value, "record value"),
        headers=tuple(_header(n, v, text_headers) for n, v in stored),
        timestamp_ms=_whole(item, "timestamp_ms", _INT64),
        timestamp_type=(
            TimestampType.CREATE_TIME if stamped == "create" else TimestampType.LOG_APPEND_TIME
        ),
    )


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
                item = _parse_at(line, where)
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
            f"{path}: line 1: the header names federation {_brief(header.federation)}, "
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
    order = _ORDER.get(kind, 0) if isinstance(kind, str) else 0
    if not order:
        what = "a second header line" if kind == "header" else f"unknown kind {_brief(kind)}"
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
        item = _parse_at(line, where)
    except BundleError as error:
        raise BundleError(
            f"{path} is not a silian audit bundle this version reads ({formats}): {error}"
        ) from None
    if item.get("kind") != "header" or item.get("format") not in BUNDLE_FORMATS:
        found = item.get("format") if item.get("kind") == "header" else None
        raise BundleError(
            f"{path} is not a silian audit bundle this version reads ({formats})"
            + (f"; its format is {_brief(found)}" if found else "")
        )
    federation, keeper = item.get("federation"), item.get("log_keeper")
    if not isinstance(federation, str):
        raise BundleError(f"{where}: federation must be a federation id, not {_brief(federation)}")
    if keeper is not None and not (isinstance(keeper, str) and _AGENCY_CODE.fullmatch(keeper)):
        raise BundleError(
            f"{where}: log_keeper must be an agency code or null, not {_brief(keeper)}"
        )
    for name in ("from_start", "complete"):
        if type(item.get(name)) is not bool:
            raise BundleError(
                f"{where}: {name} must be true or false, not {_brief(item.get(name))}"
            )
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
            f"agreement version {_brief(version)} where version {expected} comes "
            "(versions come in order from 1)"
        )
    document = _unb64(item.get("document"), "agreement document")
    signature_file = _unb64(item.get("signatures"), "agreement signatures")
    try:
        agreements.add(document, load_signatures(signature_file))
    except SilianError as error:
        raise BundleError(f"agreement version {version} does not verify: {error}") from None


def _key_line(item: dict[str, Any], agreements: AgreementHistory) -> None:
    """A key line must repeat, exactly, a key record that the version it names declares."""
    version, versions = item.get("version"), agreements.versions
    if type(version) is not int or not 1 <= version <= len(versions):
        raise BundleError(
            f"a key line names agreement version {_brief(version)}, which this bundle "
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
        raise BundleError(f"a checkpoint note must be text, not {_brief(note)}")
    try:
        return note.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, written as a \u escape
        raise BundleError("a checkpoint note must be UTF-8 text") from None


def agreement_documents(folder: AgreementFolder) -> list[tuple[bytes, bytes]]:
    """(document bytes, signatures file bytes) of every version in an agreement folder."""
    out = []
    for version in folder.versions():
        document, signatures = folder.read(version)
        out.append((document, dump_signatures(signatures)))
    return out
