"""Agreement versions go live on a running bus, and what they cure is judged again, once.

Two agencies on the embedded transport, each with its own history, as two machines would
hold them: Guangfeng rotates its key and takes up v2 first; Jiangshan, still on v1,
quarantines Guangfeng's alert (unknown key); v2 reaches Jiangshan over the agreement
topic, and the alert is delivered and answered — once.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from agencies import AgreementHistory, next_agreement, sign_as
from bus.envelope.ids import now
from bus.node.agreements import AgreementFeed, read_version_record, version_record
from bus.node.bus import Bus, BusConfig
from bus.node.quarantine import read_quarantine_headers
from bus.node.rejudge import rejudge_quarantine
from bus.node.results import Outcome
from bus.node.topics import TopicPlan, plan_topics
from bus.reasons import Reason
from bus.sandbox.federation import Federation, create_federation
from bus.transport.base import OutgoingRecord, Record, Transport
from bus.transport.embedded import EmbeddedTransport
from contracts import examples
from contracts.alerts import AlertIssued
from contracts.topics import agreement_topic, quarantine_topic

JIANGSHAN, GUANGFENG = examples.JIANGSHAN, examples.GUANGFENG


@pytest.fixture
async def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    fed = create_federation(tmp_path, now=now() - timedelta(minutes=10))
    transport = EmbeddedTransport(tmp_path / "bus.sqlite")
    await transport.start()
    await transport.ensure_topics(
        plan_topics(fed.federation_id, fed.agreements.latest, TopicPlan())
    )
    yield fed, transport
    await transport.stop()


def _history(fed: Federation) -> AgreementHistory:
    history = AgreementHistory()
    history.add(
        fed.document, [sign_as(fed.document, signer=c, keystore=fed.keystore) for c in fed.members]
    )
    return history


def _bus(
    fed: Federation, transport: Transport, tmp_path: Path, agency: str, history: AgreementHistory
) -> Bus:
    return Bus(
        BusConfig(agency=agency, federation=fed.federation_id, state_dir=tmp_path / agency),
        transport=transport,
        agreements=history,
        keystore=fed.keystore,
    )


def _v2_rotating_guangfeng(fed: Federation) -> tuple[bytes, list]:  # type: ignore[type-arg]
    rotated_at = now() - timedelta(minutes=5)
    fed.keystore.rotate(GUANGFENG, now=rotated_at)
    document, unsigned = next_agreement(
        fed.document, fed.keystore, rotated_at, effective_from=rotated_at
    )
    return document, [sign_as(document, signer=c, keystore=fed.keystore) for c in unsigned]


async def _quarantined(transport: Transport, fed: Federation, agency: str) -> list[Record]:
    consumer = transport.consumer(
        group_id=f"reader-{agency}", topics=[quarantine_topic(fed.federation_id, agency)]
    )
    async with consumer:
        return await consumer.fetch(timeout=0.5)


async def test_a_record_refused_for_an_unknown_key_is_delivered_once_when_the_version_arrives(  # type: ignore[no-untyped-def]
    setup, tmp_path: Path
) -> None:
    fed, transport = setup
    alert = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    mine, theirs = _history(fed), _history(fed)
    v2, signatures = _v2_rotating_guangfeng(fed)
    async with (
        _bus(fed, transport, tmp_path, JIANGSHAN, mine) as js,
        _bus(fed, transport, tmp_path, GUANGFENG, theirs) as gf,
    ):
        old_key = gf.context.signing_key(now())[0]
        theirs.add(v2, signatures)  # Guangfeng holds v2: it signs with its new key by itself
        new_key = gf.context.signing_key(now())[0]
        assert new_key != old_key
        await gf.publish(alert.model_copy(update={"alert_id": "JPG-2026-LIVE-1"}))

        sub = js.subscribe()
        handled: list[str] = []

        @sub.on(AlertIssued)
        async def on_alert(delivery) -> str:  # type: ignore[no-untyped-def]
            handled.append(delivery.event_id)
            return "布控 set up"

        async with sub:
            first = await sub.poll(timeout=2)
            assert [(r.outcome, r.reason) for r in first] == [
                (Outcome.QUARANTINED, Reason.UNKNOWN_KEY)
            ]
            assert "not declared in jpg v1" in (first[0].detail or "")
            # Before v2 arrives, a pass judges it again and leaves it: still unknown.
            early = await rejudge_quarantine(js.context, sub)
            assert (early.results, early.still_curable) == ((), 1)
            assert len(await _quarantined(transport, fed, JIANGSHAN)) == 1  # no second copy

            # Guangfeng's service puts v2 on the agreement topic; Jiangshan's feed takes it up.
            await AgreementFeed(
                transport=transport, federation=fed.federation_id, agency=GUANGFENG, history=theirs
            ).publish([(v2, tuple(signatures))])
            feed = AgreementFeed(
                transport=transport, federation=fed.federation_id, agency=JIANGSHAN, history=mine
            )
            async with feed:
                taken = await feed.catch_up(within=5)
            assert [a.version for a in taken.added] == [2]
            assert mine.latest.version == 2

            done = await rejudge_quarantine(js.context, sub)
            assert [(r.outcome, r.source) for r in done.results] == [(Outcome.DELIVERED, GUANGFENG)]
            assert handled == [done.results[0].event_id]
            again = await rejudge_quarantine(js.context, sub)  # exactly once
            assert (again.results, again.still_curable) == ((), 0)
            assert len(handled) == 1
        # Answered: Guangfeng's store learns Jiangshan received and handled it.
        gf_sub = gf.subscribe()
        async with gf_sub:
            await gf_sub.poll(timeout=2)
        answer = [r for r in await gf.store.receipts() if r.recipient == JIANGSHAN]
        assert answer
        assert answer[0].handled_at is not None


async def test_a_forged_or_broken_version_on_the_topic_is_refused_kept_and_changes_nothing(  # type: ignore[no-untyped-def]
    setup, tmp_path: Path
) -> None:
    fed, transport = setup
    history = _history(fed)
    v2, signatures = _v2_rotating_guangfeng(fed)
    topic = agreement_topic(fed.federation_id)
    # v2 with one member's signature missing, junk, and a tombstone.
    await transport.send(version_record(fed.federation_id, v2, signatures[:-1], version=2))
    await transport.send(OutgoingRecord(topic=topic, key=b"v2", value=b'{"format": "nope"}'))
    await transport.send(OutgoingRecord(topic=topic, key=b"v2", value=None))
    feed = AgreementFeed(
        transport=transport, federation=fed.federation_id, agency=JIANGSHAN, history=history
    )
    async with feed:
        taken = await feed.catch_up(within=5)
    assert taken.added == ()
    assert len(taken.refused) == 3
    assert "has not signed" in taken.refused[0]
    assert taken.refused[0].endswith(f"(member {GUANGFENG})")
    assert "not a silian-agreement-version-v1 record" in taken.refused[1]
    assert "tombstone" in taken.refused[2]
    assert history.latest.version == 1  # the service keeps the version it had
    kept = await _quarantined(transport, fed, JIANGSHAN)
    reasons = [read_quarantine_headers(r) for r in kept]
    assert [q.reason for q in reasons if q is not None] == [Reason.BAD_AGREEMENT] * 3
    # Junk under v2 does not stop the real v2 from going on the topic, nor from being taken up.
    theirs = _history(fed)
    theirs.add(v2, signatures)
    sender = AgreementFeed(
        transport=transport, federation=fed.federation_id, agency=GUANGFENG, history=theirs
    )
    async with sender:
        await sender.catch_up(within=5)
        assert await sender.publish([(v2, tuple(signatures))]) == [2]
    feed = AgreementFeed(
        transport=transport, federation=fed.federation_id, agency=JIANGSHAN, history=history
    )
    async with feed:
        taken = await feed.catch_up(within=5)
    assert [a.version for a in taken.added] == [2]


def test_a_version_record_round_trips_its_exact_bytes(tmp_path: Path) -> None:
    fed = create_federation(tmp_path)
    signatures = [sign_as(fed.document, signer=c, keystore=fed.keystore) for c in fed.members]
    out = version_record(fed.federation_id, fed.document, signatures, version=1)
    assert out.key == b"v1"
    assert json.loads(out.value or b"")["format"] == "silian-agreement-version-v1"
    record = Record(
        topic=out.topic,
        partition=0,
        offset=0,
        key=out.key,
        value=out.value,
        headers=out.headers,
        timestamp_ms=0,
    )
    version, document, back = read_version_record(record)
    assert (version, document) == (1, fed.document)
    assert sorted(s.signer for s in back) == sorted(fed.members)
