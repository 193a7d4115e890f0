"""JSON from a local system, bounded in depth in one linear pass (adapters/_json.py)."""

from __future__ import annotations

import json

import pytest

from adapters._json import TOO_DEEP, TooDeepError, holds_too_deep, loads_bounded, loads_pruned

DEEP = "[" * 100_000 + "]" * 100_000


def test_deep_json_is_refused_before_the_parser_recurses() -> None:
    with pytest.raises(
        TooDeepError, match=r"^payload nests arrays and objects deeper than 64 levels$"
    ):
        loads_bounded(f'{{"a": {DEEP}}}', 64, what="payload")
    assert loads_bounded('{"a": [[1]]}', 3) == {"a": [[1]]}
    with pytest.raises(TooDeepError):
        loads_bounded('{"a": [[1]]}', 2)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[" * 5000, "b": "{" * 5000 + '\\"['})
    assert loads_bounded(text, 1) == json.loads(text)


def test_a_string_left_open_is_not_json_and_is_not_rescanned() -> None:
    """``"\\"\\"\\"…`` with no closing quote: a backtracking scan is quadratic over it (a
    megabyte of it would take hours); the string scanner refuses it in one pass."""
    text = "[" * 100 + '"' + '\\"' * 500_000
    with pytest.raises(ValueError, match=r"deeper than 64|Unterminated string"):
        loads_bounded(text, 64)  # a parser would enter the 100 arrays before the string
    with pytest.raises(ValueError, match="Unterminated string"):
        loads_pruned(text, 64)


def test_pruning_keeps_the_rest_of_the_document_readable() -> None:
    text = '{"changes": [{"cursor": 1, "data": {"x": ' + DEEP + '}}, {"cursor": 2, "data": {}}]}'
    document = loads_pruned(text, 4)
    first, second = document["changes"]
    assert first["cursor"] == 1
    assert first["data"] == {"x": TOO_DEEP}  # the 5th level and below: pruned
    assert holds_too_deep(first["data"])
    assert second == {"cursor": 2, "data": {}}
    assert not holds_too_deep(second)
    assert loads_pruned('{"a": [1, [2]]}', 3) == {"a": [1, [2]]}  # shallow: untouched


def test_unbalanced_brackets_are_left_for_the_parser_to_refuse() -> None:
    with pytest.raises(ValueError, match="Expecting"):
        loads_pruned("[" * 70 + "]" * 69, 64)
