"""Bad input, on both transports (the embedded one and real Kafka): each bad record is
quarantined with a specific reason, never reaches a handler, and the valid records around
it are delivered in order — whatever its bytes: a tombstone, null or non-UTF-8 headers, a
record too large to copy, a validly signed record with hostile fields."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agencies.keys import KeyAlg, SigningKey
from agencies.templates import next_agreement, sign_as
from bus.envelope.ids import now
from bus.node.bus import Bus, BusConfig
from bus.node.quarantine import read_quarantine_headers
from bus.node.results import Delivery, Outcome, Result
from bus.node.topics import TopicPlan, plan_topics
from bus.reasons import Reason
from bus.sandbox.federation import Federation, create_federation
from bus.transport.base import OutgoingRecord, Record, TopicSpec, Transport
from bus.transport.embedded import EmbeddedTransport
from bus.transport.kafka import KafkaConfig, KafkaTransport
from contracts.alerts import AlertHit, AlertIssued, AlertUpdated
from contracts.base import EventModel
from contracts.cases import CaseNote, CaseOpened
from contracts.disputes import DisputeReported
from contracts.examples import example_story
from contracts.patrols import PatrolPlanned
from contracts.topics import quarantine_topic
from tests.hostile import raw_name, send_raw
from tests.integration.bus.craft import craft, with_header

JS, PC, GF = "330881000000", "350722000000", "361103000000"
TANSHI, XINDU, TRIBUNAL = "330881510000", "330822510000", "330881610000"
CASE = "T-CASE-1"


def _story(kind: type[EventModel]) -> EventModel:
    return next(e for _, e in example_story() if isinstance(e, kind))


def _with(event: EventModel, **changes: object) -> EventModel:
    return type(event).model_validate({**event.model_dump(), **changes})


@dataclass
class World:
    fed: Federation
    transport: Transport
    root: Path

    def bus(self, agency: str) -> Bus:
        return Bus(
            BusConfig(
                agency=agency, federation=self.fed.federation_id, state_dir=self.root / agency
            ),
            transport=self.transport,
            agreements=self.fed.agreements,
            keystore=self.fed.keystore,
        )


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Transport:
    """Each test runs on the embedded transport and on a real Kafka."""
    if request.param == "kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        return KafkaTransport(KafkaConfig(bootstrap=bootstrap, client_id="bad-input"))
    return EmbeddedTransport(tmp_path / "embedded.sqlite")


async def _world(transport: Transport, root: Path, template: str) -> AsyncIterator[World]:
    fed = create_federation(
        root, template=template, federation_id=f"bad-{template}-{uuid.uuid4().hex[:6]}"
    )
    await transport.start()
    await transport.ensure_topics(
        plan_topics(
            fed.federation_id, fed.agreements.latest, TopicPlan(family_partitions=3), cases=(CASE,)
        )
    )
    yield World(fed, transport, root)
    await transport.stop()


@pytest.fixture
async def jpg(transport: Transport, tmp_path: Path) -> AsyncIterator[World]:
    async for world in _world(transport, tmp_path, "jpg"):
        yield world


@pytest.fixture
async def sanshan(transport: Transport, tmp_path: Path) -> AsyncIterator[World]:
    async for world in _world(transport, tmp_path, "sanshan"):
        yield world


async def _consume(
    world: World,
    reader: str,
    want: int,
    *,
    topics: Sequence[str] | None = None,
    cases: Sequence[str] = (),
) -> tuple[list[Result], list[str]]:
    """Run ``reader``'s pipeline until ``want`` records were dealt with; handled ids too."""
    handled: list[str] = []
    async with world.bus(reader) as bus:
        sub = bus.subscribe(group=f"{reader}-{uuid.uuid4().hex[:6]}", topics=topics, cases=cases)

        async def handler(delivery: Delivery[EventModel]) -> str:
            handled.append(delivery.event_id)
            return "ok"

        for model in (
            AlertIssued,
            AlertUpdated,
            AlertHit,
            CaseOpened,
            CaseNote,
            DisputeReported,
            PatrolPlanned,
        ):
            sub.on(model)(handler)
        results: list[Result] = []
        async with sub:
            for _ in range(60):
                results += [
                    r
                    for r in await sub.poll(timeout=1.0)
                    if r.ce_type is None or "receipt" not in r.ce_type
                ]
                if len(results) >= want:
                    break
    return results, handled


