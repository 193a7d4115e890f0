"""What a running ``silian serve`` tells its operator: liveness, readiness and metrics.

``serve --listen HOST:PORT`` answers over HTTP (:class:`OperatorServer`):

* ``GET /livez`` — 200 while the service's event loop answers;
* ``GET /readyz`` — 200 once the agreement verified, the transport is connected and the
  subscription caught up (its partitions assigned and a poll found nothing left), 503
  before, with the reason in the body;
* ``GET /metrics`` — Prometheus' text format (``prometheus-client``, a registry of the
  service's own: :class:`ServeMetrics`).

Metrics, each prefixed ``silian_``: records read by topic, event type and outcome;
refusals by reason; records published by topic and type, and the seconds from hand-over
to the broker's acknowledgement; consumer lag per partition; answers owed past their
deadline (counted where the service looks for them, every 30 s); the agreement version in
force; readiness. The lag and the agreement are measured when a scrape asks
(:meth:`ServeMetrics.measure_with`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bus.logs import get_logger
from bus.node.publish import Published
from bus.node.results import Outcome, Result

__all__ = ["OperatorServer", "Response", "ServeMetrics"]

log = get_logger("silian.serve")

Refresh = Callable[[], Awaitable[None]]
M = TypeVar("M", Counter, Gauge, Histogram)


class ServeMetrics:
    """The metrics of one ``silian serve``, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.records = self._metric(
            Counter, "records", "records read, by topic, event type and outcome",
            "topic", "ce_type", "outcome",
        )  # fmt: skip
        self.refusals = self._metric(
            Counter, "refusals", "records refused and quarantined, by reason", "reason"
        )
        self.published = self._metric(
            Counter, "published",
            "records this service published (its receipts), by topic and event type",
            "topic", "ce_type",
        )  # fmt: skip
        self.publish_seconds = self._metric(
            Histogram, "publish_seconds",
            "seconds from handing a record to the transport to the broker's acknowledgement",
        )  # fmt: skip
        self.lag = self._metric(
            Gauge, "consumer_lag", "records not read yet, per topic partition",
            "topic", "partition",
        )  # fmt: skip
        self.overdue = self._metric(
            Gauge, "overdue_answers", "answers owed to this agency past their deadline (事事有回音)"
        )
        self.agreement = self._metric(
            Gauge, "agreement_version", "the agreement version in force now"
        )
        self.ready = self._metric(
            Gauge, "ready", "1 once verified, connected and caught up; else 0"
        )
        self.not_ready: str | None = "starting: the agreement is not verified yet"
        self._refresh: Refresh | None = None

    def _metric(self, kind: type[M], name: str, description: str, *labels: str) -> M:
        """A ``silian_<name>`` metric in this service's registry."""
        return kind(f"silian_{name}", description, labels, registry=self.registry)

    def result(self, result: Result) -> None:
        """Count one result of the subscription."""
        self.records.labels(
            result.coordinates.topic, result.ce_type or "", result.outcome.value
        ).inc()
        if result.outcome is Outcome.QUARANTINED:
            self.refusals.labels(result.reason.value if result.reason else "").inc()

    def published_one(self, published: Published, seconds: float) -> None:
        """A :attr:`bus.node.publish.Publisher.observers` callback."""
        self.published.labels(published.topic, published.ce_type).inc()
        self.publish_seconds.observe(seconds)

    def set_ready(self, why_not: str | None) -> None:
        """Ready (None), or not and why."""
        self.not_ready = why_not
        self.ready.set(0 if why_not else 1)

    def measure_with(self, refresh: Refresh) -> None:
        """What a scrape runs first (lag, overdue answers, agreement version)."""
        self._refresh = refresh

    async def exposition(self) -> bytes:
        if self._refresh is not None:
            try:
                await self._refresh()
            except Exception:  # a scrape shows what it has; the failure is logged
                log.exception("metrics.refresh_failed")
        return generate_latest(self.registry)

    async def respond(self, path: str) -> Response:
        """``silian serve``'s routes: ``/livez``, ``/readyz``, ``/metrics``."""
        if path == "/livez":
            return "200 OK", "text/plain; charset=utf-8", b"ok\n"
        if path == "/readyz":
            if self.not_ready is None:
                return "200 OK", "text/plain; charset=utf-8", b"ready\n"
            body = f"not ready: {self.not_ready}\n".encode()
            return "503 Service Unavailable", "text/plain; charset=utf-8", body
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, await self.exposition()
        return "404 Not Found", "text/plain; charset=utf-8", b"/livez, /readyz or /metrics\n"


Response = tuple[str, str, bytes]
"""(status line, content type, body) of an answer to ``GET <path>``."""


class OperatorServer:
    """A minimal HTTP/1.1 responder for operators (loopback or a management network):
    each ``GET`` is answered by ``respond(path)``, then the connection is closed."""

    def __init__(self, host: str, port: int, respond: Callable[[str], Awaitable[Response]]) -> None:
        self._host, self._port, self._respond = host, port, respond
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port bound (port 0 picks a free one)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._answer, self._host, self._port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def __aenter__(self) -> OperatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)).strip():
                pass  # headers: nothing here needs them
            parts = request.decode("latin-1").split()
            if len(parts) >= 2 and parts[0] == "GET":
                status, content_type, body = await self._respond(parts[1].split("?")[0])
            else:
                status, content_type, body = "405 Method Not Allowed", "text/plain", b"GET only\n"
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
