"""Hostile bytes for the files silian reads: bundle lines, agreement and key files.

Every file silian reads is a JSON document (a bundle is one a line) that someone else may
have written: an auditor is handed a bundle, an agency a neighbour's agreement or key
export, and any of them may be cut short, corrupted or crafted. :func:`hostile_json`
bends a real file three ways — its bytes (flipped, inserted, deleted, cut), one of its
values (deep nesting, numbers no parser should take whole, wrong types, odd strings),
or the whole of it (not JSON, not UTF-8, not an object, empty).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.draws import pick
from tests.fuzz.hostile_values import JSON_VALUES, nested

__all__ = ["RAW_VALUES", "bent_bytes", "hostile_json", "json_paths", "with_raw"]

# Raw JSON a value may be replaced with: what stopped parsers (deep nesting, 1e400, a
# 5,000-digit integer), what JSON allows and models may not expect, and plain wrong types.
RAW_VALUES: tuple[bytes, ...] = (
    nested(100_000),
    nested(100_000, balanced=False),
    nested(10_000, kind="object"),
    b"1e400",
    b"-1e400",
    b"9" * 5000,
    b"-" + b"9" * 5000,
    str(2**63).encode(),
    str(2**64).encode(),
    b"-1",
    b"-5",
    b"0",
    b"1.5",
    b"NaN",
    b"Infinity",
    b"null",
    b"true",
    b"[]",
    b"{}",
    b'""',
    b'"\\u0000"',
    b'"\\ud800"',
    b'"' + b"x" * 70_000 + b'"',
    b'"9999-12-31T23:59:59-23:59"',
    b'"0001-01-01T00:00:00+23:59"',
    b'"P99999999999D"',
    b'"!!not base64"',
    b'"\xff\xfe"',
)
_SNIPPETS = (
    b"\xff",
    b"\x00",
    b"\n",
    b"\r\n",
    b'"',
    b"\\",
    b"{",
    b"]",
    b",",
    b"1e400",
    b"\xef\xbb\xbf",
    b"\xed\xa0\x80",  # a surrogate encoded as UTF-8: not UTF-8
)
_WHOLE = (
    b"",
    b"\n",
    b"   ",
    b"null",
    b"[]",
    b'"x"',
    b"1",
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00",
    nested(100_000),
    nested(10_000, kind="object"),
    b'{"a":1,"a":2}',
)
_SENTINEL = "\u0000fuzz-sentinel\u0000"


def json_paths(document: Any, *, depth: int = 4) -> list[tuple[str | int, ...]]:
    """Every path to a value inside ``document`` (object keys, list indices), not deeper
    than ``depth`` and at most 8 items of a list."""
    paths: list[tuple[str | int, ...]] = []

    def walk(value: Any, at: tuple[str | int, ...]) -> None:
        if len(at) >= depth:
            return
        children: list[tuple[str | int, Any]] = []
        if isinstance(value, dict):
            children = list(value.items())
        elif isinstance(value, list):
            children = list(enumerate(value[:8]))
        for key, child in children:
            paths.append((*at, key))
            walk(child, (*at, key))

    walk(document, ())
    return paths


def with_raw(document: Any, path: tuple[str | int, ...], raw: bytes) -> bytes:
    """``document`` as JSON with the value at ``path`` replaced by ``raw`` bytes as they are."""
    copy = json.loads(json.dumps(document))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = _SENTINEL
    text = json.dumps(copy, ensure_ascii=False).encode("utf-8")
    return text.replace(json.dumps(_SENTINEL).encode(), raw, 1)


def bent_bytes(draw: st.DrawFn, data: bytes) -> tuple[str, bytes]:
    """``data`` with one to three bytes flipped, runs inserted or deleted, or cut short."""
    steps = []
    for _ in range(draw(st.sampled_from((1, 2, 3)))):
        how = pick(draw, ("flip", "insert", "delete", "cut"))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if how == "flip" and data:
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif how == "insert":
            snippet = pick(draw, _SNIPPETS) if draw(st.booleans()) else draw(st.binary(max_size=8))
            data = data[:at] + snippet + data[at:]
        elif how == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 16)) :]
        else:
            data = data[:at]
        steps.append(f"{how}@{at}")
    return "bytes " + ",".join(steps), data


def hostile_json(draw: st.DrawFn, original: bytes) -> tuple[str, bytes]:
    """A real JSON file bent: its bytes, one of its values, or the whole of it."""
    how = pick(draw, ("bytes", "value", "value", "whole"))
    if how == "bytes":
        return bent_bytes(draw, original)
    if how == "whole":
        return "whole file", pick(draw, _WHOLE)
    document = json.loads(original)
    paths = json_paths(document)
    path = pick(draw, paths)
    raw = pick(draw, RAW_VALUES) if draw(st.booleans()) else json.dumps(draw(JSON_VALUES)).encode()
    return f"value at {'/'.join(map(str, path))} = {raw[:24]!r}", with_raw(document, path, raw)
