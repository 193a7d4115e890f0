"""Whether the broker answers, judged apart from the runner's link loop.

The link loop learns of an outage only when one of its own calls fails or times out, and
some never do: with every broker gone, aiokafka's offset commit waits for a group
coordinator until one comes back, and a send (a receipt answered while handling an
inbound event) waits for its acknowledgement. A link loop blocked there would leave the
health report saying "connected" for the whole outage.

:class:`BrokerWatch` asks the broker a small question of its own every ``interval``
seconds, each bounded by its own ``timeout``, and judges by how long ago an answer last
came: a broker that answers within ``timeout`` is never silent for longer than
``interval + timeout`` (:attr:`BrokerWatch.limit`), so a longer silence means it cannot be
reached, whatever the link loop is waiting for. The judgement is made when asked for
(:meth:`BrokerWatch.silence`), from the clock: a question that does not even give up at
its timeout cannot hold it back. Other proofs of life (the link loop's connect, a send's
acknowledgement) count as answers too (:meth:`BrokerWatch.answered`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bus.envelope.ids import format_time, now
from bus.logs import get_logger

__all__ = ["BrokerWatch", "Silence"]

log = get_logger("silian.adapter")


@dataclass(frozen=True, slots=True, kw_only=True)
class Silence:
    """The broker has not answered since ``since`` (``seconds`` ago); ``error`` is what
    the latest question met."""

    since: datetime
    seconds: float
    error: str

    def __str__(self) -> str:
        return f"no answer from the broker for {self.seconds:.0f}s: {self.error}"


class BrokerWatch:
    """Asks ``ask()`` every ``interval`` seconds (each time for at most ``timeout``) and
    says whether the broker has been silent for longer than ``interval + timeout``.

    Before the first answer there is nothing to judge: :meth:`silence` is None, and the
    caller's own judgement (a runner starts "not connected") stands.
    """

    def __init__(
        self,
        ask: Callable[[], Awaitable[object]],
        *,
        interval: float,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0 or timeout <= 0:
            raise ValueError(f"interval and timeout must be > 0, got {interval}, {timeout}")
        self._ask = ask
        self.interval = interval
        self.timeout = timeout
        self._clock = clock
        self._answered: tuple[float, datetime] | None = None  # (clock, wall time)
        self._answering_since: datetime | None = None
        self._error = f"no answer within {timeout:g}s"
        self._silent_logged = False

    @property
    def limit(self) -> float:
        """The longest silence of a broker that answers within ``timeout``."""
        return self.interval + self.timeout

    @property
    def answering_since(self) -> datetime | None:
        """When the broker's answers resumed after the latest silence (or first came)."""
        return self._answering_since

    def answered(self) -> None:
        """Note that the broker answered just now (any proof of life counts)."""
        if self._answered is None or self.silence() is not None:
            self._answering_since = now()
        self._answered = (self._clock(), now())

    def silence(self) -> Silence | None:
        """The silence when it is longer than :attr:`limit`; None otherwise."""
        if self._answered is None:
            return None
        at, wall = self._answered
        seconds = self._clock() - at
        if seconds <= self.limit:
            return None
        return Silence(since=wall, seconds=seconds, error=self._error)

    async def ask_once(self) -> bool:
        """Ask once, for at most ``timeout``; True when the broker answered."""
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                await self._ask()
        except TimeoutError:
            self._error = f"no answer within {self.timeout:g}s"
            return False
        except Exception as error:  # noqa: BLE001 - any failure is "no answer"; reported
            self._error = str(error) or type(error).__name__
            return False
        if deadline.expired():  # the question swallowed its cancellation: too late anyway
            self._error = f"no answer within {self.timeout:g}s"
            return False
        self.answered()
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Ask until ``stop`` is set; log when the broker falls silent and answers again."""
        while not stop.is_set():
            await self.ask_once()
            silence = self.silence()
            if silence is not None and not self._silent_logged:
                log.warning("bus.silent", since=format_time(silence.since), error=str(silence))
                self._silent_logged = True
            elif silence is None and self._silent_logged:
                log.info("bus.answering")
                self._silent_logged = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
