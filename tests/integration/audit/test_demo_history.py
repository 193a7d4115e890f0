"""The demo run on Kafka, then ``silian audit replay`` over its federation's topics: the
only anomalies are the three records the demo injects on purpose, each at its offset."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bus.cli.scenario import run_demo
from bus.transport.kafka import KafkaConfig, KafkaTransport
from tests.unit.audit.demo_history import injected, keep_federation, write_agreement

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[3]


async def _injected(bootstrap: str, history: object) -> list[tuple[str, str, int, int]]:
    async with KafkaTransport(KafkaConfig(bootstrap=bootstrap)) as transport:
        return await injected(transport, history.federation)  # type: ignore[attr-defined]


def test_the_demo_history_on_kafka_replays_clean_but_for_its_injected_records(
    tmp_path: Path, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = keep_federation(monkeypatch, tmp_path)
    asyncio.run(run_demo(kafka=kafka_bootstrap, directory=tmp_path / "demo", emit=lambda _: None))
    history = write_agreement(made[0], tmp_path)
    expected = asyncio.run(_injected(kafka_bootstrap, history))
    topics = [arg for topic in history.topics for arg in ("--only", topic)]
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("SILIAN_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bus.cli.main",
            "audit",
            "replay",
            "--bootstrap",
            kafka_bootstrap,
            "--agreement",
            str(history.agreement),
            *topics,
            "--json",
            "--quiet",
        ],
        env=clean_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    found = sorted(
        (a["kind"], a["topic"], a["partition"], a["offset"]) for a in report["anomalies"]
    )
    assert found == sorted(expected), report["anomalies"]
    assert report["records"] > 30
