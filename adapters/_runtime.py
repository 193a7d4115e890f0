"""Small pieces of the runner: its transport, shutting things down quietly, and unforeseen
failures in words."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from adapters.config import AgencyConfig
from bus.errors import TransportError
from bus.logs import get_logger
from bus.transport import connect
from bus.transport.base import Transport

__all__ = ["quietly", "transport_for", "unforeseen"]

log = get_logger("silian.adapter")


async def quietly(step: Awaitable[None], *, timeout: float = 15.0) -> None:
    """Shut one thing down without letting it stop the rest of the shutdown.

    aiokafka's consumer, stopped while no broker answers, re-raises the CancelledError of
    its own fetch task; that one is swallowed, a cancellation of this task is not.
    """
    try:
        await asyncio.wait_for(step, timeout=timeout)
    except (TransportError, TimeoutError) as error:
        log.warning("adapter.stop_incomplete", error=str(error) or type(error).__name__)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


def unforeseen(what: str, error: BaseException) -> str:
    """A failure nobody foresaw, in words for the health report: what failed and the kind
    of error. The message itself (long, or holding data) goes to the log only."""
    return (
        f"{what} failed in an unforeseen way ({type(error).__name__}); "
        "the adapter log has the details"
    )


def transport_for(config: AgencyConfig) -> Transport:
    """The transport an agency's config names (:func:`bus.transport.connect`)."""
    return connect(
        config.bus.kafka,
        embedded=config.bus.embedded,
        client_id=f"silian-adapter-{config.agency}",
        request_timeout_ms=config.bus.request_timeout_ms,
    )