async def _quarantined(world: World, agency: str) -> list[Record]:
    consumer = world.transport.consumer(
        group_id=f"q-{uuid.uuid4().hex[:6]}",
        topics=[quarantine_topic(world.fed.federation_id, agency)],
    )
    async with consumer:
        return await consumer.fetch(timeout=5.0)


async def _sandwich(
    world: World, bad: Sequence[OutgoingRecord], reason: Reason, *, count: int | None = None
) -> None:
    """Valid alert.issued, the bad record(s), valid alert.updated — all on one alert key."""
    issued = _with(_story(AlertIssued), alert_id="T-ALERT-1")
    updated = _with(_story(AlertUpdated), alert_id="T-ALERT-1")
    async with world.bus(JS) as js:
        first = await js.publish(issued)
        await send_raw(world.transport, *bad)
        last = await js.publish(updated)
    results, handled = await _consume(world, PC, 2 + len(bad))
    outcomes = [(r.outcome, r.reason) for r in results]
    expected_bad = count if count is not None else len(bad)
    assert outcomes[0] == (Outcome.DELIVERED, None)
    assert outcomes[-1] == (Outcome.DELIVERED, None)
    assert [o for o in outcomes[1:-1] if o[0] is Outcome.QUARANTINED] == [
        (Outcome.QUARANTINED, reason)
    ] * expected_bad
    assert handled[0] == first.event_id
    assert handled[-1] == last.event_id  # the stream kept flowing, in order
    kept = await _quarantined(world, PC)
    assert len(kept) == expected_bad
    first = read_quarantine_headers(kept[0])
    assert first is not None
    assert first.reason is reason
    last = read_quarantine_headers(kept[-1])
    assert last is not None
    if last.copy:  # the original bytes are kept (a record too large to copy: its reference)
        assert kept[-1].value in {r.value for r in bad}


def _hit(world: World, **kwargs: object) -> OutgoingRecord:
    event = _with(_story(AlertHit), alert_id="T-ALERT-1", hit_id=f"H-{uuid.uuid4().hex[:6]}")
    return craft(
        world.fed,
        agency=PC if "agency" not in kwargs else str(kwargs.pop("agency")),
        event=event,
        **kwargs,
    ).record  # type: ignore[arg-type]


async def test_missing_header(jpg: World) -> None:
    await _sandwich(
        jpg, [with_header(_hit(jpg, agency=GF), "ce_id", None)], Reason.MALFORMED_HEADERS
    )


async def test_garbled_header(jpg: World) -> None:
    await _sandwich(
        jpg,
        [with_header(_hit(jpg, agency=GF), "ce_time", b"\xff\xfe\x00")],
        Reason.MALFORMED_HEADERS,
    )


async def test_value_not_json(jpg: World) -> None:
    await _sandwich(jpg, [_hit(jpg, agency=GF, value=b"{not json")], Reason.NOT_JSON)


async def test_unknown_event_type_and_version(jpg: World) -> None:
    await _sandwich(
        jpg,
        [
            _hit(jpg, agency=GF, ce_type="cn.silian.alert.teleported.v1"),
            _hit(jpg, agency=GF, ce_type="cn.silian.alert.hit.v7"),
        ],
        Reason.UNKNOWN_TYPE,
    )


async def test_schema_invalid_data(jpg: World) -> None:
    await _sandwich(
        jpg, [_hit(jpg, agency=GF, value=b'{"alert_id": "T-ALERT-1"}')], Reason.SCHEMA_INVALID
    )


async def test_signature_by_unknown_key(jpg: World) -> None:
    stranger = SigningKey.generate()
    await _sandwich(
        jpg,
        [_hit(jpg, agency=GF, signer=stranger, key_id=stranger.public_key.key_id(GF))],
        Reason.UNKNOWN_KEY,
    )


async def _next_version(world: World, when: datetime) -> None:
    document, members = next_agreement(
        world.fed.document, world.fed.keystore, when, effective_from=when
    )
    world.fed.agreements.add(
        document, [sign_as(document, signer=m, keystore=world.fed.keystore) for m in members]
    )


