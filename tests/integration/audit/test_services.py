"""Three agencies run ``silian serve`` on Kafka: one keeps the Merkle log, the two others
witness it. Checkpoints are published and cosigned; a second checkpoint of the same size
signed with the log's key is refused by both witnesses and flagged by the auditor."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agencies.keys import KeyAlg
from bus.audit.source import read_records
from bus.envelope.ids import now
from bus.tlog.checkpoint import Checkpoint, NoteSigner, SignedNote
from bus.tlog.messages import NoteKind, NoteMessage, checkpoint_message, read_message
from bus.transport.kafka import KafkaConfig, KafkaTransport
from contracts import examples
from contracts.topics import checkpoints_topic
from tests.integration.operators import operator_setup

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[3]
JS, PC, GF = examples.JIANGSHAN, examples.PUCHENG, examples.GUANGFENG


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _messages(bootstrap: str, topic: str) -> list[NoteMessage]:
    async with KafkaTransport(KafkaConfig(bootstrap=bootstrap)) as transport:
        found = []
        async for batch in read_records(transport, [topic], idle=1.0):
            found += [m for m in map(read_message, batch) if m is not None]
    return found


async def _wait(bootstrap: str, topic: str, done: object, what: str) -> list[NoteMessage]:
    deadline = time.monotonic() + 120
    while True:
        messages = await _messages(bootstrap, topic)
        if done(messages):  # type: ignore[operator]
            return messages
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {messages}"
        await asyncio.sleep(1.0)


def _serve(code: str, extra: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bus.cli.main", "serve", "--agency", code, *extra],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _body(message: NoteMessage) -> Checkpoint:
    return Checkpoint.parse_body(SignedNote.parse(message.value).text)


async def test_witnesses_cosign_the_keepers_checkpoints_and_refuse_a_split_view(
    tmp_path: Path, kafka_bootstrap: str, processes: list[subprocess.Popen[bytes]]
) -> None:
    fed, env = operator_setup(tmp_path, "aud", kafka_bootstrap)

    def silian(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bus.cli.main", *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            timeout=180,
        )

    assert silian("topics", "apply").returncode == 0
    for code in fed.members:
        extra = ["--log-keeper", "--checkpoint-interval", "1"] if code == JS else []
        processes.append(_serve(code, extra, env, tmp_path / f"serve-{code}.log"))
    meeting = json.loads(
        next(
            e for _, e in examples.example_story() if e.event_type == "liaison.meeting"
        ).model_dump_json()
    )
    for i, code in enumerate((JS, PC, GF, JS)):
        path = tmp_path / f"meeting-{i}.json"
        path.write_text(json.dumps({**meeting, "meeting_id": f"LM-AUD-{i}"}), "utf-8")
        done = silian("publish", str(path), "--type", "liaison.meeting", "--agency", code)
        assert done.returncode == 0, done.stderr

    topic = checkpoints_topic(fed.federation_id)

    def cosigned_by_both(messages: list[NoteMessage]) -> bool:
        checkpoints = {(m.origin, m.size) for m in messages if m.kind is NoteKind.CHECKPOINT}
        cosigned = {(m.origin, m.size, m.agency) for m in messages if m.kind is NoteKind.COSIGNED}
        return len(checkpoints) >= 2 and all(
            (o, s, w) in cosigned for o, s in checkpoints for w in (PC, GF)
        )

    messages = await _wait(kafka_bootstrap, topic, cosigned_by_both, "cosignatures")
    assert {m.agency for m in messages if m.kind is NoteKind.CHECKPOINT} == {JS}
    assert not [m for m in messages if m.kind is NoteKind.REFUSAL]

    # The log's own key signs a second, different checkpoint of a size already cosigned.
    honest = _body(next(m for m in messages if m.kind is NoteKind.COSIGNED))
    forged = Checkpoint(origin=honest.origin, size=honest.size, root=bytes(range(32)))
    key_id = fed.keystore.current(JS, KeyAlg.ED25519, at=now()).key_id
    note = NoteSigner(honest.origin, fed.keystore.signing_key(key_id)).sign_checkpoint(forged)
    async with KafkaTransport(KafkaConfig(bootstrap=kafka_bootstrap)) as transport:
        await transport.send(
            checkpoint_message(
                topic,
                note.to_bytes(),
                origin=forged.origin,
                size=forged.size,
                keeper=JS,
                proof_from=forged.size,
                proof=[],
            )
        )

    def refused_by_both(messages: list[NoteMessage]) -> bool:
        return {m.agency for m in messages if m.kind is NoteKind.REFUSAL} == {PC, GF}

    messages = await _wait(kafka_bootstrap, topic, refused_by_both, "refusals")
    refusals = [m for m in messages if m.kind is NoteKind.REFUSAL]
    assert {(m.origin, m.size, m.refusal()["reason"]) for m in refusals} == {
        (forged.origin, forged.size, "split-view")
    }
    assert not [m for m in messages if m.kind is NoteKind.COSIGNED and _body(m) == forged]
    for code in (PC, GF):
        log_text = (tmp_path / f"serve-{code}.log").read_text("utf-8")
        assert "witness.refused" in log_text
        assert "SPLIT VIEW" in log_text
        refusal = json.loads((tmp_path / "state" / code / "witness-refusals.jsonl").read_text())
        assert refusal["reason"] == "split-view"
        assert refusal["origin"] == forged.origin

    audit = silian(
        "audit", "replay", "--bootstrap", kafka_bootstrap, "--log-keeper", JS, "--json", "--quiet"
    )
    assert audit.returncode == 1, audit.stderr
    report = json.loads(audit.stdout)
    _, audited_topic, partition = forged.origin.split("/")
    found = sorted((a["kind"], a["topic"], a["partition"]) for a in report["anomalies"])
    assert found == [
        ("checkpoint-mismatch", audited_topic, int(partition)),
        ("split-view", audited_topic, int(partition)),
    ], report["anomalies"]
    assert report["checkpoints_matched"] >= 1
