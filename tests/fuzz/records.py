"""Strategies for records no real publisher makes: random bytes, and real records bent.

Large values are drawn as a size and built here (``bytes(n)`` patterns), so that
hypothesis does not keep megabytes of drawn data per example; everything else — header
names that are not UTF-8 (``str`` read with ``surrogateescape``, as both transports hand
them over), null header values, tombstones — is drawn as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from hypothesis import strategies as st

from bus.envelope.headers import SIGNATURE_HEADER, SIGNED_ATTRIBUTES
from bus.node.quarantine import QUARANTINE_COPY, QUARANTINE_ORIGIN, QUARANTINE_REASON
from bus.transport.base import OutgoingRecord, Record
from tests.fuzz.draws import pick

__all__ = [
    "Bent",
    "header_names",
    "header_values",
    "mutated_records",
    "random_records",
    "values",
]

T = TypeVar("T")

# Sizes around the limits: the value limit (512 KiB), a request (1 MiB, the headroom a
# quarantine copy needs below it), and beyond what any request may carry.
_BIG_SIZES = (512 * 1024, 512 * 1024 + 1, 1_040_000, 1_048_576, 1_100_000, 3_000_000)
_KNOWN_NAMES = (
    *SIGNED_ATTRIBUTES,
    SIGNATURE_HEADER,
    QUARANTINE_REASON,
    QUARANTINE_ORIGIN,
    QUARANTINE_COPY,
    "",
)


def _not_utf8(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def header_names(*, utf8_only: bool = False) -> st.SearchStrategy[str]:
    names = [
        st.sampled_from(_KNOWN_NAMES),
        st.text(max_size=24),
        st.sampled_from(_KNOWN_NAMES).map(lambda n: n + "\udcff"),  # a known name, one bad byte
    ]
    if utf8_only:
        names = names[:2]
    else:
        names.append(st.binary(max_size=24).map(_not_utf8))
    return st.one_of(*names)


def _rarely(strategy: st.SearchStrategy[T], common: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``strategy`` in about one draw of 25, else ``common`` (big records cost time)."""
    return st.integers(0, 24).flatmap(lambda n: strategy if n == 0 else common)


def header_values() -> st.SearchStrategy[bytes | None]:
    return _rarely(
        st.integers(4000, 9000).map(lambda n: b"v" * n),  # over the header limit (4 KiB)
        st.one_of(
            st.none(),
            st.binary(max_size=80),
            st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(
                str.encode
            ),
        ),
    )


def _big(size: int) -> bytes:
    return (b'{"k":"' + b"x" * size)[:size]


def values(*, large: bool = False, max_value: int = 2**31) -> st.SearchStrategy[bytes | None]:
    """Any value; ``large``: only sizes around the limits (they cost a test time), up to
    ``max_value`` (what the broker at hand takes)."""
    if large:
        return st.sampled_from(tuple(n for n in _BIG_SIZES if n <= max_value)).map(_big)
    return st.one_of(
        st.none(),  # a tombstone
        st.binary(max_size=1024),
        st.sampled_from([b"{}", b"[]", b"null", b'"x"', b"[" * 100_000, b"{" * 40]),
    )


def keys() -> st.SearchStrategy[bytes | None]:
    return _rarely(
        st.sampled_from([1025, 70_000]).map(lambda n: b"k" * n),  # over the key limit
        st.one_of(st.none(), st.binary(max_size=64)),
    )


_NAMES = header_names()
_UTF8_NAMES = header_names(utf8_only=True)
_HEADER_VALUES = header_values()
_KEYS = keys()


def random_records(
    topics: Sequence[str],
    *,
    large: bool = False,
    max_value: int = 2**31,
    utf8_names_only: bool = False,
    both_null: bool = True,
    max_timestamp: int = 2**63 - 1,
) -> st.SearchStrategy[OutgoingRecord]:
    """Any key, value and headers a Kafka client may send, to any topic the consumer reads
    (a producer's time too, which a topic stamped on append ignores).

    ``utf8_names_only``/``both_null``/``max_timestamp``: what the producer at hand can
    write (aiokafka sends no record with neither key nor value, a broker takes no time
    too far ahead).
    """
    record = st.builds(
        OutgoingRecord,
        topic=st.sampled_from(list(topics)),
        key=_KEYS,
        value=values(large=large, max_value=max_value),
        headers=st.lists(
            st.tuples(_UTF8_NAMES if utf8_names_only else _NAMES, _HEADER_VALUES), max_size=40
        ).map(tuple),
        timestamp_ms=st.one_of(st.none(), st.integers(0, max_timestamp)),
    )
    if both_null:
        return record
    return record.filter(lambda r: r.key is not None or r.value is not None)


@dataclass(frozen=True, kw_only=True)
class Bent:
    """A real record and what was done to it."""

    original: Record
    record: OutgoingRecord
    steps: tuple[str, ...]


