"""A restored agency on the embedded transport: its chains are fenced, so what it signs
after the restore verifies at its neighbours and reuses no (chain id, seq); read again
from the start, it catches up with no refusal, and its answers given twice are taken.

Pucheng answers Jiangshan's alerts; its state is backed up after the first, lost after the
second, and restored. Without the fence (the store's file put back by hand) its next
answer would fork its own chain: Jiangshan quarantines it as ``chain-fork``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bus.node.bus import Bus, BusConfig
from bus.node.consume import Subscription
from bus.node.publish import Published
from bus.node.results import Delivery, Outcome, Result
from bus.node.topics import TopicPlan, plan_topics
from bus.reasons import Reason
from bus.sandbox.federation import Federation, create_federation
from bus.state.backup import back_up
from bus.state.restore import restore
from bus.transport.embedded import EmbeddedTransport
from contracts import examples
from contracts.alerts import AlertIssued

JS, PC = examples.JIANGSHAN, examples.PUCHENG


class World:
    def __init__(self, fed: Federation, transport: EmbeddedTransport, state: Path) -> None:
        self.fed, self.transport, self.state = fed, transport, state

    def bus(self, agency: str) -> Bus:
        return Bus(
            BusConfig(
                agency=agency, federation=self.fed.federation_id, state_dir=self.state / agency
            ),
            transport=self.transport,
            agreements=self.fed.agreements,
            keystore=self.fed.keystore,
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    fed = create_federation(tmp_path / "fed")
    transport = EmbeddedTransport(tmp_path / "embedded.sqlite")
    await transport.start()
    await transport.ensure_topics(
        plan_topics(fed.federation_id, fed.agreements.latest, TopicPlan())
    )
    try:
        yield World(fed, transport, tmp_path / "state")
    finally:
        await transport.stop()


def _alert(number: int) -> AlertIssued:
    issued = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    return issued.model_copy(update={"alert_id": f"JS-ALERT-2024-{number:04d}"})


async def _handled(delivery: Delivery[AlertIssued]) -> str:
    return "布控 set up"


def _subscribe(bus: Bus, *, group: str | None = None) -> Subscription:
    subscription = bus.subscribe(group=group)
    subscription.on(AlertIssued)(_handled)
    return subscription


async def _drain(subscription: Subscription) -> list[Result]:
    """Poll until a poll finds nothing left; every result."""
    results: list[Result] = []
    while batch := await subscription.poll(timeout=0.2):
        results += batch
    return results


def _signed(bus: Bus) -> list[tuple[str, int]]:
    """The (chain id, seq) of every record ``bus`` publishes from now on."""
    signed: list[tuple[str, int]] = []

    def note(published: Published, _latency: float) -> None:
        signed.append((published.chain_id, published.seq))

    bus.publisher.observers.append(note)
    return signed


def _quarantined(results: list[Result]) -> list[tuple[Reason | None, str | None]]:
    return [(r.reason, r.detail) for r in results if r.outcome is Outcome.QUARANTINED]


async def _history_then_loss(world: World, tmp_path: Path) -> tuple[list[tuple[str, int]], str]:
    """Alert 1 answered, Pucheng backed up (online), alert 2 answered, Pucheng stopped.
    Returns what Pucheng signed before the loss and the chain prefix it signed with."""
    async with world.bus(JS) as js, world.bus(PC) as pc:
        signed = _signed(pc)
        async with _subscribe(pc) as pc_sub, _subscribe(js) as js_sub:
            await js.publish(_alert(1))
            assert _quarantined(await _drain(pc_sub)) == []
            back_up(world.state / PC, tmp_path / "pucheng.tar", agency=PC)  # serve running
            await js.publish(_alert(2))
            assert _quarantined(await _drain(pc_sub)) == []
            assert _quarantined(await _drain(js_sub)) == []
        base = pc.publisher.chain_base
    assert len(signed) == 4  # received and handled, for each alert
    return signed, base


async def test_a_restored_agency_signs_on_fresh_chains_and_catches_up(
    world: World, tmp_path: Path
) -> None:
    before, old_base = await _history_then_loss(world, tmp_path)
    async with world.bus(JS) as js:
        receipts = {(r.event_id, r.recipient): r for r in await js.store.receipts()}
    restored = restore(tmp_path / "pucheng.tar", world.state, force=True)
    assert restored.fenced == {"main": old_base}

    async with world.bus(PC) as pc, world.bus(JS) as js:
        after = _signed(pc)
        assert pc.publisher.chain_base != old_base
        # Its consumer group rewound to the earliest offsets (here: a group with none).
        async with _subscribe(pc, group="rewound") as pc_sub:
            results = await _drain(pc_sub)
        assert _quarantined(results) == []
        # Alert 1 was processed before the backup: recognised. Alert 2 was not: handled
        # and answered again — on the new chains, each from seq 1 (read back as its own).
        # Its answers on the old chains come back into its ledger as another process's.
        assert {r.outcome for r in results} == {
            Outcome.DELIVERED,
            Outcome.REDELIVERY,
            Outcome.OWN,
        }
        assert len(after) == 2
        assert not set(after) & set(before)  # no (chain id, seq) signed twice
        assert all(chain.startswith(f"{pc.publisher.chain_base}.p") for chain, _ in after)
        # Both answers to alert 2 are keyed on it: one new chain, seq 1 then 2 (seq 1 names
        # GENESIS: Jiangshan's verdict below takes nothing else to start a chain).
        assert len({chain for chain, _ in after}) == 1
        assert sorted(seq for _, seq in after) == [1, 2]
        # Its ledger caught up: both alerts, and every answer it gave — the four before
        # the loss (two of them after the backup) and the two given again.
        ledger = await pc.store.ledger()
        assert {"JS-ALERT-2024-0001", "JS-ALERT-2024-0002"} <= {e.subject for e in ledger}
        ours = [e for e in ledger if e.source == f"urn:silian:agency:{PC}"]
        assert len(ours) == 6

        # Jiangshan verifies the new chains and takes the second answers; the first
        # answer's time stands.
        async with _subscribe(js) as js_sub:
            answers = await _drain(js_sub)
        assert _quarantined(answers) == []
        assert [r.outcome for r in answers] == [Outcome.DELIVERED] * 2
        for key, receipt in receipts.items():
            now = {(r.event_id, r.recipient): r for r in await js.store.receipts()}[key]
            assert (now.received_at, now.handled_at) == (receipt.received_at, receipt.handled_at)


async def test_without_the_fence_the_restored_store_forks_its_own_chain(
    world: World, tmp_path: Path
) -> None:
    """The hazard the fence is for: the store as it was at the backup, its publisher's
    chain prefix kept (a file copied back by hand), signs a second record for a
    (chain id, seq) it already sent, and its neighbour takes it for a forgery."""
    before, old_base = await _history_then_loss(world, tmp_path)
    restore(tmp_path / "pucheng.tar", world.state, force=True)
    with contextlib.closing(sqlite3.connect(world.state / PC / f"{PC}.sqlite")) as store:
        store.execute("INSERT OR REPLACE INTO meta VALUES ('chain:main', ?)", (old_base,))
        store.commit()

    async with world.bus(PC) as pc, world.bus(JS) as js:
        after = _signed(pc)
        async with _subscribe(pc, group="rewound") as pc_sub:
            await _drain(pc_sub)
        assert set(after) & set(before), "the old chains were continued from old heads"
        async with _subscribe(js) as js_sub:
            answers = await _drain(js_sub)
    assert Reason.CHAIN_FORK in {reason for reason, _ in _quarantined(answers)}
