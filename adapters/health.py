"""The adapter's health report: a JSON file rewritten every second, and ``GET /health`` on
loopback when ``[health] listen`` is set (200 when healthy, 503 otherwise).

The report says whether the bus and the local system are reachable, how many outbound
events wait in the outbox (and since when), how many were published, refused or set
aside, and how many inbound events were applied or refused — what an operator needs to
tell "Kafka is down, events are queued" from "the local system refuses our writes".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from adapters._runtime import unforeseen
from bus.envelope.ids import format_time, now
from bus.logs import get_logger
from bus.node.metrics import OperatorServer, Response
from bus.state.private import private_parents, write_private

__all__ = ["HealthServer", "report_every_second", "write_report"]

log = get_logger("silian.adapter.health")

Report = Callable[[], Awaitable[dict[str, Any]]]


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` atomically: a reader sees the old file or the new one, whole."""
    private_parents(path)  # [health] file may name a folder of the operator's
    write_private(path, json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n")


async def report_every_second(
    report: Report, path: Path, stop: asyncio.Event, *, agency: str
) -> None:
    """Rewrite the report at ``path`` every second until ``stop``. A report that cannot be
    made replaces the last one with one saying so: a stale "ok" would be a lie."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(write_report, path, await report())
        except OSError as error:
            log.warning("health.unwritable", path=str(path), error=str(error))
        except Exception as error:
            log.exception("health.failed")
            failed = {
                "status": "degraded",
                "agency": agency,
                "updated_at": format_time(now()),
                "error": unforeseen("making the health report", error),
            }
            with contextlib.suppress(OSError):
                await asyncio.to_thread(write_report, path, failed)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


class HealthServer:
    """``GET /health`` on loopback → the JSON report (200 when healthy, 503 otherwise)."""

    def __init__(self, host: str, port: int, report: Report) -> None:
        self._report = report
        self._http = OperatorServer(host, port, self._respond)
        self._host = host

    @property
    def port(self) -> int:
        """The port actually bound (``listen = "127.0.0.1:0"`` picks a free one)."""
        return self._http.port

    async def start(self) -> None:
        await self._http.start()
        log.info("health.listening", host=self._host, port=self.port)

    async def stop(self) -> None:
        await self._http.stop()

    async def _respond(self, path: str) -> Response:
        if path != "/health":
            return "404 Not Found", "text/plain", b"not found\n"
        report = await self._report()
        status = "200 OK" if report.get("status") == "ok" else "503 Service Unavailable"
        body = json.dumps(report, ensure_ascii=False, default=str).encode("utf-8")
        return status, "application/json; charset=utf-8", body
