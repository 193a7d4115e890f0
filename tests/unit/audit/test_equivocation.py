"""Issue 15, part 4: an issuer that signs two records under one event id is caught, and the
auditor names which record — by its hash — each recipient received.

Jiangshan publishes an alert; then, with its own key, a second, different alert under the
same event id, on another partition. Pucheng reads the partitions in one order, Guangfeng
in the other (as Kafka consumers may): each delivers the record it read first, answers it
with v2 receipts and refuses the other as a duplicate. Jiangshan could now tell either
recipient "you got the other one". The audit, from the topics and from an exported bundle
alike, names both records and which recipient's receipts name which.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from bus.audit.anomaly import Anomaly
from bus.audit.replay import AuditReport, ReplayOptions
from bus.audit.runner import export_bundle, replay_bundle, replay_transport
from bus.audit.source import read_records
from bus.envelope.headers import CONTENT_TYPE_SEALED, GENESIS
from bus.envelope.ids import format_time, now
from bus.envelope.seal import seal
from bus.envelope.signature import decode_headers, sign_record
from bus.node.bus import Bus, BusConfig
from bus.node.results import Delivery, Outcome
from bus.node.topics import TopicPlan, plan_topics
from bus.reasons import Reason
from bus.sandbox.federation import Federation, create_federation
from bus.transport.base import Coordinates, OutgoingRecord, Record
from bus.transport.embedded import EmbeddedTransport
from bus.transport.partitioner import partition_for_key
from contracts import examples
from contracts.alerts import AlertIssued
from contracts.receipts import ReceiptReceivedV2, RecordRef
from contracts.registry import encode
from contracts.topics import family_topics
from contracts.vocab import Handling, HandlingCode, Tlp, WarningMarker

JS, PC, GF = examples.JIANGSHAN, examples.PUCHENG, examples.GUANGFENG
ISSUED = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
# Confidential: sealed for its readers, so the auditor opens neither record (nor needs to).
SEALED = ISSUED.model_copy(update={"handling": Handling(code=HandlingCode.H2, tlp=Tlp.AMBER)})
INLINE = ReplayOptions(workers=1)


@dataclass
class World:
    fed: Federation
    transport: EmbeddedTransport
    buses: dict[str, Bus]
    root: Path

    @property
    def topics(self) -> list[str]:
        return family_topics(self.fed.federation_id)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    fed = create_federation(tmp_path / "fed")
    async with EmbeddedTransport(tmp_path / "bus.sqlite") as transport:
        await transport.ensure_topics(
            plan_topics(fed.federation_id, fed.agreements.latest, TopicPlan())
        )
        async with AsyncExitStack() as stack:
            buses = {}
            for code in (JS, PC, GF):
                bus = Bus(
                    BusConfig(agency=code, federation=fed.federation_id, state_dir=tmp_path / code),
                    transport=transport,
                    agreements=fed.agreements,
                    keystore=fed.keystore,
                )
                buses[code] = await stack.enter_async_context(bus)
            yield World(fed, transport, buses, tmp_path)


async def _stored(world: World, where: Coordinates) -> Record:
    async for batch in read_records(world.transport, [where.topic], idle=0.2):
        for record in batch:
            if record.coordinates == where:
                return record
    raise AssertionError(f"no record at {where}")


async def _second_record_under(
    world: World, first: Record, alert: AlertIssued
) -> tuple[Coordinates, str]:
    """Jiangshan's key signs another alert (armed, another id: another partition) under the
    event id of ``first``, on a chain of its own, as a publisher would; sent as is."""
    attributes, _ = decode_headers(first.headers)
    partitions = (await world.transport.describe_topics([first.topic]))[first.topic].partitions
    alert_id = next(
        f"{ISSUED.alert_id}-{n}"
        for n in range(100)
        if partition_for_key(f"{ISSUED.alert_id}-{n}".encode(), partitions) != first.partition
    )
    other = alert.model_copy(
        update={
            "alert_id": alert_id,
            "warning_markers": (WarningMarker.ESCAPE_RISK, WarningMarker.ARMED),
            "action_on_hit": "发现后立即拦截 / stop the vehicle at once",
        }
    )
    partition = partition_for_key(alert_id.encode(), partitions)
    forged = attributes._replace(
        subject=alert_id,
        time=format_time(now()),
        chainid=f"{JS}.second.{uuid.uuid4().hex[:12]}.p{partition}",
        chainseq="1",
        prevhash=GENESIS,
    )
    value = encode(other)
    if attributes.content_type == CONTENT_TYPE_SEALED:  # sealed for every reader, as A is
        at = now()
        agreement = world.fed.agreements.in_force_at(at)
        readers = {}
        for member in agreement.members:
            found = agreement.sealing_record(member.code, at)
            readers[member.code] = (found.key_id, found.sealing_key())
        value = seal(
            value, readers, event_id=attributes.id, ce_type=attributes.type, topic=first.topic
        )
    headers, record_hash = sign_record(
        topic=first.topic,
        key=alert_id.encode(),
        attributes=forged,
        value=value,
        signing_key=world.fed.keystore.signing_key(attributes.keyid),
    )
    sent = await world.transport.send(
        OutgoingRecord(topic=first.topic, key=alert_id.encode(), value=value, headers=headers)
    )
    return sent, record_hash


async def _handled(delivery: Delivery[AlertIssued]) -> str:
    return "布控 set up"


async def _reads(bus: Bus, records: list[Record]) -> list[tuple[Outcome, Reason | None]]:
    """``bus``'s subscription judges ``records`` in this order (its answers are sent)."""
    sub = bus.subscribe()
    sub.on(AlertIssued)(_handled)
    return [((r := await sub.process(record)).outcome, r.reason) for record in records]