def _flip(data: bytes, index: int, mask: int) -> bytes:
    if not data:
        return bytes([mask])
    index %= len(data)
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


def _insert(data: bytes, index: int, extra: bytes) -> bytes:
    index %= len(data) + 1
    return data[:index] + extra + data[index:]


def _delete(data: bytes, index: int, length: int) -> bytes:
    if not data:
        return data
    index %= len(data)
    return data[:index] + data[index + length :]


_STEPS = (
    "value-flip",
    "value-insert",
    "value-delete",
    "value-null",
    "value-other",
    "header-flip",
    "header-insert",
    "header-delete",
    "header-null",
    "header-rename",
    "header-drop",
    "header-duplicate",
    "header-reorder",
    "header-add",
    "header-other",
    "topic-swap",
    "key-swap",
)


@st.composite
def _bend(
    draw: st.DrawFn,
    real: Sequence[Record],
    topics: Sequence[str],
    utf8_names_only: bool,
) -> Bent:
    original = pick(draw, real)
    topic, key, value = original.topic, original.key, original.value
    headers = list(original.headers)
    steps: list[str] = []
    index = st.integers(0, 10_000)
    mask = st.integers(1, 255)
    for _ in range(draw(st.integers(1, 4))):
        step = pick(draw, _STEPS)
        steps.append(step)
        if step == "value-flip":
            value = _flip(value or b"", draw(index), draw(mask))
        elif step == "value-insert":
            value = _insert(value or b"", draw(index), draw(st.binary(min_size=1, max_size=8)))
        elif step == "value-delete":
            value = _delete(value or b"", draw(index), draw(st.integers(1, 64)))
        elif step == "value-null":
            value = None
        elif step == "value-other":
            value = pick(draw, real).value
        elif step == "topic-swap":
            topic = pick(draw, topics)
        elif step == "key-swap":
            key = pick(draw, real).key if draw(st.booleans()) else draw(_KEYS)
        elif headers or step == "header-add":
            headers = _bend_headers(draw, step, headers, real, utf8_names_only)
    return Bent(
        original=original,
        record=OutgoingRecord(topic=topic, key=key, value=value, headers=tuple(headers)),
        steps=tuple(steps),
    )


def _bend_headers(
    draw: st.DrawFn,
    step: str,
    headers: list[tuple[str, bytes | None]],
    real: Sequence[Record],
    utf8_names_only: bool,
) -> list[tuple[str, bytes | None]]:
    if step == "header-add":
        at = draw(st.integers(0, len(headers)))
        return [
            *headers[:at],
            (draw(_UTF8_NAMES if utf8_names_only else _NAMES), draw(_HEADER_VALUES)),
            *headers[at:],
        ]
    at = draw(st.integers(0, len(headers) - 1))
    name, value = headers[at]
    out = list(headers)
    if step == "header-flip":
        out[at] = (name, _flip(value or b"", draw(st.integers(0, 200)), draw(st.integers(1, 255))))
    elif step == "header-insert":
        extra = draw(st.binary(min_size=1, max_size=4))
        out[at] = (name, _insert(value or b"", draw(st.integers(0, 200)), extra))
    elif step == "header-delete":
        out[at] = (name, _delete(value or b"", draw(st.integers(0, 200)), draw(st.integers(1, 8))))
    elif step == "header-null":
        out[at] = (name, None)
    elif step == "header-rename":
        raw = bytearray(name.encode("utf-8", "surrogateescape") or b"x")
        spot = draw(st.integers(0, len(raw) - 1))
        raw[spot] ^= draw(st.integers(1, 0x7F if utf8_names_only else 0xFF))
        out[at] = (bytes(raw).decode("utf-8", "surrogateescape"), value)
        if utf8_names_only and not _is_utf8(out[at][0]):
            out[at] = (name + "x", value)
    elif step == "header-drop":
        del out[at]
    elif step == "header-duplicate":
        out.insert(draw(st.integers(0, len(out))), (name, value))
    elif step == "header-reorder":
        for i in range(len(out) - 1, 0, -1):  # Fisher–Yates, each swap drawn
            j = draw(st.integers(0, i))
            out[i], out[j] = out[j], out[i]
    elif step == "header-other":  # the same header of another real record (its id, its seq …)
        donor = pick(draw, real)
        same = [v for n, v in donor.headers if n == name]
        out[at] = (name, same[0] if same else None)
    return out


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def mutated_records(
    real: Sequence[Record], topics: Sequence[str], *, utf8_names_only: bool = False
) -> st.SearchStrategy[Bent]:
    """Real records (already delivered) with one to four bytes, headers, topics or keys
    changed — flipped, inserted, deleted, dropped, doubled, reordered, swapped."""
    return _bend(tuple(real), tuple(topics), utf8_names_only)
