"""Steps 7–10 for one agency (bus.node.admission): against what its store has seen, its own
read permission and sealing keys, and the lifecycle state it keeps."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bus.envelope.headers import CONTENT_TYPE_SEALED, GENESIS
from bus.envelope.ids import new_event_id
from bus.envelope.seal import seal
from bus.errors import RecordRejectedError, RedeliveryError
from bus.node.admission import admit, check_chain, remember_delivered, unseal
from bus.node.context import AgencyContext
from bus.pipeline import VerifiedRecord, VerifyPolicy, verify_record
from bus.reasons import Reason
from bus.state.store import ChainHead, LocalStore
from bus.transport.embedded import EmbeddedTransport
from contracts import examples
from contracts.registry import encode, spec_for_model
from contracts.vocab import Handling, HandlingCode, Tlp
from tests.unit.histories import (
    GUANGFENG,
    JIANGSHAN,
    PUCHENG,
    T0,
    T_CHANGE,
    Federation,
    build_federation,
)
from tests.unit.records import MEETING, signed

STORY = examples.example_story()
ISSUED = next(e for _, e in STORY if e.event_type == "alert.issued")
HIT = next(e for _, e in STORY if e.event_type == "alert.hit")
CASE_OPENED = next(e for _, e in STORY if e.event_type == "case.opened")  # H2/AMBER+STRICT
CHAIN = f"{JIANGSHAN}.main.0123456789ab.p0"


@dataclass
class Agency:
    """An agency's context on a real local store, and a way to record what it accepted."""

    ctx: AgencyContext
    fed: Federation

    def verified(self, event: Any = None, **kwargs: Any) -> VerifiedRecord:
        return verify_record(signed(self.fed, event, **kwargs), self.fed.agreements)

    async def accepted(
        self, verified: VerifiedRecord, origin: str, *, outcome: str = "delivered", **more: Any
    ) -> None:
        """What the consumer records once it dealt with a record (here: no ledger entry)."""
        attributes = verified.attributes
        await self.ctx.store.accept(
            source=attributes.source,
            event_id=attributes.id,
            topic=verified.record.topic,
            chain_id=attributes.chainid,
            head=ChainHead(seq=verified.seq, hash=verified.hash),
            origin=origin,
            outcome=outcome,
            **more,
        )


Make = Callable[..., Any]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    """``await make(fed, agency)`` → an :class:`Agency` whose store is open."""
    stores: list[LocalStore] = []

    async def build(fed: Federation, agency: str = PUCHENG) -> Agency:
        store = await LocalStore(tmp_path / agency / "state.sqlite").open()
        stores.append(store)
        ctx = AgencyContext(
            agency=agency,
            federation=fed.federation_id,
            transport=EmbeddedTransport(tmp_path / "bus.sqlite"),  # never opened: not used
            store=store,
            agreements=fed.agreements,
            keystore=fed.keystore,
            policy=VerifyPolicy(),
        )
        return Agency(ctx=ctx, fed=fed)

    yield build
    for store in stores:
        await store.close()


@pytest.fixture
async def pucheng(make: Make, federation: Federation) -> Agency:
    agency: Agency = await make(federation)
    return agency


def _refused(reason: Reason, error: pytest.ExceptionInfo[RecordRejectedError]) -> str:
    assert error.value.reason is reason, error.value
    return error.value.detail


# -- step 7: the record's place in its chain, against this agency's store --------------------


def _link(agency: Agency, seq: int, prevhash: str, **kwargs: Any) -> VerifiedRecord:
    return agency.verified(chainid=CHAIN, chainseq=str(seq), prevhash=prevhash, **kwargs)


async def test_a_chain_goes_on_record_by_record(pucheng: Agency) -> None:
    first = _link(pucheng, 1, GENESIS)
    assert await check_chain(pucheng.ctx, first, "t/0/0") is None
    await pucheng.accepted(first, "t/0/0")
    second = _link(pucheng, 2, first.hash)
    assert await check_chain(pucheng.ctx, second, "t/0/1") is None