async def _equivocate(world: World, alert: AlertIssued = ISSUED) -> tuple[str, str, str]:
    """The story above, up to the audit: (event id, first record's hash, second's)."""
    told = await world.buses[JS].publish(alert)
    first = await _stored(world, told.coordinates)
    where, second_hash = await _second_record_under(world, first, alert)
    second = await _stored(world, where)
    assert second.partition != first.partition
    # Each recipient reads the two partitions in another order: delivers one, refuses one.
    assert await _reads(world.buses[PC], [first, second]) == [
        (Outcome.DELIVERED, None),
        (Outcome.QUARANTINED, Reason.DUPLICATE),
    ]
    assert await _reads(world.buses[GF], [second, first]) == [
        (Outcome.DELIVERED, None),
        (Outcome.QUARANTINED, Reason.DUPLICATE),
    ]
    return told.event_id, told.hash, second_hash


def _by_kind(report: AuditReport, kind: Reason) -> list[Anomaly]:
    return [a for a in report.anomalies if a.kind is kind]


def _assert_names_who_got_which(
    report: AuditReport, event_id: str, first: str, second: str
) -> None:
    assert [a.kind for a in report.anomalies] == [Reason.EQUIVOCATION], [
        (a.kind, a.detail) for a in report.anomalies
    ]
    (found,) = report.anomalies
    assert (found.event_id, found.agency) == (event_id, JS)
    # Pucheng received (and handled) the first record, Guangfeng the second: by their hashes.
    assert sorted(found.received) == sorted([(PC, first), (GF, second)])
    assert f"record {first} at " in found.detail
    assert f"record {second} at " in found.detail
    assert f"received by {PC} (received, handled)" in found.detail
    assert f"received by {GF} (received, handled)" in found.detail
    assert found.to_json()["received"] == [
        {"recipient": recipient, "record_hash": record_hash}
        for recipient, record_hash in found.received
    ]


async def test_the_auditor_names_which_record_each_recipient_received(world: World) -> None:
    event_id, first, second = await _equivocate(world)
    assert first != second
    report = await replay_transport(
        world.transport,
        world.topics,
        world.fed.agreements,
        federation=world.fed.federation_id,
        options=INLINE,
        idle=0.2,
    )
    _assert_names_who_got_which(report, event_id, first, second)
    # The issuer's own node sees it too: Guangfeng's receipts name a record Jiangshan's
    # ledger does not hold under that id (it holds the first), and are refused.
    answers = world.buses[JS].subscribe()
    async with answers:
        got = await answers.poll(timeout=2)
    refused = {(r.source, r.reason) for r in got if r.outcome is Outcome.QUARANTINED}
    assert refused == {(GF, Reason.RECEIPT_MISMATCH)}


async def test_an_exported_bundle_names_them_too_sealed_or_not(world: World) -> None:
    """Offline, from a bundle read a byte range at a time (the clean ranges taken whole);
    two sealed records the auditor cannot open are told apart by their hashes alike."""
    event_id, first, second = await _equivocate(world, SEALED)
    bundle = world.root / "history.jsonl"
    await export_bundle(
        world.transport,
        world.topics,
        bundle,
        folder=world.fed.write_agreement(world.root / "agreement"),
        federation=world.fed.federation_id,
        idle=0.2,
    )
    report = replay_bundle(bundle, options=INLINE)
    assert report.ranges_whole > 0  # the summaries carried the records and receipts
    _assert_names_who_got_which(report, event_id, first, second)


async def test_a_receipt_naming_no_record_of_its_event_is_flagged(world: World) -> None:
    told = await world.buses[JS].publish(ISSUED)
    named = hashlib.sha256(b"a record nobody published").hexdigest()
    ref = RecordRef(
        ce_source=f"urn:silian:agency:{JS}",
        ce_id=told.event_id,
        ce_type="cn.silian.alert.issued.v1",
        record_hash=named,
    )
    lying = await world.buses[GF].publish(ReceiptReceivedV2(answers=ref, received_at=now()))
    report = await replay_transport(
        world.transport,
        world.topics,
        world.fed.agreements,
        federation=world.fed.federation_id,
        options=INLINE,
        idle=0.2,
    )
    (found,) = _by_kind(report, Reason.RECEIPT_MISMATCH)
    assert len(report.anomalies) == 1
    assert (found.topic, found.partition, found.offset) == (
        lying.topic,
        lying.coordinates.partition,
        lying.coordinates.offset,
    )
    assert (found.agency, found.event_id, found.received) == (GF, lying.event_id, ((GF, named),))
    assert named in found.detail
    assert told.hash in found.detail
