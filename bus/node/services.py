"""The audit services of a running agency (``silian serve``): which run, and running them.

One agency keeps the federation's Merkle log (:class:`~bus.node.keeper.LogKeeper`,
``--log-keeper``); every other one witnesses it
(:class:`~bus.node.witnessing.WitnessService`, on unless ``--no-witness``). Each runs in
the background beside the agency's subscription; a failure is logged at error level and
the service starts again after a pause. The record formats are in
:mod:`bus.tlog.messages` and docs/audit.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bus.logs import get_logger
from bus.node.context import AgencyContext
from bus.node.keeper import LogKeeper
from bus.node.topics import RETRY_S
from bus.node.witnessing import WitnessService

__all__ = ["AuditServiceConfig", "run_audit_services"]

log = get_logger("silian.audit.service")


@dataclass(frozen=True, kw_only=True)
class AuditServiceConfig:
    """Which audit services an agency runs, and how often the keeper checkpoints."""

    log_keeper: bool = False
    witness: bool = True
    interval: float = 60.0  # seconds between checkpoints of a log that grew …
    every: int = 1000  # … or sooner, once this many records were appended
    poll: float = 0.5  # how long one fetch waits
    once: bool = False  # at the end, read what is there first (silian serve --once)


async def _supervised(
    name: str, run: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event
) -> None:
    """Run a service until ``stop``; a failure is logged at error level and retried."""
    while not stop.is_set():
        try:
            await run(stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("audit.service_failed", service=name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_S)


@contextlib.asynccontextmanager
async def run_audit_services(
    ctx: AgencyContext, *, state_dir: Path, config: AuditServiceConfig
) -> AsyncIterator[tuple[LogKeeper | None, WitnessService | None]]:
    """Run the configured services in the background for the duration of the block."""
    stop = asyncio.Event()
    keeper = (
        LogKeeper(
            ctx,
            state_dir=state_dir,
            interval=config.interval,
            every=config.every,
            poll=config.poll,
            once=config.once,
        )
        if config.log_keeper
        else None
    )
    witness = (
        WitnessService(ctx, state_dir=state_dir, poll=config.poll, once=config.once)
        if config.witness
        else None
    )
    tasks = []
    if keeper is not None:
        tasks.append(asyncio.create_task(_supervised("log-keeper", keeper.run, stop)))
    if witness is not None:
        tasks.append(asyncio.create_task(_supervised("witness", witness.run, stop)))
    log.info("audit.services", log_keeper=keeper is not None, witness=witness is not None)
    try:
        yield keeper, witness
    finally:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        finally:
            if keeper is not None:
                keeper.close()