async def test_a_first_record_that_names_one_before_it_forks(pucheng: Agency) -> None:
    with pytest.raises(RecordRejectedError) as caught:
        await check_chain(pucheng.ctx, _link(pucheng, 1, "ab" * 32), "t/0/0")
    assert "names a previous record abababababababab…" in _refused(Reason.CHAIN_FORK, caught)


@pytest.mark.parametrize(("seq", "missing"), [(3, "1 record missing"), (5, "3 records missing")])
async def test_records_missing_before_this_one_are_a_gap(
    pucheng: Agency, seq: int, missing: str
) -> None:
    first = _link(pucheng, 1, GENESIS)
    await pucheng.accepted(first, "t/0/0")
    with pytest.raises(RecordRejectedError) as caught:
        await check_chain(pucheng.ctx, _link(pucheng, seq, first.hash), "t/0/1")
    detail = _refused(Reason.SEQUENCE_GAP, caught)
    assert detail == f"chain {CHAIN} jumps from seq 1 to {seq}: {missing} before this one"


async def test_a_record_after_another_than_the_last_forks(pucheng: Agency) -> None:
    first = _link(pucheng, 1, GENESIS)
    await pucheng.accepted(first, "t/0/0")
    with pytest.raises(RecordRejectedError) as caught:
        await check_chain(pucheng.ctx, _link(pucheng, 2, "cd" * 32), "t/0/1")
    detail = _refused(Reason.CHAIN_FORK, caught)
    assert f"the record seen before it is {first.hash[:16]}…" in detail


async def test_the_same_record_at_the_same_offset_is_a_redelivery(pucheng: Agency) -> None:
    first = _link(pucheng, 1, GENESIS)
    await pucheng.accepted(first, "t/0/0")
    with pytest.raises(RedeliveryError) as caught:
        await check_chain(pucheng.ctx, first, "t/0/0")
    assert (caught.value.outcome, caught.value.quarantined) == ("delivered", None)


async def test_a_quarantined_record_again_says_why(pucheng: Agency) -> None:
    first = _link(pucheng, 1, GENESIS)
    await pucheng.accepted(
        first, "t/0/0", outcome="quarantined:schema-invalid", detail="no alert_id"
    )
    with pytest.raises(RedeliveryError) as caught:
        await check_chain(pucheng.ctx, first, "t/0/0")
    assert caught.value.quarantined is Reason.SCHEMA_INVALID
    assert caught.value.detail == "no alert_id"


async def test_the_same_record_at_another_offset_is_a_replay(pucheng: Agency) -> None:
    first = _link(pucheng, 1, GENESIS)
    await pucheng.accepted(first, "t/0/0")
    with pytest.raises(RecordRejectedError) as caught:
        await check_chain(pucheng.ctx, first, "t/0/9")
    detail = _refused(Reason.DUPLICATE, caught)
    assert detail.endswith("already delivered from t/0/0; this copy at t/0/9 is a replay")


async def test_another_record_for_a_place_already_taken_forks(pucheng: Agency) -> None:
    first = _link(pucheng, 1, GENESIS)
    await pucheng.accepted(first, "t/0/0")
    await pucheng.accepted(_link(pucheng, 2, first.hash), "t/0/1")
    rival = _link(pucheng, 2, first.hash)  # another event id for seq 2
    with pytest.raises(RecordRejectedError) as caught:
        await check_chain(pucheng.ctx, rival, "t/0/2")
    assert "is already at seq 2; seq 2 arrives out of order" in _refused(Reason.CHAIN_FORK, caught)


async def test_an_event_id_used_twice_is_a_duplicate_even_on_a_new_chain(
    pucheng: Agency,
) -> None:
    first = _link(pucheng, 1, GENESIS)
    await pucheng.accepted(first, "t/0/0")
    again = pucheng.verified(chainid=f"{JIANGSHAN}.other.0123456789ab.p0", id=first.attributes.id)
    with pytest.raises(RecordRejectedError) as caught:
        await check_chain(pucheng.ctx, again, "t/0/1")
    detail = _refused(Reason.DUPLICATE, caught)
    assert detail == f"event id {first.attributes.id} was already used by this agency"


