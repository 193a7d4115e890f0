"""bus.pipeline.total: a step that fails unforeseen refuses the record (``unprocessable``)
instead of stopping a consumer or a replay; a refusal passes on as it is."""

from __future__ import annotations

import io
import json

import pytest

from bus.errors import RecordRejectedError
from bus.logs import configure_logging
from bus.pipeline import described, judged
from bus.reasons import Reason
from tests.unit.histories import JIANGSHAN


def _refused(reason: Reason, caught: pytest.ExceptionInfo[RecordRejectedError]) -> str:
    assert caught.value.reason is reason
    return caught.value.detail


def test_judged_returns_what_the_step_returns() -> None:
    assert judged("add", lambda a, b=0: a + b, 1, b=2) == 3


def test_judged_passes_a_refusal_on_as_it_is() -> None:
    refusal = RecordRejectedError(Reason.NOT_JSON, "not JSON", signer=JIANGSHAN)

    def step() -> None:
        raise refusal

    with pytest.raises(RecordRejectedError) as caught:
        judged("decode", step)
    assert caught.value is refusal


def test_judged_turns_a_defect_into_an_unprocessable_refusal_and_logs_it() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", level="INFO", stream=stream)

    def step(value: bytes) -> None:
        raise KeyError(value)

    with pytest.raises(RecordRejectedError) as caught:
        judged("decode", step, b"\x00")
    assert _refused(Reason.UNPROCESSABLE, caught) == (
        "step decode failed on this record: KeyError: b'\\x00'"
    )
    assert caught.value.signer is None
    (line,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert (line["event"], line["step"], line["level"]) == (
        "pipeline.step_failed",
        "decode",
        "error",
    )
    assert "KeyError" in line["exception"]  # with its traceback: a defect to report


def test_judged_does_not_swallow_an_interrupt() -> None:
    def step() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        judged("decode", step)


def test_an_error_is_described_by_its_type_and_the_start_of_its_words() -> None:
    assert described(ValueError()) == "ValueError"
    assert described(ValueError("bad")) == "ValueError: bad"
    assert described(ValueError("x" * 1000)) == "ValueError: " + "x" * 300
