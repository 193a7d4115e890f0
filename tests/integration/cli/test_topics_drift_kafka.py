"""On real Kafka: a topic someone switched to ``CreateTime`` with the admin client shows as
drift in ``silian topics list`` (exit 1) until ``silian topics apply`` sets it back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bus.sandbox.federation import create_federation
from bus.transport.kafka import KafkaConfig, KafkaTransport
from tests.unit.cli.conftest import Ran, cli_main

pytestmark = pytest.mark.kafka

PLAN = ("--replication", "3", "--min-insync", "2")


async def _switch_to_create_time(bootstrap: str, topic: str) -> None:
    """An operator's (or intruder's) change, made with Kafka's own admin client."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # AlterConfigs replaces the topic's whole set: keep the others as silian set them.
        configs = {
            "retention.ms": "-1",
            "min.insync.replicas": "2",
            "cleanup.policy": "delete",
            "message.timestamp.type": "CreateTime",
        }
        (response,) = await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs)]
        )
        assert [r["error_code"] for r in response.to_object()["resources"]] == [0]
    finally:
        await admin.close()
    # Wait (no sleep) until a broker answers with the change, as `list` will ask.
    transport = KafkaTransport(KafkaConfig(bootstrap=bootstrap, client_id="drift-test"))
    await transport.start()
    try:
        async with asyncio.timeout(30):
            while True:
                found = await transport.describe_topics([topic])
                if found[topic].configs.get("message.timestamp.type") == "CreateTime":
                    return
                await asyncio.sleep(0.1)  # asking the brokers again, not a fixed wait
    finally:
        await transport.stop()


@pytest.fixture
def silian(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    def run(*argv: str) -> Ran:
        capsys.readouterr()
        code = cli_main.main(list(argv))
        captured = capsys.readouterr()
        return Ran(code=code, out=captured.out, err=captured.err)

    return run


def test_create_time_drift_is_listed_and_applied_away(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kafka_bootstrap: str,
    silian: Callable[..., Ran],
) -> None:
    fed = create_federation(tmp_path / "fed", federation_id=f"drift-{uuid.uuid4().hex[:6]}")
    fed.write_agreement(tmp_path / "agreement")
    for name in ("SILIAN_AGENCY", "SILIAN_EMBEDDED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SILIAN_KEY_DIR", str(tmp_path / "fed" / "keys"))
    monkeypatch.setenv("SILIAN_AGREEMENT_DIR", str(tmp_path / "agreement"))
    monkeypatch.setenv("SILIAN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SILIAN_KAFKA_BOOTSTRAP", kafka_bootstrap)
    alert = f"silian.{fed.federation_id}.alert.v1"

    applied = silian("topics", "apply", *PLAN)
    assert applied.code == 0, applied.err
    clean = silian("topics", "list", *PLAN)
    assert clean.code == 0, clean.out

    asyncio.run(_switch_to_create_time(kafka_bootstrap, alert))
    drifted = silian("topics", "list", *PLAN)
    assert drifted.code == 1
    assert [line for line in drifted.out.splitlines() if line.startswith("DRIFT")] == [
        f"DRIFT {alert} message.timestamp.type=CreateTime (plan: LogAppendTime) — "
        "run: silian topics apply"
    ]

    fixed = silian("topics", "apply", *PLAN, "--json")
    assert fixed.code == 0, fixed.err
    assert [(c["topic"], c["config"], c["new"]) for c in fixed.json()["reconfigured"]] == [
        (alert, "message.timestamp.type", "LogAppendTime")
    ]
    after = silian("topics", "list", *PLAN, "--json")
    assert after.code == 0, after.out
    rows = {row["topic"]: row for row in after.json()}
    assert rows[alert]["configs"]["message.timestamp.type"] == "LogAppendTime"
    assert rows[alert]["drift"] == []
