"""Issue 6, done when: three adapter processes, three local systems, real Kafka.

* an alert entered through Jiangshan's API appears in Pucheng's database and in
  Guangfeng's inbox folder; a hit entered in Pucheng's database reaches Jiangshan's
  system; a dispute settled in Guangfeng's export reaches the other two;
* Kafka stopped (every node of a cluster of its own), events entered meanwhile in all
  three systems and an adapter restarted, Kafka restarted: every event arrives, once, in
  order per entity.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from adapters.demo import guangfeng_export, wait_for
from adapters.reference import pucheng_app
from bus.devkafka import LocalKafka
from bus.errors import SilianEnvironmentError
from tests.integration.adapters.agencies import agencies, alert_fields, provision
from tests.kafka import KafkaTarget

pytestmark = pytest.mark.kafka


async def test_every_hop_between_three_adapter_processes(
    kafka: KafkaTarget, tmp_path: Path
) -> None:
    with agencies(tmp_path, kafka.bootstrap) as scene:
        await provision(kafka.bootstrap, tmp_path, replication=3 if kafka.local else 1)
        for name in ("jiangshan", "pucheng", "guangfeng"):
            scene.start(name)
        db = scene.database()
        alert = f"JS-ALERT-{uuid.uuid4().hex[:6].upper()}"
        # 1. an alert through Jiangshan's API → Pucheng's database, Guangfeng's inbox folder
        scene.rest.create("alert", alert_fields(alert))
        row = await wait_for(lambda: db.execute(
            "SELECT division, priority, subject FROM alerts_received WHERE alert_id = ?", (alert,)
        ).fetchone(), timeout=120)  # fmt: skip
        assert row == ("350722", "urgent", "vehicle: 浙H·12345 白色面包车")
        inbox = tmp_path / "guangfeng" / "inbox"
        files = await wait_for(lambda: list(inbox.glob("alert_*.xml")), timeout=60)
        assert alert.encode() in files[0].read_bytes()
        assert (inbox / f"{files[0].name}.done").exists()
        # 2. a hit in Pucheng's database → Jiangshan's case system
        pucheng_app.record_hit(db, alert_id=alert, seen_at="2030-05-06 14:30:00",
                               place="G205国道浦城收费站", action_taken="已跟踪",
                               officer="林警官")  # fmt: skip
        hits = await wait_for(lambda: scene.rest.records("hit"), timeout=60)
        assert hits[0]["data"]["alert_no"] == alert
        assert hits[0]["data"]["seen_at"] == "2030-05-06 14:30"
        assert hits[0]["data"]["reported_by"] == "350722000000"
        # 3. a dispute settled in Guangfeng's export → Jiangshan and Pucheng
        dispute = f"GF-DSP-{uuid.uuid4().hex[:6].upper()}"
        guangfeng_export(tmp_path / "guangfeng" / "outbox", f"20300506-{dispute}.csv", [
            ["纠纷上报", dispute, "山林", "张三", "361103", "村民", "李四", "330881", "村民",
             "361103", "广丰—江山交界处山林", "界址争执"],
            ["调解", dispute, *[""] * 10, "M-1", "2030-05-06 10:00", "达成协议", "按界址图划界"],
            ["调解协议", dispute, *[""] * 14, "按界址图划界", "b" * 64, "否", "2030-05-06 11:00"],
        ])  # fmt: skip
        settled = await wait_for(lambda: scene.rest.records("dispute_settled"), timeout=60)
        assert settled[0]["data"]["dispute_no"] == dispute
        assert settled[0]["data"]["settled_at"] == "2030-05-06 11:00"
        assert await wait_for(lambda: db.execute(
            "SELECT paper_record_sha256 FROM disputes WHERE dispute_id = ?", (dispute,)
        ).fetchone(), timeout=60) == ("b" * 64,)  # fmt: skip
        assert (tmp_path / "guangfeng" / "archive" / f"20300506-{dispute}.csv").exists()
        db.close()


def _health(work: Path, code: str) -> dict[str, Any]:
    path = work / "state" / code / "health.json"
    report: dict[str, Any] = json.loads(path.read_text("utf-8")) if path.exists() else {}
    return report


def _pending(work: Path, code: str) -> int:
    return int(_health(work, code).get("outbox_pending") or 0)


def _unreachable(work: Path, code: str) -> dict[str, Any] | None:
    """The health report once it says the bus is unreachable (after a restart too)."""
    report = _health(work, code)
    bus = report.get("bus") or {}
    return report if bus.get("error") and not bus.get("connected") else None


async def test_kafka_down_events_wait_and_arrive_once_in_order(tmp_path: Path) -> None:
    cluster = LocalKafka(tmp_path / "kafka")  # a cluster of its own: the shared one stays up
    try:
        # LocalKafka's calls are synchronous (they run their own event loop): in a thread
        bootstrap = await asyncio.to_thread(cluster.up, nodes=1, base_port=0)
    except SilianEnvironmentError as error:  # no Java/Maven here: say why
        pytest.skip(f"cannot start a local Kafka: {error}")
    try:
        work = tmp_path / "agencies"
        with agencies(work, bootstrap) as scene:
            await provision(bootstrap, work, replication=1)
            for name in ("jiangshan", "pucheng", "guangfeng"):
                scene.start(name)
            db = scene.database()
            alert = f"JS-ALERT-{uuid.uuid4().hex[:6].upper()}"
            scene.rest.create("alert", alert_fields(alert))
            await wait_for(lambda: db.execute(
                "SELECT 1 FROM alerts_received WHERE alert_id = ?", (alert,)).fetchone(),
                timeout=120)  # fmt: skip

            for node in cluster.nodes:  # Kafka goes away entirely
                await asyncio.to_thread(cluster.kill_node, node.node_id)
            # Jiangshan's report must say so within request_timeout_ms (10 s) + the broker
            # watch's interval (2 s) + a report's second; the rest is room for a busy CI.
            jiangshan_down = asyncio.create_task(
                wait_for(lambda: _unreachable(work, "330881000000"), timeout=60)
            )
            later = [f"{alert}-{n}" for n in range(1, 4)]
            for alert_id in later:
                scene.rest.create("alert", alert_fields(alert_id, priority="一般"))
            for n in range(1, 4):  # three hits on one alert: one entity, in order
                pucheng_app.record_hit(db, alert_id=alert, seen_at=f"2030-05-06 1{n}:00:00",
                                       place=f"卡口{n}", action_taken="已记录",
                                       officer="林警官")  # fmt: skip
            await wait_for(lambda: _pending(work, "350722000000") >= 3, timeout=60)
            assert scene.stop("pucheng") == 0  # an adapter restart while Kafka is down
            scene.start("pucheng")
            pucheng = await wait_for(lambda: _unreachable(work, "350722000000"), timeout=90)
            assert pucheng["outbox_pending"] == 3  # kept across the restart
            await wait_for(lambda: _pending(work, "330881000000") >= 3, timeout=60)
            # Jiangshan's report showed it in time too, whatever its link loop waited in (in
            # some runs an offset commit that waits for the group coordinator to return)
            jiangshan = await jiangshan_down
            assert jiangshan["status"] == "degraded"

            for node in cluster.nodes:  # Kafka returns
                await asyncio.to_thread(cluster.start_node, node.node_id)
            await asyncio.to_thread(cluster.wait_ready, timeout=120)

            hits = await wait_for(lambda: len(scene.rest.records("hit")) >= 3 and
                                  scene.rest.records("hit"), timeout=180)  # fmt: skip
            assert [h["data"]["place"] for h in hits] == [f"卡口{n}（350722）" for n in (1, 2, 3)]
            rows = await wait_for(lambda: len(db.execute(
                "SELECT alert_id FROM alerts_received WHERE alert_id LIKE ?", (f"{alert}-%",)
            ).fetchall()) >= 3 and db.execute(
                "SELECT alert_id FROM alerts_received WHERE alert_id LIKE ? ORDER BY id",
                (f"{alert}-%",)).fetchall(), timeout=120)  # fmt: skip
            # once each (three alerts are three entities: no order between them)
            assert sorted(r for (r,) in rows) == later
            written = work / "state" / "361103000000" / "filedrop-written.txt"
            await wait_for(lambda: written.exists() and
                           len(written.read_text().split()) >= 1 + 3 + 3, timeout=60)  # fmt: skip
            await wait_for(
                lambda: _pending(work, "350722000000") == _pending(work, "330881000000") == 0,
                timeout=60,
            )
            await asyncio.sleep(5)  # once: nothing more arrives after a quiet while
            assert len(scene.rest.records("hit")) == 3
            assert len(scene.rest.inbound()) == 3
            assert len(written.read_text().split()) == 7
            assert db.execute("SELECT count(*) FROM alerts_received").fetchone() == (4,)
            db.close()
    finally:
        await asyncio.to_thread(cluster.down)