async def test_signature_by_revoked_key(jpg: World) -> None:
    old = jpg.fed.keystore.current(GF, KeyAlg.ED25519, at=now())
    revoked_at = now() - timedelta(seconds=30)
    jpg.fed.keystore.revoke(GF, now=revoked_at, reason="laptop stolen")
    jpg.fed.keystore.new(GF, now=revoked_at)
    await _next_version(jpg, revoked_at)
    stolen = jpg.fed.keystore.signing_key(old.key_id)
    await _sandwich(
        jpg, [_hit(jpg, agency=GF, signer=stolen, key_id=old.key_id)], Reason.KEY_REVOKED
    )


async def test_signature_by_key_outside_its_window(jpg: World) -> None:
    old = jpg.fed.keystore.current(GF, KeyAlg.ED25519, at=now())
    rotated_at = now() - timedelta(seconds=30)
    jpg.fed.keystore.rotate(GF, now=rotated_at)
    await _next_version(jpg, rotated_at)
    retired = jpg.fed.keystore.signing_key(old.key_id)
    await _sandwich(
        jpg, [_hit(jpg, agency=GF, signer=retired, key_id=old.key_id)], Reason.KEY_OUT_OF_WINDOW
    )


async def test_valid_signature_with_altered_header(jpg: World) -> None:
    record = _hit(jpg, agency=GF)
    await _sandwich(jpg, [with_header(record, "ce_priority", b"urgent")], Reason.BAD_SIGNATURE)


async def test_altered_value(jpg: World) -> None:
    record = _hit(jpg, agency=GF)
    altered = OutgoingRecord(
        topic=record.topic,
        key=record.key,
        value=record.value.replace(b"PC-HIT", b"PC-HIX").replace(b"H-", b"X-"),
        headers=record.headers,
    )
    assert altered.value != record.value
    await _sandwich(jpg, [altered], Reason.BAD_SIGNATURE)


async def test_replayed_duplicate(jpg: World) -> None:
    record = _hit(jpg, agency=GF)
    # The original is delivered; the byte-for-byte copy is the replay.
    await _sandwich(jpg, [record, record], Reason.DUPLICATE, count=1)


async def test_sequence_gap(jpg: World) -> None:
    chain = f"{GF}.craft.gap.p0"
    first = craft(
        jpg.fed,
        agency=GF,
        chain_id=chain,
        seq=1,
        event=_with(_story(AlertHit), alert_id="T-ALERT-1", hit_id="H-1"),
    )
    third = craft(
        jpg.fed,
        agency=GF,
        chain_id=chain,
        seq=3,
        prevhash="ab" * 32,
        event=_with(_story(AlertHit), alert_id="T-ALERT-1", hit_id="H-3"),
    )
    await _sandwich(jpg, [first.record, third.record], Reason.SEQUENCE_GAP, count=1)


async def test_publisher_not_allowed_for_family(sanshan: World) -> None:
    patrol = _with(
        _story(PatrolPlanned), patrol_id="T-PATROL-1", agencies=[TANSHI, XINDU, TRIBUNAL]
    )
    bad = craft(sanshan.fed, agency=TRIBUNAL, event=patrol).record
    good = _with(_story(DisputeReported), dispute_id="T-DSP-1")
    async with sanshan.bus(TANSHI) as tanshi:
        await sanshan.transport.send(bad)
        await tanshi.publish(good)
    results, handled = await _consume(sanshan, XINDU, 2)
    by_type = {r.ce_type: r for r in results}
    assert by_type["cn.silian.patrol.planned.v1"].reason is Reason.NOT_PERMITTED
    assert "partner" in (by_type["cn.silian.patrol.planned.v1"].detail or "")
    assert by_type["cn.silian.dispute.reported.v1"].outcome is Outcome.DELIVERED
    assert len(handled) == 1


async def test_partner_never_receives_intelligence(sanshan: World) -> None:
    alert = _with(_story(AlertIssued), alert_id="T-ALERT-9", area=["330881"])
    dispute = _with(_story(DisputeReported), dispute_id="T-DSP-2")
    async with sanshan.bus(TANSHI) as tanshi:
        await tanshi.publish(alert)
        await tanshi.publish(dispute)
        topics = [tanshi.readable_topics()[0]]
    # A partner whose consumer was (wrongly) pointed at the alert topic.
    alert_topic = f"silian.{sanshan.fed.federation_id}.alert.v1"
    dispute_topic = f"silian.{sanshan.fed.federation_id}.dispute.v1"
    assert alert_topic in topics
    results, handled = await _consume(sanshan, TRIBUNAL, 2, topics=[alert_topic, dispute_topic])
    by_type = {r.ce_type: r for r in results}
    assert by_type["cn.silian.alert.issued.v1"].reason is Reason.NOT_PERMITTED
    assert by_type["cn.silian.dispute.reported.v1"].outcome is Outcome.DELIVERED
    assert len(handled) == 1


