"""Junk on the checkpoints topic, against a witness running as ``silian serve`` on Kafka.

Anyone who can write to the checkpoints topic could once stop every witness: a tombstone
made the witness fail and retry every 5 s forever (nothing was cosigned again), and each
junk note raised an error-level alarm, a published refusal and a refusal-file line. Now
junk is quarantined and counted, the next real checkpoint is cosigned, and an alarm is
left for what deserves one.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bus.tlog.messages import checkpoint_message
from bus.transport.base import OutgoingRecord
from bus.transport.kafka import KafkaConfig, KafkaTransport
from contracts import examples
from contracts.alerts import AlertIssued
from contracts.topics import checkpoints_topic, family_topic, quarantine_topic
from tests.integration.cli.lines import Lines
from tests.integration.operators import operator_setup

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[3]
JS, PC = examples.JIANGSHAN, examples.PUCHENG
JUNK_NOTES = 50


def _silian(*argv: str) -> list[str]:
    return [sys.executable, "-m", "bus.cli.main", *argv]


@pytest.mark.timeout(240)
def test_a_witness_survives_junk_and_still_cosigns(tmp_path: Path, kafka_bootstrap: str) -> None:
    fed, env = operator_setup(tmp_path, "junk", kafka_bootstrap)
    fed_id = fed.federation_id
    subprocess.run(_silian("topics", "apply"), env=env, cwd=REPO, check=True, capture_output=True)
    topic = checkpoints_topic(fed_id)
    origin = f"silian/{family_topic(fed_id, AlertIssued.family)}/0"

    async def junk() -> None:
        records = [OutgoingRecord(topic=topic, key=b"x", value=None)]  # a tombstone
        records += [
            checkpoint_message(
                topic,
                f"junk note {i}\n".encode(),  # headers of a checkpoint, no signed note
                origin=origin,
                size=i + 1,
                keeper=JS,
                proof_from=0,
                proof=[],
            )
            for i in range(JUNK_NOTES)
        ]
        config = KafkaConfig(bootstrap=kafka_bootstrap, client_id="junk")
        async with KafkaTransport(config) as transport:
            for record in records:
                await transport.send(record)

    asyncio.run(junk())
    witness = subprocess.Popen(
        _silian("serve", "--agency", PC),
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    logs = Lines(witness.stderr)
    try:
        logs.wait_for('"serve.ready"', timeout=60)
        # A real alert and a real checkpoint of it, from Jiangshan's log keeper.
        alert = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
        (tmp_path / "alert.json").write_text(alert.model_dump_json(), encoding="utf-8")
        subprocess.run(
            _silian("publish", str(tmp_path / "alert.json"), "--type", "alert.issued",
                    "--agency", JS),
            env=env, cwd=REPO, check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            _silian("serve", "--once", "--log-keeper", "--no-witness", "--agency", JS),
            env=env, cwd=REPO, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        alerts = f"silian/{family_topic(fed_id, AlertIssued.family)}/"
        while True:  # the keeper checkpoints every log that grew: wait for the alerts' one
            line = json.loads(logs.wait_for('"witness.cosigned"', timeout=90))
            if line["origin"].startswith(alerts):
                break
    finally:
        witness.send_signal(signal.SIGTERM)
        witness.wait(timeout=60)
        logs.join()
        if witness.stderr is not None:
            witness.stderr.close()
    lines = [json.loads(line) for line in logs.seen if line.startswith("{")]
    assert [line for line in lines if line["level"] == "error"] == []  # no alarm for junk
    junk_warnings = [line for line in lines if line["event"] == "witness.junk"]
    assert 1 <= len(junk_warnings) <= 2  # counted, said once a minute, not per record
    assert not (tmp_path / "state" / PC / "witness-refusals.jsonl").exists()

    async def quarantined() -> list[str]:
        config = KafkaConfig(bootstrap=kafka_bootstrap, client_id="junk-q")
        async with KafkaTransport(config) as transport:
            consumer = transport.consumer(
                group_id=f"q-{uuid.uuid4().hex[:6]}", topics=[quarantine_topic(fed_id, PC)]
            )
            async with consumer:
                found = []
                while batch := await consumer.fetch(timeout=3.0):
                    found += batch
        return [dict(r.headers)["silian_q_reason"].decode() for r in found]  # type: ignore[union-attr]

    assert asyncio.run(quarantined()) == ["malformed-note"] * (JUNK_NOTES + 1)