async def test_heads_are_kept_per_chain_and_topic(pucheng: Agency) -> None:
    first = _link(pucheng, 1, GENESIS)
    await pucheng.accepted(first, "t/0/0")
    elsewhere = _link(pucheng, 1, GENESIS, topic="silian.jpg.liaison.v2")
    assert await check_chain(pucheng.ctx, elsewhere, "u/0/0") is None


@pytest.mark.parametrize(
    ("chain_id", "partition", "words"),
    [
        (f"{PUCHENG}.main.0123456789ab.p0", 0, f"is not {JIANGSHAN}'s"),
        (f"{JIANGSHAN}.main.0123456789ab.p1", 0, "belongs to another partition than 0"),
    ],
)
async def test_a_chain_of_another_agency_or_partition_is_misplaced(
    pucheng: Agency, chain_id: str, partition: int, words: str
) -> None:
    verified = pucheng.verified(chainid=chain_id, partition=partition)
    with pytest.raises(RecordRejectedError) as caught:
        await check_chain(pucheng.ctx, verified, "t/0/0")
    assert words in _refused(Reason.CHAIN_MISPLACED, caught)
    assert caught.value.signer == JIANGSHAN


# -- steps 8–10 for this agency --------------------------------------------------------------


def test_an_event_this_agency_may_read_is_admitted(pucheng: Agency) -> None:
    event, handling, spec, data = admit(pucheng.ctx, pucheng.verified(ISSUED), own=False)
    assert event == ISSUED
    assert data == encode(ISSUED)
    assert handling == Handling(code=HandlingCode.H1, tlp=Tlp.AMBER)
    assert spec is spec_for_model(ISSUED)


async def test_a_reader_not_yet_in_the_agreement_is_refused(make: Make, tmp_path: Path) -> None:
    fed = build_federation(tmp_path / "late", late_member=GUANGFENG)
    guangfeng: Agency = await make(fed, GUANGFENG)
    early = guangfeng.verified(MEETING, at=T_CHANGE - timedelta(minutes=1))
    with pytest.raises(RecordRejectedError) as caught:
        admit(guangfeng.ctx, early, own=False)
    _refused(Reason.NOT_A_MEMBER, caught)
    later = guangfeng.verified(MEETING, at=T_CHANGE + timedelta(minutes=1))
    assert admit(guangfeng.ctx, later, own=False)[0] == MEETING


def test_the_lifecycle_is_judged_against_this_agencys_state(pucheng: Agency) -> None:
    hit = pucheng.verified(HIT, agency=PUCHENG)
    with pytest.raises(RecordRejectedError) as caught:
        admit(pucheng.ctx, hit, own=False)
    _refused(Reason.LIFECYCLE, caught)
    assert admit(pucheng.ctx, hit, own=True)[0] == HIT  # its own: judged before publishing
    pucheng.ctx.remember(ISSUED, publisher=JIANGSHAN)
    assert admit(pucheng.ctx, hit, own=False)[0] == HIT
    assert pucheng.ctx.tracker.alert_issuer(ISSUED.entity_id()) == JIANGSHAN  # not applied


def test_admitting_does_not_change_the_state(pucheng: Agency) -> None:
    admit(pucheng.ctx, pucheng.verified(ISSUED), own=False)
    assert pucheng.ctx.tracker.alert_issuer(ISSUED.entity_id()) is None  # the caller's job


def test_a_refusal_of_a_step_is_the_same_as_the_pipelines(pucheng: Agency) -> None:
    bad = pucheng.verified(ISSUED, type="cn.silian.alert.vanished.v1")
    with pytest.raises(RecordRejectedError) as caught:
        admit(pucheng.ctx, bad, own=False)
    _refused(Reason.UNKNOWN_TYPE, caught)
    deep = pucheng.verified(ISSUED, value=b"[" * 40 + b"]" * 40)
    with pytest.raises(RecordRejectedError) as caught:
        admit(pucheng.ctx, deep, own=False)
    _refused(Reason.TOO_DEEP, caught)


# -- a sealed record: opened with this agency's key, or refused ------------------------------