async def test_non_member_posting_on_a_case_topic(jpg: World) -> None:
    opened = _with(_story(CaseOpened), case_id=CASE, invited=[PC])
    intruder = craft(
        jpg.fed, agency=GF, event=_with(_story(CaseNote), case_id=CASE, note_id="N-X")
    ).record
    async with jpg.bus(JS) as js:
        await js.publish(opened)
        await jpg.transport.send(intruder)
        last = await js.publish(_with(_story(CaseNote), case_id=CASE, note_id="N-2"))
    results, handled = await _consume(jpg, PC, 3, topics=[], cases=[CASE])
    assert [(r.outcome, r.reason) for r in results] == [
        (Outcome.DELIVERED, None),
        (Outcome.QUARANTINED, Reason.NOT_A_MEMBER),
        (Outcome.DELIVERED, None),
    ]
    assert handled[-1] == last.event_id


async def test_oversized_value(jpg: World) -> None:
    huge = b'{"alert_id": "T-ALERT-1", "pad": "' + b"x" * 600_000 + b'"}'
    await _sandwich(jpg, [_hit(jpg, agency=GF, value=huge)], Reason.OVERSIZED)


# -- records no well-behaved publisher makes: any of them once stopped a consumer for good --


async def test_tombstone(jpg: World) -> None:
    hit = _hit(jpg, agency=GF)
    await _sandwich(jpg, [replace(hit, value=None)], Reason.NO_VALUE)


async def test_null_header_values(jpg: World) -> None:
    # A signed header with a null value is malformed; an unsigned one is ignored, as any
    # unsigned header is: that record is delivered.
    hit = _hit(jpg, agency=GF)
    signed_null = replace(
        hit, headers=tuple((n, None if n == "ce_id" else v) for n, v in hit.headers)
    )
    fine = _hit(jpg, agency=GF)
    unsigned_null = replace(fine, headers=(*fine.headers, ("x-note", None)))
    issued = _with(_story(AlertIssued), alert_id="T-ALERT-1")
    async with jpg.bus(JS) as js:
        await js.publish(issued)
        await send_raw(jpg.transport, signed_null, unsigned_null)
    results, handled = await _consume(jpg, PC, 3)
    assert [(r.outcome, r.reason) for r in results] == [
        (Outcome.DELIVERED, None),
        (Outcome.QUARANTINED, Reason.MALFORMED_HEADERS),
        (Outcome.DELIVERED, None),
    ]
    assert "null" in (results[1].detail or "")
    assert len(handled) == 2


async def test_header_name_not_utf8(jpg: World) -> None:
    bad = _hit(jpg, agency=GF)
    bad = replace(bad, headers=(*bad.headers, (raw_name(b"\xff\xfe-x"), b"1")))
    issued = _with(_story(AlertIssued), alert_id="T-ALERT-1")
    updated = _with(_story(AlertUpdated), alert_id="T-ALERT-1")
    async with jpg.bus(JS) as js:
        await js.publish(issued)
        await send_raw(jpg.transport, bad)
        await js.publish(updated)
    results, handled = await _consume(jpg, PC, 3)
    assert [(r.outcome, r.reason) for r in results] == [
        (Outcome.DELIVERED, None),
        (Outcome.QUARANTINED, Reason.MALFORMED_HEADERS),
        (Outcome.DELIVERED, None),
    ]
    assert "not UTF-8" in (results[1].detail or "")
    assert len(handled) == 2
    # No client can write such a name again: it is kept by reference, not by copy.
    (kept,) = await _quarantined(jpg, PC)
    q = read_quarantine_headers(kept)
    assert q is not None
    assert q.copy is False
    assert q.reason is Reason.MALFORMED_HEADERS
    assert json.loads(kept.value or b"")["offset"] == results[1].coordinates.offset


