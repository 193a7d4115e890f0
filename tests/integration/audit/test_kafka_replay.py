"""Replay, export and offline verification against records stored in a real Kafka."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from agencies.keys import KeyAlg
from bus.audit.replay import ReplayOptions
from bus.audit.runner import export_bundle, replay_bundle, replay_transport
from bus.envelope.ids import now
from bus.reasons import Reason
from bus.sandbox.federation import create_federation
from bus.sandbox.synthetic import ChainWriter
from bus.transport.base import OutgoingRecord, Record
from bus.transport.kafka import KafkaConfig, KafkaTransport
from contracts import examples
from contracts.base import Family
from contracts.topics import family_topic
from tests.conftest import create_topic

pytestmark = pytest.mark.kafka


def _outgoing(record: Record, topic: str) -> OutgoingRecord:
    return OutgoingRecord(topic=topic, key=record.key, value=record.value, headers=record.headers)


async def test_replay_from_kafka_finds_a_replayed_record_and_exports_a_bundle(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    fed = create_federation(tmp_path, federation_id=f"replay-{uuid.uuid4().hex[:6]}")
    folder = fed.write_agreement(tmp_path / "agreement")
    # The liaison topic of a federation of the test's own, stamped on append as every
    # silian topic is (the clock check needs the broker's time).
    topic = family_topic(fed.federation_id, Family.LIAISON)
    await create_topic(kafka_bootstrap, topic, configs={"message.timestamp.type": "LogAppendTime"})
    start = now()
    key_id = fed.keystore.current(examples.PUCHENG, KeyAlg.ED25519, at=start).key_id
    writer = ChainWriter(
        agency=examples.PUCHENG,
        key_id=key_id,
        key=fed.keystore.signing_key(key_id),
        federation=fed.federation_id,
    )
    meeting = next(e for _, e in examples.example_story() if e.event_type == "liaison.meeting")
    records = [
        writer.record(
            topic=topic,
            partition=0,
            offset=i,
            key=f"LM-{i}".encode(),
            value=meeting.model_copy(update={"meeting_id": f"LM-{i}"}).model_dump_json().encode(),
            ce_type="cn.silian.liaison.meeting.v1",
            dataschema="urn:silian:schema:liaison.meeting.v1",
            subject=f"LM-{i}",
            handling="H1/TLP:GREEN",
            at=start + timedelta(milliseconds=i),
        )
        for i in range(20)
    ]
    config = KafkaConfig(bootstrap=kafka_bootstrap, client_id="silian-audit-test")
    async with KafkaTransport(config) as transport:
        for record in records:
            await transport.send(_outgoing(record, topic))
        clean = await replay_transport(
            transport,
            [topic],
            fed.agreements,
            federation=fed.federation_id,
            options=ReplayOptions(workers=1, lifecycle=False),
            idle=2.0,
        )
        assert clean.records == 20
        assert clean.clean, [(a.kind, a.detail) for a in clean.anomalies]
        # someone with write access to the topic replays record 7
        await transport.send(_outgoing(records[7], topic))
        report = await replay_transport(
            transport,
            [topic],
            fed.agreements,
            federation=fed.federation_id,
            options=ReplayOptions(workers=1, lifecycle=False),
            idle=2.0,
        )
        assert [(a.kind, a.topic, a.partition, a.offset, a.seq) for a in report.anomalies] == [
            (Reason.DUPLICATE, topic, 0, 20, 8)
        ]
        written, _, _ = await export_bundle(
            transport,
            [topic],
            tmp_path / "bundle.jsonl",
            folder=folder,
            federation=fed.federation_id,
            idle=2.0,
        )
    assert written == 21
    offline = replay_bundle(
        tmp_path / "bundle.jsonl", options=ReplayOptions(workers=1, lifecycle=False)
    )
    assert [(a.kind, a.offset) for a in offline.anomalies] == [(Reason.DUPLICATE, 20)]