def _sealed(
    agency: Agency,
    to: tuple[str, ...],
    *,
    bound_to: str | None = None,
    data: bytes | None = None,
) -> VerifiedRecord:
    """CASE_OPENED (as ``data``, else its encoding) sealed to ``to``; ``bound_to``: the
    event id the seal is made for (else the record's own)."""
    fed, event_id = agency.fed, new_event_id()
    spec = spec_for_model(CASE_OPENED)
    topic = spec.topic(fed.federation_id, CASE_OPENED)
    agreement = fed.agreements.in_force_at(T0)
    recipients = {
        code: (record.key_id, record.sealing_key())
        for code in to
        for record in (agreement.sealing_record(code, T0),)
    }
    value = seal(
        encode(CASE_OPENED) if data is None else data,
        recipients,
        event_id=bound_to or event_id,
        ce_type=spec.ce_type,
        topic=topic,
    )
    return agency.verified(CASE_OPENED, value=value, content_type=CONTENT_TYPE_SEALED, id=event_id)


def test_a_sealed_event_for_this_agency_is_opened(pucheng: Agency) -> None:
    verified = _sealed(pucheng, (JIANGSHAN, PUCHENG))
    assert unseal(pucheng.ctx, verified) == encode(CASE_OPENED)
    event, handling, _, data = admit(pucheng.ctx, verified, own=False)
    assert event == CASE_OPENED
    assert handling.confidential
    assert data == encode(CASE_OPENED)  # the plaintext, not the envelope


# -- what the ledger keeps: the event's bytes as received, never a re-encoding ---------------


def _reformatted(event: Any) -> bytes:
    """The event's JSON as another implementation might write it: indented, ASCII escapes."""
    data = json.dumps(json.loads(encode(event)), indent=3, ensure_ascii=True).encode()
    assert data != encode(event)
    return data


async def test_the_ledger_keeps_the_bytes_received(pucheng: Agency) -> None:
    value = _reformatted(ISSUED)
    verified = pucheng.verified(ISSUED, value=value)
    admitted = admit(pucheng.ctx, verified, own=False)
    assert admitted.event == ISSUED
    assert admitted.data == value
    await remember_delivered(pucheng.ctx, verified, admitted, "t/0/0")
    (entry,) = await pucheng.ctx.store.ledger()
    assert entry.data == value
    assert (entry.event_id, entry.topic) == (verified.attributes.id, verified.record.topic)
    await pucheng.ctx.rebuild_state()  # the ledger's bytes still decode to the same state
    assert pucheng.ctx.tracker.alert_issuer(ISSUED.entity_id()) == JIANGSHAN


async def test_the_ledger_keeps_a_sealed_events_plaintext_as_opened(pucheng: Agency) -> None:
    plaintext = _reformatted(CASE_OPENED)
    verified = _sealed(pucheng, (JIANGSHAN, PUCHENG), data=plaintext)
    admitted = admit(pucheng.ctx, verified, own=False)
    await remember_delivered(pucheng.ctx, verified, admitted, "t/0/0")
    (entry,) = await pucheng.ctx.store.ledger()
    assert entry.data == plaintext


async def test_a_sealed_event_for_others_is_not_for_us(make: Make, federation: Federation) -> None:
    guangfeng: Agency = await make(federation, GUANGFENG)
    verified = _sealed(guangfeng, (JIANGSHAN, PUCHENG))
    with pytest.raises(RecordRejectedError) as caught:
        unseal(guangfeng.ctx, verified)
    assert _refused(Reason.SEALED_NOT_FOR_US, caught) == (
        f"sealed record is not addressed to agency {GUANGFENG}"
    )
    with pytest.raises(RecordRejectedError) as caught:
        admit(guangfeng.ctx, verified, own=False)
    _refused(Reason.SEALED_NOT_FOR_US, caught)


def test_a_seal_lifted_from_another_record_does_not_open(pucheng: Agency) -> None:
    verified = _sealed(pucheng, (PUCHENG,), bound_to=new_event_id())
    with pytest.raises(RecordRejectedError) as caught:
        admit(pucheng.ctx, verified, own=False)
    assert "does not open for agency" in _refused(Reason.SEALED_NOT_FOR_US, caught)
