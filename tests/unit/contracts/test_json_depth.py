"""The one JSON depth check: what a parser would recurse into, judged on the bytes."""

from __future__ import annotations

import json
import random

import pytest

from bus.errors import RecordRejectedError
from bus.pipeline import VerifyPolicy, check_json_depth
from bus.reasons import Reason
from contracts.json_depth import nests_deeper


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@pytest.mark.parametrize(
    ("data", "depth"),
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'["[[[[", "{{{{"]', 1),  # brackets inside strings are text
        (b'["\\"[[[["]', 1),  # an escaped quote does not end the string
        (b'["\\\\", [[]]]', 3),  # an escaped backslash does not escape the quote after it
        (b"[[1], [2], [3], [4], [5], [6], [7], [8]]", 2),  # many brackets, shallow
    ],
)
def test_depth_is_what_the_parser_enters(data: bytes, depth: int) -> None:
    assert _depth(json.loads(data)) == depth
    assert not nests_deeper(data, depth)
    assert nests_deeper(data, depth - 1) == (depth > 0)


def test_an_escape_before_the_brackets_does_not_hide_them() -> None:
    # "\n" kept as a bare backslash used to pair with the next quote: the deep brackets
    # then looked quoted and json.loads raised RecursionError after the check passed.
    data = b'["\\n",' + b"[" * 100_000 + b'"a"' + b"]" * 100_000 + b"]"
    assert nests_deeper(data, 32)
    with pytest.raises(RecordRejectedError) as caught:
        check_json_depth(data, 32)
    assert caught.value.reason is Reason.TOO_DEEP


def test_a_hostile_value_of_the_largest_size_is_judged_at_once() -> None:
    # An unterminated string of escaped quotes made the old check quadratic: a value of
    # the size a record may have took minutes (a stalled consumer). Now one pass.
    size = VerifyPolicy().max_value_bytes
    data = b"[" * 40 + b'"' + b'\\"' * (size // 2 - 30)
    assert len(data) <= size
    assert nests_deeper(data, 32)
    assert not nests_deeper(b'"' + b'\\"' * (size // 2 - 1), 32)


def test_random_json_agrees_with_the_parser() -> None:
    rng = random.Random(5)

    def value(depth: int) -> object:
        pick = rng.random()
        if depth > 40 or pick < 0.3:
            return rng.choice([1, "x]", '\\"[', "}{", None, "\\", ""])
        if pick < 0.65:
            return [value(depth + 1) for _ in range(rng.randrange(3))]
        return {f"k{i}[": value(depth + 1) for i in range(rng.randrange(3))}

    for _ in range(300):
        data = json.dumps(value(0)).encode()
        depth = _depth(json.loads(data))
        assert not nests_deeper(data, depth)
        assert nests_deeper(data, depth - 1) == (depth > 0)
