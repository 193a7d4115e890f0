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
    """A minimal HTTP/1.1 responder on loopback: ``GET /health`` → the JSON report."""

    def __init__(self, host: str, port: int, report: Report) -> None:
        self._host = host
        self._port = port
        self._report = report
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port actually bound (``listen = "127.0.0.1:0"`` picks a free one)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._answer, self._host, self._port)
        log.info("health.listening", host=self._host, port=self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)).strip():
                pass  # headers: nothing here needs them
            parts = request.decode("latin-1").split()
            if len(parts) >= 2 and parts[0] == "GET" and parts[1].split("?")[0] == "/health":
                report = await self._report()
                status = "200 OK" if report.get("status") == "ok" else "503 Service Unavailable"
                body = json.dumps(report, ensure_ascii=False, default=str).encode("utf-8")
                content_type = "application/json; charset=utf-8"
            else:
                status, body, content_type = "404 Not Found", b"not found\n", "text/plain"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("ascii")
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