async def test_a_record_too_large_to_copy_is_quarantined_by_reference(jpg: World) -> None:
    # Under the request limit itself, but its copy with the quarantine headers is not.
    big = _hit(jpg, agency=GF, value=b'{"pad": "' + b"x" * 1_047_800 + b'"}')
    await _sandwich(jpg, [big], Reason.OVERSIZED)
    (kept,) = await _quarantined(jpg, PC)
    q = read_quarantine_headers(kept)
    assert q is not None
    assert q.copy is False
    reference = json.loads(kept.value or b"")
    assert reference["value_bytes"] == len(big.value or b"")
    assert reference["value_sha256"] == hashlib.sha256(big.value or b"").hexdigest()


async def test_producer_stamped_time(jpg: World) -> None:
    """A topic switched to CreateTime must not let a record's own clock through: a record
    50 minutes ahead, its broker timestamp set by its producer to match, is refused."""
    topic = f"silian.{jpg.fed.federation_id}.alert.v1"
    changes = await jpg.transport.ensure_topics(
        [
            TopicSpec(
                name=topic,
                partitions=3,
                replication=1,
                configs={"message.timestamp.type": "CreateTime"},
            )
        ]
    )
    assert changes.reconfigured
    ahead = now() + timedelta(minutes=50)
    early = craft(
        jpg.fed,
        agency=GF,
        event=_with(_story(AlertHit), alert_id="T-ALERT-1", hit_id="H-AHEAD"),
        at=ahead,
    ).record
    await send_raw(jpg.transport, replace(early, timestamp_ms=int(ahead.timestamp() * 1000)))
    results, handled = await _consume(jpg, PC, 1)
    assert [(r.outcome, r.reason) for r in results] == [
        (Outcome.QUARANTINED, Reason.UNTRUSTED_TIME)
    ]
    assert handled == []


async def test_non_member_signer(jpg: World) -> None:
    stranger, code = SigningKey.generate(), "330822000000"  # Changshan: not in jpg
    record = craft(
        jpg.fed,
        agency=code,
        event=_with(_story(AlertHit), alert_id="T-ALERT-1", hit_id="H-STRANGER"),
        signer=stranger,
        key_id=stranger.public_key.key_id(code),
    ).record
    await _sandwich(jpg, [record], Reason.NOT_A_MEMBER)


# -- validly signed by a member, hostile all the same: refused and attributed to the signer --


_SEAL_HEAD = b'{"v": 1, "alg": "A256GCM", "nonce": "AA==", "ciphertext": "AA==", '


def _signed(world: World, **kwargs: object) -> OutgoingRecord:
    event = _with(_story(AlertHit), alert_id="T-ALERT-1", hit_id=f"H-{uuid.uuid4().hex[:6]}")
    return craft(world.fed, agency=GF, event=event, **kwargs).record  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("hostile", "reason"),
    [
        ({"event_id": "not an id!"}, Reason.MALFORMED_HEADERS),  # outside the receipt pattern
        ({"seq": str(10**30)}, Reason.MALFORMED_HEADERS),  # beyond any 64-bit integer
        ({"seq": " 1"}, Reason.MALFORMED_HEADERS),  # int() would take it
        ({"seq": "1_0"}, Reason.MALFORMED_HEADERS),  # int() would take it too
        ({"prevhash": "zz" * 32}, Reason.MALFORMED_HEADERS),
        ({"chain_id": f"{JS}.main.abc.p0"}, Reason.CHAIN_MISPLACED),  # another agency's chain
        ({"value": b"[" * 100_000 + b"]" * 100_000}, Reason.TOO_DEEP),
        (
            {
                "content_type": "application/vnd.silian.sealed+json",
                "value": _SEAL_HEAD + b'"recipients": [1, 2]}',
            },
            Reason.SCHEMA_INVALID,
        ),  # recipients that are not objects
        (
            {
                "content_type": "application/vnd.silian.sealed+json",
                "value": _SEAL_HEAD + b'"recipients": [{"agency": "350722000000", "enc": "AA=="}]}',
            },
            Reason.SCHEMA_INVALID,
        ),  # a recipient without its key id
    ],
    ids=[
        "ce_id",
        "seq-huge",
        "seq-space",
        "seq-underscore",
        "prevhash",
        "chain",
        "deep",
        "seal-recipients",
        "seal-no-kid",
    ],
)
async def test_a_members_hostile_record(
    jpg: World, hostile: dict[str, object], reason: Reason
) -> None:
    record = _signed(jpg, **hostile)
    await _sandwich(jpg, [record], reason)
    (kept,) = await _quarantined(jpg, PC)
    q = read_quarantine_headers(kept)
    assert q is not None
    assert q.signer == GF
