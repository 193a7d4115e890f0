"""The pipeline is total: a step that fails on a record in a way nobody foresaw refuses it.

Whoever runs a step of the pipeline — the consumer, the auditor — runs it through
:func:`judged`: anything it raises but a refusal is a defect the record uncovered, logged
with its traceback and turned into an ``unprocessable`` refusal, never an exception that
stops a partition or a replay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from bus.errors import RecordRejectedError
from bus.logs import get_logger
from bus.reasons import Reason

__all__ = ["described", "judged"]

log = get_logger("silian.pipeline")
T = TypeVar("T")


def described(error: BaseException) -> str:
    """An unforeseen error in words for a refusal: its kind and (bounded) message."""
    text = str(error)
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


def judged(step: str, run: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``run(*args, **kwargs)``, a step of the pipeline; a failure that is not a refusal is
    logged with its traceback and raised as an ``unprocessable`` refusal."""
    try:
        return run(*args, **kwargs)
    except RecordRejectedError:
        raise
    except Exception as error:  # total over hostile bytes: a defect, not a stop
        log.exception("pipeline.step_failed", step=step)
        raise RecordRejectedError(
            Reason.UNPROCESSABLE, f"step {step} failed on this record: {described(error)}"
        ) from None
