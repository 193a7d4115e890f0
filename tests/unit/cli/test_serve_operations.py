"""Operating ``silian serve`` as a separate process: liveness, readiness that waits until
the service caught up, and Prometheus metrics that move with traffic."""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bus.node.bus import Bus, BusConfig
from bus.transport.embedded import EmbeddedTransport
from contracts import examples
from contracts.alerts import AlertIssued
from tests.unit.cli.conftest import Ran, Setup, bus_env

BACKLOG = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8")
    finally:
        connection.close()


async def _publish_alerts(setup: Setup, first: int, count: int) -> None:
    fed = setup.fed
    issued = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    async with EmbeddedTransport(setup.state / "embedded.sqlite") as transport:
        config = BusConfig(
            agency=examples.JIANGSHAN,
            federation=fed.federation_id,
            state_dir=setup.state / examples.JIANGSHAN,
        )
        async with Bus(
            config, transport=transport, agreements=fed.agreements, keystore=fed.keystore
        ) as bus:
            for n in range(first, first + count):
                await bus.publish(issued.model_copy(update={"alert_id": f"JS-ALERT-OPS-{n:04d}"}))


def _handled(setup: Setup) -> int:
    path = setup.state / examples.PUCHENG / "effects.sqlite"
    with sqlite3.connect(path) as db:
        return int(
            db.execute(
                "SELECT count(*) FROM effects WHERE ce_type = 'cn.silian.alert.issued.v1'"
            ).fetchone()[0]
        )


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed by prometheus-client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _delivered_alerts(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "silian_records_total"
        and ("ce_type", "cn.silian.alert.issued.v1") in labels
        and ("outcome", "delivered") in labels
    )


def test_serve_is_ready_once_caught_up_and_its_metrics_move(
    setup: Setup, silian: Callable[..., Ran]
) -> None:
    assert silian("topics", "apply").code == 0
    asyncio.run(_publish_alerts(setup, 0, BACKLOG))  # a backlog waits for Pucheng
    port = _free_port()
    env = {**os.environ, **bus_env(setup.root), "SILIAN_LISTEN": f"127.0.0.1:{port}"}
    env.pop("SILIAN_KAFKA_BOOTSTRAP", None)
    log = (setup.root / "serve.log").open("w")  # a file: a full pipe would stop the service
    serve = subprocess.Popen(
        [str(Path(sys.executable).with_name("silian")), "serve", "--agency", examples.PUCHENG],
        stdout=subprocess.DEVNULL, stderr=log, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # the endpoint comes up before the bus: alive, not ready
            try:
                assert _get(port, "/livez") == (200, "ok\n")
                break
            except ConnectionRefusedError:
                assert serve.poll() is None, "serve exited"
                assert time.monotonic() < deadline
                time.sleep(0.05)
        answers = []
        while True:
            status, body = _get(port, "/readyz")
            answers.append(status)
            if status == 200:
                break
            assert status == 503
            assert body.startswith("not ready: ")
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert _handled(setup) == BACKLOG  # ready means caught up: every alert handled
        assert answers[0] == 503  # and it was not ready before

        status, text = _get(port, "/metrics")
        assert status == 200
        samples = _samples(text)
        assert _delivered_alerts(samples) == BACKLOG
        assert samples[("silian_ready", ())] == 1
        assert samples[("silian_agreement_version", ())] == 1
        lags = [v for (name, _), v in samples.items() if name == "silian_consumer_lag"]
        assert lags
        assert all(v == 0 for v in lags)
        receipts = sum(v for (n, _), v in samples.items() if n == "silian_published_total")
        assert receipts == 2 * BACKLOG  # received and handled, for each alert
        assert samples[("silian_publish_seconds_count", ())] == 2 * BACKLOG

        asyncio.run(_publish_alerts(setup, BACKLOG, 5))  # traffic while it runs
        while _delivered_alerts(_samples(_get(port, "/metrics")[1])) < BACKLOG + 5:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert _get(port, "/nothing")[0] == 404
    finally:
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(timeout=60)
        log.close()
    assert code == 0, (setup.root / "serve.log").read_text()[-2000:]
    lines = (setup.root / "serve.log").read_text().splitlines()
    assert any('"serve.caught_up"' in line for line in lines)
