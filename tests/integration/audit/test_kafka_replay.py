"""Replay, export and offline verification against records stored in a real Kafka."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from agencies.keys import KeyAlg
from bus.audit.anomaly import Kind
from bus.audit.replay import ReplayOptions
from bus.audit.runner import export_bundle, replay_bundle, replay_transport
from bus.audit.synthetic import ChainWriter
from bus.envelope.ids import now
from bus.federation import create_federation
from bus.transport.base import OutgoingRecord, Record
from bus.transport.kafka import KafkaConfig, KafkaTransport
from contracts import examples

pytestmark = pytest.mark.kafka

MakeTopic = Callable[..., Awaitable[str]]


def _outgoing(record: Record, topic: str) -> OutgoingRecord:
    return OutgoingRecord(topic=topic, key=record.key, value=record.value, headers=record.headers)


async def test_replay_from_kafka_finds_a_replayed_record_and_exports_a_bundle(
    kafka_bootstrap: str, topic_factory: MakeTopic, tmp_path: Path
) -> None:
    fed = create_federation(tmp_path)
    folder = fed.write_agreement(tmp_path / "agreement")
    # Stamped on append, as every silian topic is (the clock check needs the broker's time).
    topic = await topic_factory(partitions=1, configs={"message.timestamp.type": "LogAppendTime"})
    start = now()
    key_id = fed.keystore.current(examples.PUCHENG, KeyAlg.ED25519, at=start).key_id
    writer = ChainWriter(
        agency=examples.PUCHENG, key_id=key_id, key=fed.keystore.signing_key(key_id)
    )
    meeting = next(e for _, e in examples.example_story() if e.event_type == "liaison.meeting")
    # Signed for the test's own topic: the signature base names the topic the record is on.
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
            federation="jpg",
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
            federation="jpg",
            options=ReplayOptions(workers=1, lifecycle=False),
            idle=2.0,
        )
        assert [(a.kind, a.topic, a.partition, a.offset, a.seq) for a in report.anomalies] == [
            (Kind.DUPLICATE, topic, 0, 20, 8)
        ]
        written, _ = await export_bundle(
            transport, [topic], tmp_path / "bundle.jsonl", folder=folder, federation="jpg", idle=2.0
        )
    assert written == 21
    offline = replay_bundle(
        tmp_path / "bundle.jsonl", options=ReplayOptions(workers=1, lifecycle=False)
    )
    assert [(a.kind, a.offset) for a in offline.anomalies] == [(Kind.DUPLICATE, 20)]
