"""Issue 10 on real Kafka: poison records ahead of an alert on a topic the adapter reads.

A tombstone and a record with a null header value — ordinary things for any Kafka client
to write — once killed ``silian agency run``'s bus
link with no log line while ``health.json`` kept saying ``ok, connected``. Here they are
written at the head of every partition of the alert topic, and the alert behind them must
still reach Pucheng's database, with Pucheng's report saying ``ok`` throughout.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from adapters.demo import wait_for
from adapters.reference import pucheng_app
from bus.node.topics import TopicPlan
from bus.transport.kafka import KafkaConfig, KafkaTransport
from tests.kafka import KafkaTarget
from tests.unit.adapters.scene import Logs, agencies, alert_fields
from tests.unit.adapters.test_runner import (
    PUCHENG,
    alert_arrived,
    healthy,
    poison_the_alert_topic,
    quarantined_by,
)

pytestmark = pytest.mark.kafka


async def test_poison_records_ahead_of_an_alert_stop_nothing_on_kafka(
    kafka: KafkaTarget, tmp_path: Path
) -> None:
    logs = Logs()
    transport = KafkaTransport(KafkaConfig(bootstrap=kafka.bootstrap, client_id="silian-test"))
    replication = 3 if kafka.local else 1
    plan = TopicPlan(replication=replication, min_insync_replicas=max(1, replication - 1))
    federation = f"t-poison-{uuid.uuid4().hex[:8]}"  # topics of its own on a shared Kafka
    async with agencies(
        tmp_path, transport=transport, federation_id=federation, plan=plan
    ) as scene:
        pucheng, _ = scene.start("pucheng"), scene.start("jiangshan")
        await wait_for(lambda: healthy(pucheng), timeout=120)
        poisoned = await poison_the_alert_topic(scene.transport, scene.federation, bad_names=False)
        db = pucheng_app.connect(f"sqlite:///{tmp_path / 'pucheng.db'}")
        scene.rest.create("alert", alert_fields("JS-POISON-K"))
        await wait_for(lambda: alert_arrived(db, "JS-POISON-K"), timeout=120)
        await wait_for(lambda: len(quarantined_by(logs, PUCHENG)) >= poisoned, timeout=120)
        report = await wait_for(lambda: healthy(pucheng), timeout=60)
        assert report["bus"]["connected"] is True
        assert set(report["tasks"].values()) == {"running"}
        assert scene.health_file("pucheng")["status"] == "ok"
        db.close()
    await transport.stop()
