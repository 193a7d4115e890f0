"""The bus end to end on the embedded transport: publish, verify, handle, receipts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bus.node.bus import Bus, BusConfig
from bus.node.results import Delivery, Outcome
from bus.node.topics import TopicPlan, plan_topics
from bus.sandbox.federation import create_federation
from bus.transport.embedded import EmbeddedTransport
from contracts import examples
from contracts.alerts import AlertHit, AlertIssued


@pytest.fixture
async def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    fed = create_federation(tmp_path)
    transport = EmbeddedTransport(tmp_path / "bus.sqlite")
    await transport.start()
    await transport.ensure_topics(
        plan_topics(fed.federation_id, fed.agreements.latest, TopicPlan())
    )
    yield fed, transport
    await transport.stop()


def _bus(fed, transport, tmp_path: Path, agency: str) -> Bus:  # type: ignore[no-untyped-def]
    return Bus(
        BusConfig(agency=agency, federation=fed.federation_id, state_dir=tmp_path / agency),
        transport=transport,
        agreements=fed.agreements,
        keystore=fed.keystore,
    )


async def test_alert_is_verified_handled_and_answered(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fed, transport = setup
    story = examples.example_story()
    issued = next(e for p, e in story if isinstance(e, AlertIssued))
    async with (
        _bus(fed, transport, tmp_path, examples.JIANGSHAN) as js,
        _bus(fed, transport, tmp_path, examples.PUCHENG) as pc,
    ):
        published = await js.publish(issued)
        assert published.recipients
        seen: list[Delivery[AlertIssued]] = []
        sub = pc.subscribe()

        @sub.on(AlertIssued)
        async def on_alert(delivery: Delivery[AlertIssued]) -> str:
            seen.append(delivery)
            return "布控 set up"

        await sub.start()
        results = await sub.poll(timeout=2)
        assert [r.outcome for r in results] == [Outcome.DELIVERED]
        assert seen[0].event == issued
        assert seen[0].source == examples.JIANGSHAN
        js_sub = js.subscribe()
        await js_sub.start()
        got = await js_sub.poll(timeout=2)
        outcomes = [(r.outcome, r.ce_type) for r in got]
        assert (Outcome.DELIVERED, "cn.silian.receipt.received.v2") in outcomes
        assert (Outcome.DELIVERED, "cn.silian.receipt.handled.v2") in outcomes
        receipts = await js.store.receipts()
        pucheng = [r for r in receipts if r.recipient == examples.PUCHENG]
        assert pucheng
        assert pucheng[0].handled_at is not None
        hit = next(e for p, e in story if isinstance(e, AlertHit))
        await pc.publish(hit)


async def test_unanswered_urgent_alert_is_overdue_after_its_deadline(  # type: ignore[no-untyped-def]
    setup, tmp_path: Path
) -> None:
    fed, transport = setup
    issued = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    async with _bus(fed, transport, tmp_path, examples.JIANGSHAN) as js:
        published = await js.publish(issued)
        # Nobody answered yet: owed, but not overdue before the urgent deadline (15 min).
        assert await js.overdue(at=published.time + timedelta(minutes=14)) == []
        late = await js.overdue(at=published.time + timedelta(minutes=15))
        assert sorted(r.recipient for r in late) == [examples.PUCHENG, examples.GUANGFENG]
        async with _bus(fed, transport, tmp_path, examples.PUCHENG) as pc:
            sub = pc.subscribe()
            sub.on(AlertIssued)(_noop)
            async with sub:
                await sub.poll(timeout=2)
        answers = js.subscribe()
        async with answers:
            await answers.poll(timeout=2)
        late = await js.overdue(at=published.time + timedelta(minutes=15))
        assert [r.recipient for r in late] == [examples.GUANGFENG]


async def _noop(delivery: Delivery[AlertIssued]) -> str:
    return "ok"


@pytest.mark.parametrize("serve_starts_first", [True, False])
async def test_records_of_another_process_of_the_same_agency_update_state(  # type: ignore[no-untyped-def]
    setup, tmp_path: Path, serve_starts_first: bool
) -> None:
    """`silian publish` beside `silian serve`: one store, two chains; whichever starts
    first, serve takes the CLI's alert into its state and accepts the neighbour's hit."""
    fed, transport = setup
    story = examples.example_story()
    issued = next(e for _, e in story if isinstance(e, AlertIssued))
    hit = next(e for _, e in story if isinstance(e, AlertHit))

    def js(name: str) -> Bus:
        return Bus(
            BusConfig(
                agency=examples.JIANGSHAN,
                federation=fed.federation_id,
                state_dir=tmp_path / "js",
                publisher_name=name,
            ),
            transport=transport,
            agreements=fed.agreements,
            keystore=fed.keystore,
        )

    serve = js("main")
    if serve_starts_first:
        await serve.start()
    async with js("cli") as cli:
        await cli.publish(issued)
    if not serve_starts_first:
        await serve.start()  # its state is rebuilt from the ledger the CLI wrote
    try:
        handled: list[str] = []
        sub = serve.subscribe()

        @sub.on(AlertHit)
        async def on_hit(delivery: Delivery[AlertHit]) -> str:
            handled.append(delivery.event_id)
            return "ok"

        async with sub:
            first = await sub.poll(timeout=1)
            assert [(r.outcome, r.ce_type) for r in first] == [
                (Outcome.DELIVERED, "cn.silian.alert.issued.v1")
            ]
            async with _bus(fed, transport, tmp_path, examples.PUCHENG) as pc:
                reader = pc.subscribe()
                async with reader:
                    await reader.poll(timeout=1)  # Pucheng learns of the alert first
                await pc.publish(hit)
            later = await sub.poll(timeout=1)
        assert Outcome.QUARANTINED not in {r.outcome for r in later}
        assert len(handled) == 1
    finally:
        await serve.stop()
