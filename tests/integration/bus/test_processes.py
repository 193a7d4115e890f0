"""Agencies as separate processes over the 3-node Kafka: the full alert lifecycle with
receipts, and a consumer killed with SIGKILL mid-stream that loses nothing and applies
nothing twice."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.pipeline import verify_record
from bus.sandbox.federation import Federation
from bus.transport.base import Record
from bus.transport.kafka import KafkaConfig, KafkaTransport
from contracts import examples
from contracts.alerts import AlertCancelled, AlertExtended, AlertHit, AlertIssued, AlertUpdated
from contracts.base import Family
from contracts.topics import family_topic, quarantine_topic
from tests.integration.operators import operator_setup

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[3]
JS, PC, GF = examples.JIANGSHAN, examples.PUCHENG, examples.GUANGFENG


def _story(kind: type) -> dict[str, object]:
    event = next(e for _, e in examples.example_story() if isinstance(e, kind))
    return json.loads(event.model_dump_json())


class Federated:
    """A federation on disk (keys, agreement folder, state) and ``silian`` runs in it."""

    def __init__(self, root: Path, bootstrap: str) -> None:
        self.root = root
        self.bootstrap = bootstrap
        self.fed: Federation
        self.fed, self.env = operator_setup(root, "proc", bootstrap)
        self.run("topics", "apply", "--replication", "3", "--min-insync", "2")

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "bus.cli.main", *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.argv(*args),
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode in (0, 1), f"silian {' '.join(args)}: {done.stderr}"
        return done

    def publish(self, agency: str, kind: str, event: dict[str, object]) -> str:
        path = self.root / f"{uuid.uuid4().hex}.json"
        path.write_text(json.dumps(event, ensure_ascii=False), encoding="utf-8")
        done = self.run("publish", str(path), "--type", kind, "--agency", agency, "--json")
        assert done.returncode == 0, done.stderr
        return str(json.loads(done.stdout)["event_id"])

    def serve(self, agency: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(
                "serve",
                "--agency",
                agency,
                "--handle-log",
                str(self.root / f"handled-{agency}.jsonl"),
            ),
            env=self.env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def handled(self, agency: str) -> list[dict[str, object]]:
        path = self.root / f"handled-{agency}.jsonl"
        if not path.exists():
            return []
        return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]

    def effects(self, agency: str) -> list[tuple[str, str]]:
        path = self.root / "state" / agency / "effects.sqlite"
        if not path.exists():
            return []
        with sqlite3.connect(path) as db:
            return [(str(a), str(b)) for a, b in db.execute("SELECT ce_source, ce_id FROM effects")]

    def wait_effects(self, agency: str, ids: set[str], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ids <= {i for _, i in self.effects(agency)}:
                return
            time.sleep(0.3)
        missing = ids - {i for _, i in self.effects(agency)}
        raise AssertionError(f"{agency} did not handle {len(missing)} event(s) in {timeout}s")


@pytest.fixture
def world(tmp_path: Path, kafka_bootstrap: str) -> Federated:
    return Federated(tmp_path, kafka_bootstrap)


@pytest.fixture
def services() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _all_records(bootstrap: str, topics: list[str]) -> list[Record]:
    async with KafkaTransport(KafkaConfig(bootstrap=bootstrap)) as transport:
        consumer = transport.consumer(group_id=f"check-{uuid.uuid4().hex[:6]}", topics=topics)
        records: list[Record] = []
        async with consumer:
            quiet = 0
            while quiet < 3:
                batch = await consumer.fetch(timeout=1.0)
                records += batch
                quiet = 0 if batch else quiet + 1
    return records


async def test_two_agencies_in_two_processes_run_the_alert_lifecycle(
    world: Federated, services: list[subprocess.Popen[str]]
) -> None:
    services += [world.serve(JS), world.serve(PC)]
    alert_id = "PROC-ALERT-1"
    issued = world.publish(JS, "alert.issued", {**_story(AlertIssued), "alert_id": alert_id})
    updated = world.publish(JS, "alert.updated", {**_story(AlertUpdated), "alert_id": alert_id})
    world.wait_effects(PC, {issued, updated})
    hit = world.publish(PC, "alert.hit", {**_story(AlertHit), "alert_id": alert_id})
    world.wait_effects(JS, {hit})
    extended = world.publish(JS, "alert.extended", {**_story(AlertExtended), "alert_id": alert_id})
    cancelled = world.publish(
        JS, "alert.cancelled", {**_story(AlertCancelled), "alert_id": alert_id}
    )
    world.wait_effects(PC, {issued, updated, extended, cancelled})

    # Jiangshan's status: Pucheng received and handled each of its four events.
    deadline = time.monotonic() + 60
    while True:
        status = json.loads(world.run("status", "--agency", JS, "--json").stdout)
        rows = {e["event_id"]: e for e in status["events"]}
        answers = {
            eid: {r["agency"]: r["state"] for r in rows[eid]["recipients"]}
            for eid in (issued, updated, extended, cancelled)
            if eid in rows
        }
        if len(answers) == 4 and all(a.get(PC) == "handled" for a in answers.values()):
            break
        assert time.monotonic() < deadline, f"receipts missing: {answers}"
        await asyncio.sleep(0.5)
    assert all(a.get(GF) == "no answer" for a in answers.values())  # Guangfeng runs no service

    # Every record on the wire verifies independently; no agency quarantined anything.
    fed_id = world.fed.federation_id
    records = await _all_records(
        world.bootstrap, [family_topic(fed_id, Family.ALERT), family_topic(fed_id, Family.RECEIPT)]
    )
    assert len(records) >= 5 + 2 * 5  # five events, received + handled for each
    for record in records:
        verify_record(record, world.fed.agreements)
    types = [dict(r.headers)["ce_type"].decode() for r in records]
    assert types.count("cn.silian.receipt.handled.v2") >= 5
    quarantined = await _all_records(
        world.bootstrap, [quarantine_topic(fed_id, JS), quarantine_topic(fed_id, PC)]
    )
    assert quarantined == []


async def test_consumer_killed_mid_stream_loses_nothing_and_applies_nothing_twice(
    world: Federated, services: list[subprocess.Popen[str]]
) -> None:
    count = 150
    batch = [
        {**_story(AlertIssued), "alert_id": f"KILL-{i:04d}", "priority": "routine"}
        for i in range(count)
    ]
    path = world.root / "batch"
    path.mkdir()
    consumer = world.serve(PC)
    services.append(consumer)
    ids: set[str] = set()
    killed = False
    for i, event in enumerate(batch):
        ids.add(world.publish(JS, "alert.issued", event))
        if not killed and len(world.handled(PC)) >= 20:
            consumer.send_signal(signal.SIGKILL)  # no clean shutdown, no final commit
            consumer.wait()
            killed = True
            consumer = world.serve(PC)
            services.append(consumer)
        del i
    assert killed, "the consumer never got going before the batch ended"
    world.wait_effects(PC, ids, timeout=180)
    effects = world.effects(PC)
    mine = [i for s, i in effects if i in ids]
    assert sorted(mine) == sorted(ids)  # every event applied exactly once
    assert len(mine) == len(set(mine)) == count
    # Handler calls beyond one per event happen only for records redelivered after the
    # kill; their effects were idempotent, so the table above still has one row each.
    calls = [h["ce_id"] for h in world.handled(PC) if h["ce_id"] in ids]
    assert set(calls) == ids
