"""Poison records on a real Kafka against the real ``silian`` processes an operator runs.

A tombstone, a null header value, a header name that is not UTF-8 and a member's validly
signed but malformed records land on the alert topic between two good events. Before,
any one of them stopped ``serve``, ``watch``, ``audit replay`` and ``audit export`` — and
every restart met it again. Now each process gets through, handles the good events,
refuses the bad ones with a reason, and exits with its verdict.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from bus.sandbox.federation import Federation
from bus.transport.base import OutgoingRecord
from bus.transport.kafka import KafkaConfig, KafkaTransport
from contracts import examples
from contracts.alerts import AlertHit, AlertIssued, AlertUpdated
from contracts.topics import family_topic, quarantine_topic
from tests.hostile import raw_name, send_raw
from tests.integration.bus.craft import craft
from tests.integration.operators import operator_setup

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[3]
JS, PC, GF = examples.JIANGSHAN, examples.PUCHENG, examples.GUANGFENG


def _silian(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bus.cli.main", *argv],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _poison(fed: Federation, alert_id: str) -> list[OutgoingRecord]:
    story = examples.example_story()
    hit = next(e for _, e in story if isinstance(e, AlertHit))

    def signed(**kwargs: object) -> OutgoingRecord:
        event = hit.model_copy(update={"alert_id": alert_id, "hit_id": f"H-{uuid.uuid4().hex[:6]}"})
        return craft(fed, agency=GF, event=event, partitions=6, **kwargs).record  # type: ignore[arg-type]

    good = signed()
    return [
        replace(good, value=None),  # a tombstone
        replace(good, headers=tuple((n, None if n == "ce_time" else v) for n, v in good.headers)),
        replace(good, headers=(*good.headers, (raw_name(b"\xc3\x28"), b"x"))),  # not UTF-8
        signed(seq=str(10**30)),  # validly signed, ce_chainseq beyond any integer
        signed(event_id="not an id!"),  # validly signed, ce_id outside the receipt pattern
        signed(value=b"[" * 50_000 + b"]" * 50_000),  # validly signed, nested 50,000 deep
    ]


def test_every_process_gets_through_poison_records(tmp_path: Path, kafka_bootstrap: str) -> None:
    fed, env = operator_setup(tmp_path, "poison", kafka_bootstrap)
    fed_id = fed.federation_id
    assert _silian(env, "topics", "apply").returncode == 0
    alert_id = "JS-ALERT-POISON"
    story = examples.example_story()
    issued = next(e for _, e in story if isinstance(e, AlertIssued))
    updated = next(e for _, e in story if isinstance(e, AlertUpdated))
    for event, kind in ((issued, "alert.issued"), (None, None), (updated, "alert.updated")):
        if event is None:

            async def inject() -> None:
                config = KafkaConfig(bootstrap=kafka_bootstrap, client_id="poison")
                async with KafkaTransport(config) as transport:
                    await send_raw(transport, *_poison(fed, alert_id))

            asyncio.run(inject())
            continue
        path = tmp_path / f"{kind}.json"
        path.write_text(event.model_copy(update={"alert_id": alert_id}).model_dump_json())
        published = _silian(env, "publish", str(path), "--type", str(kind), "--agency", JS)
        assert published.returncode == 0, published.stderr

    # serve: the good events are handled, the poison quarantined; again after a restart.
    handled = tmp_path / "handled.jsonl"
    for _ in range(2):
        served = _silian(env, "serve", "--once", "--agency", PC, "--handle-log", str(handled))
        assert served.returncode == 0, served.stderr[-2000:]
        assert "Traceback" not in served.stderr
    lines = [json.loads(line) for line in handled.read_text().splitlines()]
    assert [line["ce_type"] for line in lines] == [
        "cn.silian.alert.issued.v1",
        "cn.silian.alert.updated.v1",
    ]  # each handled once, across the restart

    async def quarantined() -> list[str]:
        config = KafkaConfig(bootstrap=kafka_bootstrap, client_id="poison-q")
        async with KafkaTransport(config) as transport:
            consumer = transport.consumer(
                group_id=f"q-{uuid.uuid4().hex[:6]}", topics=[quarantine_topic(fed_id, PC)]
            )
            async with consumer:
                found = await consumer.fetch(timeout=5.0)
        return [
            dict(r.headers)["silian_q_reason"].decode()  # type: ignore[union-attr]
            for r in found
        ]

    kept = asyncio.run(quarantined())
    assert sorted(kept) == sorted(
        ["no-value", "malformed-headers", "malformed-headers", "malformed-headers",
         "malformed-headers", "too-deep"]
    )  # fmt: skip

    # watch: replays the same history and shows every refusal, then exits (caught up).
    watched = _silian(env, "watch", "alerts", "--no-follow", "--json", "--agency", GF)
    assert watched.returncode == 0, watched.stderr[-2000:]
    shown = [json.loads(line) for line in watched.stdout.splitlines()]
    assert sum(1 for line in shown if line.get("outcome") == "quarantined") == 6

    # audit replay, export and offline verification: anomalies, located; exit 1, no crash.
    topic = family_topic(fed_id, issued.family)
    replayed = _silian(env, "audit", "replay", "--only", topic, "--json", "--quiet")
    assert replayed.returncode == 1, replayed.stderr[-2000:]
    report = json.loads(replayed.stdout)
    assert report["records"] == 8
    assert report["counts"]["no-value"] == 1
    assert report["counts"]["too-deep"] == 1
    bundle = tmp_path / "poison.jsonl"
    exported = _silian(env, "audit", "export", "--only", topic, "--out", str(bundle))
    assert exported.returncode == 0, exported.stderr[-2000:]
    verified = _silian(env, "audit", "verify-bundle", str(bundle), "--json", "--quiet")
    assert verified.returncode == 1, verified.stderr[-2000:]
    assert json.loads(verified.stdout)["counts"] == report["counts"]
