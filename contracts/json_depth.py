"""How deep JSON nests, judged on its bytes before any parser recurses into it.

Python's JSON parsers recurse once per array or object: a value nested a few thousand
levels deep raises ``RecursionError`` (or exhausts the stack) instead of a refusal. Every
reader of JSON from outside — a record's value, a bundle line, an agreement, a key file,
an event given to ``silian publish`` — asks :func:`nests_deeper` first and refuses with
its own error. It lives in the lowest layer so that ``agencies`` and ``bus`` share it.

Linear in the size of the data, whatever it holds: escape pairs (``\\x``) are dropped
first, so a quote or a backslash inside a string cannot make the next bracket look
quoted; then everything but quotes and brackets; then the strings (quote to quote). What
is left are the brackets a parser would enter, in order. Data that is not JSON is judged
the same way up to where a parser would stop; the parser then says what is wrong.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["FILE_DEPTH", "nests_deeper"]

FILE_DEPTH: Final = 32
"""The nesting silian's own files may use (bundle lines, agreements, key files: ≤ 5)."""

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_STRING = re.compile(rb'"[^"]*"')  # no backslash is left: no backtracking
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def nests_deeper(data: bytes, limit: int) -> bool:
    """Whether ``data`` nests arrays and objects more than ``limit`` levels deep.

    Free for ordinary data (no more opening brackets than the limit); else C-speed ``translate``
    and two regular expressions that never backtrack, and a count that stops at the limit.
    """
    if data.count(b"[") + data.count(b"{") <= limit:  # two C scans (memchr speed)
        return False
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)
    skeleton = _STRING.sub(b"", data.translate(None, _NOT_STRUCTURE))
    depth = 0
    for byte in skeleton:
        depth += _STEP.get(byte, 0)
        if depth > limit:
            return True
    return False
