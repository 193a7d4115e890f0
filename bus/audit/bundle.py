"""Audit bundles: a signed history on one file that verifies with no Kafka and no network.

JSON Lines, UTF-8, one object a line, in this order (docs/audit.md gives every field)::

    {"kind": "header", "format": "silian-audit-bundle-v1", "federation": …, "log_keeper": …}
    {"kind": "agreement", "version": 1, "document": <base64 exact bytes>, "signatures": <base64>}
    {"kind": "key", …}                        every public key record, for outside tools
    {"kind": "checkpoint", "note": "<signed note text, with cosignatures>"}
    {"kind": "record", "topic", "partition", "offset", "timestamp_ms", "key", "value",
     "headers": [[name, "text"], [name, {"base64": …}], …]}  key/value base64, as stored
    {"kind": "end", "records": N, "checkpoints": M}

A header value is its text when every byte is printable ASCII (every well-formed silian
header is: an auditor can grep a bundle for an event id), else ``{"base64": …}``; either
way the reader gets the exact stored bytes back. Format v1 (every header value base64) is
still read.

Nothing in a bundle is trusted because it is in the bundle: agreement versions are
verified (every member's signature, chained by digest), records by their signatures,
checkpoints by the log's and witnesses' keys from the agreement. The ``end`` line only
catches a file cut short by accident; deletion at the end of a partition is caught by
the signed checkpoints.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from agencies.errors import AgencyError
from agencies.folder import AgreementFolder
from agencies.history import AgreementHistory
from agencies.signatures import dump_signatures, load_signatures
from bus.audit.errors import BundleError
from bus.transport.base import Record

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
        self._out: IO[str] = path.open("w", encoding="utf-8")
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
        self._line(
            {
                "kind": "record",
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "timestamp_ms": record.timestamp_ms,
                "key": None if record.key is None else _b64(record.key),
                "value": _b64(record.value),
                "headers": [[name, header_json(value)] for name, value in record.headers],
            }
        )
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
    """A bundle's header, verified agreement history and checkpoint notes; records stream."""

    path: Path
    format: str
    federation: str
    log_keeper: str | None
    from_start: bool
    complete: bool
    agreements: AgreementHistory
    checkpoints: list[bytes] = field(default_factory=list)
    records_at: int = 0

    @property
    def text_headers(self) -> bool:
        """Whether header values are stored as text (v2) rather than base64 (v1)."""
        return self.format != BUNDLE_FORMAT_V1

    def records(self) -> Iterator[Record]:
        """Every record, read lazily; BundleError if the file is cut short or malformed."""
        for number, line in self.record_lines():
            yield self.record_at(line, number)

    def record_lines(self) -> Iterator[tuple[int, bytes]]:
        """Each record line as stored, unparsed, with its number; checks the end line.

        For readers that parse elsewhere: a line that starts like a record line is handed
        out as one, and :meth:`record_at` judges it; any other line is judged here.
        """
        count = 0
        with self.path.open("rb") as source:
            source.seek(self.records_at)
            for number, line in enumerate(source, start=1):
                if not line.startswith(RECORD_LINE):
                    item = _parse(line, number)
                    if item.get("kind") == "end":
                        if item.get("records") != count:
                            raise BundleError(
                                f"{self.path}: the end line says {item.get('records')} records, "
                                f"the bundle holds {count}"
                            )
                        return
                    if item.get("kind") != "record":
                        raise BundleError(f"{self.path}: a {item.get('kind')} line among records")
                count += 1
                yield number, line
        raise BundleError(f"{self.path}: no end line: the bundle is truncated or incomplete")

    def record_at(self, line: bytes, number: int) -> Record:
        """The record of one record line; BundleError, saying why, if it is not one."""
        item = _parse(line, number)
        if item.get("kind") != "record":
            raise BundleError(f"{self.path}: a {item.get('kind')} line among records")
        return _record(item, self.text_headers)

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
            records = json.loads(last)["records"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(records, int):
            return None
        return self.records_at, tail_at + start, records

    def lines_between(self, start: int, end: int) -> list[bytes]:
        """The lines of bytes ``[start, end)`` (a range cut at line ends)."""
        with self.path.open("rb") as source:
            source.seek(start)
            return source.read(end - start).splitlines(keepends=True)


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


def _parse(line: bytes, number: int) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except ValueError:
        raise BundleError(f"line {number} is not JSON") from None
    if not isinstance(item, dict):
        raise BundleError(f"line {number} is not a JSON object")
    return item


def _record_quick(item: dict[str, Any], text_headers: bool) -> Record:
    """:func:`_record` for a well-formed line, without its per-field checks (raises if not)."""
    key = item["key"]
    if text_headers:
        headers = tuple([(n, header_bytes(v, True)) for n, v in item["headers"]])
    else:
        headers = tuple([(n, _a2b(v, strict_mode=True)) for n, v in item["headers"]])
    if not all(type(name) is str for name, _ in headers):
        raise TypeError("a header name that is not text")  # _header says which
    return Record(
        topic=str(item["topic"]),
        partition=int(item["partition"]),
        offset=int(item["offset"]),
        key=None if key is None else _a2b(key, strict_mode=True),
        value=_a2b(item["value"], strict_mode=True),
        headers=headers,
        timestamp_ms=int(item["timestamp_ms"]),
    )


def _header(name: object, stored: object, text_headers: bool) -> tuple[str, bytes]:
    if not isinstance(name, str):
        raise BundleError(f"header name {name!r} is not text")
    if not text_headers:
        return name, _unb64(stored, f"header {name}")
    if isinstance(stored, str):
        if not stored.isascii():
            raise BundleError(f"header {name} is text but not ASCII (bytes belong in base64)")
        return name, stored.encode("ascii")
    if isinstance(stored, dict) and set(stored) == {"base64"}:
        return name, _unb64(stored["base64"], f"header {name}")
    raise BundleError(f'header {name} must be text or {{"base64": …}}')


def _record(item: dict[str, Any], text_headers: bool) -> Record:
    try:
        return _record_quick(item, text_headers)
    except Exception:  # noqa: BLE001, S110 - read it again, carefully, to say what is wrong
        pass
    try:
        headers = tuple(_header(n, v, text_headers) for n, v in item["headers"])
        key = item["key"]
        return Record(
            topic=str(item["topic"]),
            partition=int(item["partition"]),
            offset=int(item["offset"]),
            key=None if key is None else _unb64(key, "record key"),
            value=_unb64(item["value"], "record value"),
            headers=headers,
            timestamp_ms=int(item["timestamp_ms"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"malformed record line: {error}") from None


def open_bundle(path: Path) -> Bundle:
    """Read the header, agreements (verified) and checkpoints; records are left on disk."""
    agreements = AgreementHistory()
    checkpoints: list[bytes] = []
    header: dict[str, Any] | None = None
    position = 0
    with path.open("rb") as source:
        for number, line in enumerate(iter(source.readline, b""), start=1):
            item = _parse(line, number)
            kind = item.get("kind")
            if header is None:
                if kind != "header" or item.get("format") not in BUNDLE_FORMATS:
                    found = item.get("format") if kind == "header" else None
                    raise BundleError(
                        f"{path} is not a silian audit bundle this version reads "
                        f"({' or '.join(BUNDLE_FORMATS)})"
                        + (f"; its format is {found!r}" if found else "")
                    )
                header = item
            elif kind == "agreement":
                document = _unb64(item.get("document"), "agreement document")
                signatures = load_signatures(_unb64(item.get("signatures"), "signatures"))
                try:
                    agreements.add(document, signatures)
                except AgencyError as error:
                    raise BundleError(
                        f"agreement version {item.get('version')} does not verify: {error}"
                    ) from None
            elif kind == "checkpoint":
                checkpoints.append(str(item.get("note", "")).encode("utf-8"))
            elif kind in ("record", "end"):
                break
            elif kind != "key":
                raise BundleError(f"line {number}: unknown kind {kind!r}")
            position += len(line)
    if header is None:
        raise BundleError(f"{path} is empty")
    if not agreements.versions:
        raise BundleError(f"{path} holds no agreement version: nothing to verify against")
    return Bundle(
        path=path,
        format=str(header["format"]),
        federation=str(header.get("federation")),
        log_keeper=header.get("log_keeper"),
        from_start=bool(header.get("from_start", True)),
        complete=bool(header.get("complete", True)),
        agreements=agreements,
        checkpoints=checkpoints,
        records_at=position,
    )


def agreement_documents(folder: AgreementFolder) -> list[tuple[bytes, bytes]]:
    """(document bytes, signatures file bytes) of every version in an agreement folder."""
    out = []
    for version in folder.versions():
        document, signatures = folder.read(version)
        out.append((document, dump_signatures(signatures)))
    return out
