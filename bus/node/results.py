"""What a subscription hands out — a :class:`Delivery` to a handler, a :class:`Result` per
record to whoever polls — and how a handler is called (:func:`call_handler`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from bus.errors import EventRejectedError, RedeliverError
from bus.logs import get_logger
from bus.pipeline.total import described
from bus.reasons import Reason
from bus.transport.base import Coordinates
from contracts.base import EventModel
from contracts.vocab import Handling

__all__ = [
    "HANDLER_ATTEMPTS",
    "Delivery",
    "Handled",
    "Handler",
    "Outcome",
    "Result",
    "call_handler",
]

log = get_logger("silian.consume")
E = TypeVar("E", bound=EventModel)

# A handler that raises something unforeseen is tried this many times in all, with these
# pauses between, before its record is quarantined (a poison record must not stop us).
HANDLER_ATTEMPTS = 3
_HANDLER_PAUSES = (0.2, 1.0)


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivery(Generic[E]):
    """A verified, authorised, decoded event, as a handler receives it."""

    event: E
    source: str
    event_id: str
    ce_type: str
    time: datetime
    handling: Handling
    priority: str
    coordinates: Coordinates
    sealed: bool


Handler = Callable[[Delivery[Any]], Awaitable[str | None]]


class Outcome(StrEnum):
    DELIVERED = "delivered"  # passed every step (handled if a handler is registered)
    QUARANTINED = "quarantined"
    OWN = "own"  # this agency's own record: already applied when published
    REDELIVERY = "redelivery"  # the same record at the same offset again: already dealt with


@dataclass(frozen=True, kw_only=True, slots=True)
class Result:
    outcome: Outcome
    coordinates: Coordinates
    event_id: str | None = None
    source: str | None = None
    ce_type: str | None = None
    time: datetime | None = None
    reason: Reason | None = None
    detail: str | None = None
    event: EventModel | None = None
    handled: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Handled:
    """What a handler did with a delivery: its action, or the local system's refusal, or
    the words of a failure it kept failing with (at most one of the last two)."""

    action: str | None = None
    rejected: EventRejectedError | None = None
    failed: str | None = None


async def call_handler(handler: Handler, delivery: Delivery[Any]) -> Handled:
    """Call ``handler``; an unforeseen failure is tried again (it may pass), and after
    :data:`HANDLER_ATTEMPTS` it is the verdict, not an exception: a poison record must not
    stop the subscription. :class:`RedeliverError` (read it again later) is raised."""
    for attempt in range(HANDLER_ATTEMPTS):
        try:
            return Handled(action=await handler(delivery))
        except EventRejectedError as refusal:
            return Handled(rejected=refusal)
        except RedeliverError:
            raise
        except Exception as error:
            log.exception("handler.failed", attempt=attempt + 1, of=HANDLER_ATTEMPTS)
            if attempt + 1 == HANDLER_ATTEMPTS:
                return Handled(
                    failed=f"the handler failed {HANDLER_ATTEMPTS} times: {described(error)}"
                )
            await asyncio.sleep(_HANDLER_PAUSES[min(attempt, len(_HANDLER_PAUSES) - 1)])
    raise AssertionError("unreachable")  # pragma: no cover
