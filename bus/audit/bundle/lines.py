"""One line of an audit bundle, each way (the format: :mod:`bus.audit.bundle`).

The format's constants; a header value or name as a bundle stores it and back; a record
line read quickly (:func:`record_of_line`, for the byte-range readers) or carefully, every
field checked and a malformed one named (:func:`record_of_item`).
"""

from __future__ import annotations

import base64
import binascii
import json
import json.scanner
import operator
from typing import Any

from bus.errors import BundleError
from bus.transport.base import Record, TimestampType
from contracts.json_depth import FILE_DEPTH, nests_deeper

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_FORMATS",
    "BUNDLE_FORMAT_V1",
    "BUNDLE_FORMAT_V2",
    "END_LINE",
    "PROOF_LINE",
    "RECORD_LINE",
    "SECTION_ORDER",
    "b64",
    "brief",
    "header_bytes",
    "header_json",
    "name_json",
    "parse_line",
    "parse_line_at",
    "record_of_item",
    "record_of_line",
    "shown",
    "unb64",
]

BUNDLE_FORMAT = "silian-audit-bundle-v3"  # v2, and proof lines after the records
BUNDLE_FORMAT_V2 = "silian-audit-bundle-v2"  # header values as text; no proof lines
BUNDLE_FORMAT_V1 = "silian-audit-bundle-v1"  # every header value base64
BUNDLE_FORMATS = (BUNDLE_FORMAT_V1, BUNDLE_FORMAT_V2, BUNDLE_FORMAT)  # what this version reads
RECORD_LINE = b'{"kind":"record",'  # how BundleWriter starts every record line
PROOF_LINE = b'{"kind":"proof",'  # … and every proof line
END_LINE = b'{"kind":"end",'
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))
_a2b = binascii.a2b_base64
_name_of = operator.itemgetter(0)
SECTION_ORDER = {
    "header": 0,
    "agreement": 1,
    "key": 2,
    "checkpoint": 3,
    "record": 4,
    "proof": 5,
    "end": 6,
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def name_json(name: str) -> str | dict[str, str]:
    """A header name as a bundle stores it: text, or base64 of bytes that are not UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return {"base64": b64(name.encode("utf-8", "surrogateescape"))}
    return name


def header_json(value: bytes) -> str | dict[str, str]:
    """A header value as a v2 bundle stores it: text if printable ASCII, else base64."""
    if not value.translate(None, _PRINTABLE_ASCII):  # nothing but printable ASCII
        return value.decode("ascii")
    return {"base64": b64(value)}


def header_bytes(stored: object, text_headers: bool) -> bytes:
    """The exact bytes of a stored header value (raises on a malformed one)."""
    if not text_headers:
        return _a2b(stored, strict_mode=True)  # type: ignore[arg-type]
    if isinstance(stored, str):
        return stored.encode("ascii")
    if not isinstance(stored, dict) or set(stored) != {"base64"}:
        raise ValueError('a header value is text or {"base64": …}')
    return _a2b(stored["base64"], strict_mode=True)


def unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise BundleError(f"{what} must be a base64 string")
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{what} is not base64") from None


def parse_line(line: bytes) -> dict[str, Any]:
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


def parse_line_at(line: bytes, where: str) -> dict[str, Any]:
    """:func:`parse_line`, its BundleError starting with ``where``."""
    try:
        return parse_line(line)
    except BundleError as error:
        raise BundleError(f"{where}: {error}") from None


def brief(value: object) -> str:
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
    """:func:`record_of_item` for a well-formed line, without its words (raises if not)."""
    key, value, topic = item["key"], item["value"], item["topic"]
    partition, offset, moment = item["partition"], item["offset"], item["timestamp_ms"]
    if text_headers:
        try:  # the common case, every value text: one comprehension, no call per header
            headers = tuple([(n, v.encode("ascii")) for n, v in item["headers"]])
        except (AttributeError, UnicodeEncodeError):  # a null or base64 value: one by one
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
        or "timestamp_type" in item
    ):
        raise TypeError("not plainly well formed")  # record_of_item says what
    "".join(map(_name_of, headers))  # TypeError unless every name is text
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
        return unb64(name["base64"], "a header name").decode("utf-8", "surrogateescape")
    raise BundleError(f'header name {shown(name)} is not text or {{"base64": …}}')


def shown(value: object, limit: int = 80) -> str:
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
        return text, unb64(stored, f"header {shown(text)}")
    if isinstance(stored, str):
        if not stored.isascii():
            raise BundleError(
                f"header {shown(text)} is text but not ASCII (bytes belong in base64)"
            )
        return text, stored.encode("ascii")
    if isinstance(stored, dict) and set(stored) == {"base64"}:
        return text, unb64(stored["base64"], f"header {shown(text)}")
    raise BundleError(f'header {shown(text)} must be text or {{"base64": …}} (or null)')


def _whole(item: dict[str, Any], field: str, top: int) -> int:
    value = item.get(field)
    if type(value) is not int or not 0 <= value <= top:
        raise BundleError(f"{field} must be a whole number from 0 to {top}, not {shown(value)}")
    return value


def record_of_item(item: dict[str, Any], text_headers: bool) -> Record:
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
        raise BundleError(f"topic must be a topic name, not {shown(topic)}")
    if not isinstance(stored, list) or not all(
        isinstance(pair, list) and len(pair) == 2 for pair in stored
    ):
        raise BundleError("headers must be a list of [name, value] pairs")
    stamped = item.get("timestamp_type", "append")
    if stamped not in ("append", "create"):
        raise BundleError(f'timestamp_type must be "append" or "create", not {shown(stamped)}')
    return Record(
        topic=topic,
        partition=_whole(item, "partition", _INT32),
        offset=_whole(item, "offset", _INT64),
        key=None if key is None else unb64(key, "record key"),
        value=None if value is None else unb64(value, "record value"),
        headers=tuple(_header(n, v, text_headers) for n, v in stored),
        timestamp_ms=_whole(item, "timestamp_ms", _INT64),
        timestamp_type=(
            TimestampType.CREATE_TIME if stamped == "create" else TimestampType.LOG_APPEND_TIME
        ),
    )
