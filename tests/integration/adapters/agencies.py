"""Three `silian agency run` processes against the three reference local systems."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from adapters.demo import AGENCIES, prepare_agencies
from adapters.reference.rest_case_system import RestCaseSystem
from agencies.folder import AgreementFolder
from bus.node.topics import TopicPlan, plan_topics
from bus.transport.kafka import KafkaConfig, KafkaTransport


@dataclass
class Agencies:
    work: Path
    kafka: str
    rest: RestCaseSystem
    federation: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str) -> None:
        log = (self.work / f"{name}.log").open("ab")
        command = [sys.executable, "-m", "bus.cli.main", "--log-format", "json",
                   "agency", "run", "--config", str(self.work / f"{name}.toml"),
                   "--kafka", self.kafka]  # fmt: skip
        env = {**os.environ, "SILIAN_KAFKA_BOOTSTRAP": self.kafka}
        self.processes[name] = subprocess.Popen(command, stdout=log, stderr=log, env=env)
        log.close()

    def stop(self, name: str) -> int:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=60)

    def database(self) -> sqlite3.Connection:
        return sqlite3.connect(self.work / "pucheng.db", isolation_level=None)

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n" + (self.work / f"{name}.log").read_text(errors="replace")[-3000:]
            for name in AGENCIES
            if (self.work / f"{name}.log").exists()
        )


async def provision(kafka: str, work: Path, replication: int) -> None:
    history = AgreementFolder(work / "agreement").history()
    plan = TopicPlan(replication=replication, min_insync_replicas=max(1, replication - 1))
    transport = KafkaTransport(KafkaConfig(bootstrap=kafka, client_id="silian-test"))
    async with transport:
        await transport.ensure_topics(
            plan_topics(history.latest.federation_id, history.latest, plan)
        )


@contextlib.contextmanager
def agencies(work: Path, kafka: str) -> Iterator[Agencies]:
    rest = RestCaseSystem().start()
    federation = f"t-agency-{uuid.uuid4().hex[:8]}"
    prepare_agencies(work, rest_url=rest.url, federation_id=federation)
    scene = Agencies(work=work, kafka=kafka, rest=rest, federation=federation)
    try:
        yield scene
    finally:
        codes = {name: scene.stop(name) for name in list(scene.processes)}
        rest.stop()
        assert all(code == 0 for code in codes.values()), (codes, scene.logs())


def alert_fields(alert_no: str, priority: str = "特急") -> dict[str, str]:
    return {
        "alert_no": alert_no, "subject_type": "车辆", "plate": "浙H·12345",
        "subject_description": "白色面包车", "reason": "涉嫌跨省电信诈骗取款车辆",
        "markers": "逃跑风险", "action_on_hit": "跟踪并通报江山", "priority": priority,
        "area": "330881,350722,361103", "review_at": "2030-05-13 09:00",
    }  # fmt: skip
