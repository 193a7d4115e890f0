"""JSON from a local system, bounded in depth before any parser recurses into it.

Python's parser recurses once per level and gives up (``RecursionError``) near 1,000; a
payload nested 100,000 levels deep must be refused, or pruned, first. Refusing is
:func:`contracts.json_depth.nests_deeper`'s judgement; pruning (keep the rest of a list of
changes readable) finds the deep spans in one linear pass over the text: strings are
skipped whole by the C string scanner (``json.decoder.scanstring``), so brackets inside
them do not count and no string makes the scan go back over the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from contracts.json_depth import nests_deeper

__all__ = ["TOO_DEEP", "TooDeepError", "holds_too_deep", "loads_bounded", "loads_pruned"]

# What stands in for a pruned value: a string no honest record holds.
TOO_DEEP = "\x00silian: nested too deep\x00"
_STRUCTURE = re.compile(r'["\[\]{}]')


class TooDeepError(ValueError):
    """The JSON nests arrays and objects deeper than allowed; the message says how deep."""


def _deep_spans(text: str, limit: int) -> Iterator[tuple[int, int]]:
    """The outermost arrays and objects nested deeper than ``limit``, as (start, end).

    A string left open raises ValueError (the text is not JSON); unbalanced brackets are
    left to the parser to refuse.
    """
    depth, start, position = 0, -1, 0
    while (found := _STRUCTURE.search(text, position)) is not None:
        at, char = found.start(), found.group()
        if char == '"':
            _, position = scanstring(text, at + 1, True)
            continue
        position = at + 1
        if char in "[{":
            depth += 1
            if depth == limit + 1:
                start = at
        else:
            if depth == limit + 1 and start >= 0:
                yield start, at + 1
                start = -1
            depth -= 1


def _may_be_deeper(text: str, limit: int) -> bool:
    return text.count("[") + text.count("{") > limit  # free for ordinary values


def loads_bounded(text: str, limit: int, *, what: str = "the value") -> Any:
    """``json.loads(text)``; :class:`TooDeepError` when it nests deeper than ``limit``
    (judged as every reader of outside JSON judges it: :mod:`contracts.json_depth`)."""
    if _may_be_deeper(text, limit) and nests_deeper(text.encode("utf-8", "surrogatepass"), limit):
        raise TooDeepError(f"{what} nests arrays and objects deeper than {limit} levels")
    return json.loads(text)


def loads_pruned(text: str, limit: int) -> Any:
    """``json.loads(text)`` with each array or object nested deeper than ``limit``
    replaced by :data:`TOO_DEEP`: the rest of a document stays readable."""
    if not _may_be_deeper(text, limit):
        return json.loads(text)
    pieces, kept = [], 0
    for start, end in _deep_spans(text, limit):
        pieces += [text[kept:start], json.dumps(TOO_DEEP)]
        kept = end
    pieces.append(text[kept:])
    return json.loads("".join(pieces))


def holds_too_deep(value: Any) -> bool:
    """Whether :func:`loads_pruned` pruned something inside ``value``."""
    if value == TOO_DEEP:
        return True
    if isinstance(value, dict):
        return any(holds_too_deep(v) for v in value.values())
    if isinstance(value, list):
        return any(holds_too_deep(v) for v in value)
    return False
