"""Receipts v2 on the embedded transport: a receipt names the record it answers by its
record hash, and the issuer refuses one that names another record (receipt-mismatch)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bus.envelope.ids import now
from bus.node.bus import Bus, BusConfig
from bus.node.quarantine import read_quarantine, read_quarantine_headers
from bus.node.results import Delivery, Outcome
from bus.node.topics import TopicPlan, plan_topics
from bus.reasons import Reason
from bus.sandbox.federation import create_federation
from bus.transport.embedded import EmbeddedTransport
from contracts import examples
from contracts.alerts import AlertIssued
from contracts.receipts import (
    EventRef,
    ReceiptHandledV2,
    ReceiptReceived,
    ReceiptReceivedV2,
    RecordRef,
)

JS, PC, GF = examples.JIANGSHAN, examples.PUCHENG, examples.GUANGFENG
ISSUED = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))


class Buses(dict[str, Bus]):
    """The three agencies' buses, on one embedded transport."""

    transport: EmbeddedTransport


@pytest.fixture
async def buses(tmp_path: Path) -> AsyncIterator[Buses]:
    fed = create_federation(tmp_path / "fed")
    async with EmbeddedTransport(tmp_path / "bus.sqlite") as transport:
        await transport.ensure_topics(
            plan_topics(fed.federation_id, fed.agreements.latest, TopicPlan())
        )
        async with AsyncExitStack() as stack:
            found = Buses()
            found.transport = transport
            for code in (JS, PC, GF):
                bus = Bus(
                    BusConfig(agency=code, federation=fed.federation_id, state_dir=tmp_path / code),
                    transport=transport,
                    agreements=fed.agreements,
                    keystore=fed.keystore,
                )
                found[code] = await stack.enter_async_context(bus)
            yield found


async def _handled(delivery: Delivery[AlertIssued]) -> str:
    return "布控 set up"


async def _answers(bus: Bus) -> list[tuple[Outcome, str | None, Reason | None]]:
    """What ``bus``'s subscription makes of everything it reads now."""
    sub = bus.subscribe()
    async with sub:
        return [(r.outcome, r.ce_type, r.reason) for r in await sub.poll(timeout=2)]


def _ref(published_id: str, record_hash: str) -> RecordRef:
    return RecordRef(
        ce_source=f"urn:silian:agency:{JS}",
        ce_id=published_id,
        ce_type="cn.silian.alert.issued.v1",
        record_hash=record_hash,
    )


async def test_receipts_name_the_record_they_answer_and_the_issuer_takes_them(
    buses: Buses,
) -> None:
    published = await buses[JS].publish(ISSUED)
    sub = buses[PC].subscribe()
    sub.on(AlertIssued)(_handled)
    async with sub:
        await sub.poll(timeout=2)
    receipts = [
        r
        for r in await buses[PC].store.ledger()
        if r.source == f"urn:silian:agency:{PC}" and r.ce_type.startswith("cn.silian.receipt.")
    ]
    assert [r.ce_type for r in receipts] == [
        "cn.silian.receipt.received.v2",
        "cn.silian.receipt.handled.v2",
    ]
    for receipt in receipts:  # as Pucheng signed them: the hash of the record it read
        assert f'"record_hash":"{published.hash}"'.encode() in receipt.data
    assert await buses[JS].store.record_hash(f"urn:silian:agency:{JS}", published.event_id) == (
        published.hash
    )
    got = await _answers(buses[JS])
    assert (Outcome.DELIVERED, "cn.silian.receipt.handled.v2", None) in got
    owed = {r.recipient: r for r in await buses[JS].store.receipts()}
    assert owed[PC].handled_at is not None


async def test_a_receipt_naming_another_record_is_refused_and_kept_in_quarantine(
    buses: Buses,
) -> None:
    """Guangfeng answers Jiangshan's alert naming a record Jiangshan never published: both
    its receipts are refused as receipt-mismatch (the second not as an answer out of
    order), quarantined, and Guangfeng still owes its answer."""
    published = await buses[JS].publish(ISSUED)
    other = hashlib.sha256(b"another record").hexdigest()
    ref = _ref(published.event_id, other)
    await buses[GF].publish(ReceiptReceivedV2(answers=ref, received_at=now()))
    await buses[GF].publish(ReceiptHandledV2(answers=ref, handled_at=now(), action="已处理"))
    got = await _answers(buses[JS])
    refused = [(t, r) for o, t, r in got if o is Outcome.QUARANTINED]
    assert refused == [
        ("cn.silian.receipt.received.v2", Reason.RECEIPT_MISMATCH),
        ("cn.silian.receipt.handled.v2", Reason.RECEIPT_MISMATCH),
    ]
    kept = [read_quarantine_headers(r) for r in await read_quarantine(buses.transport, "jpg", JS)]
    assert [(k.reason, k.signer) for k in kept if k is not None] == [
        (Reason.RECEIPT_MISMATCH, GF),
        (Reason.RECEIPT_MISMATCH, GF),
    ]
    detail = kept[0].detail if kept[0] is not None else ""
    assert other in detail  # the record the receipt names …
    assert published.hash in detail  # … and the one Jiangshan published
    owed = {r.recipient: r for r in await buses[JS].store.receipts()}
    assert owed[GF].received_at is None
    assert owed[GF].owed


async def test_a_v1_receipt_is_still_read_and_counts(buses: Buses) -> None:
    published = await buses[JS].publish(ISSUED)
    ref = EventRef(
        ce_source=f"urn:silian:agency:{JS}",
        ce_id=published.event_id,
        ce_type="cn.silian.alert.issued.v1",
    )
    await buses[PC].publish(ReceiptReceived(answers=ref, received_at=now()))
    got = await _answers(buses[JS])
    assert (Outcome.DELIVERED, "cn.silian.receipt.received.v1", None) in got
    owed = {r.recipient: r for r in await buses[JS].store.receipts()}
    assert owed[PC].received_at is not None
