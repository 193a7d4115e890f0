"""A case's events are for its members: only they answer them and hand them to their
local systems; another agency that can read the case topic keeps them, and does neither."""

from __future__ import annotations

from pathlib import Path

from bus.node.bus import Bus, BusConfig
from bus.node.results import Delivery, Outcome
from bus.node.topics import TopicPlan, plan_topics
from bus.sandbox.federation import create_federation
from bus.transport.embedded import EmbeddedTransport
from contracts import examples
from contracts.base import EventModel
from contracts.cases import CaseMemberInvited, CaseOpened


async def test_only_the_agencies_a_case_event_is_addressed_to_handle_it(tmp_path: Path) -> None:
    fed = create_federation(tmp_path)
    story = examples.example_story()
    opened = next(e for _, e in story if isinstance(e, CaseOpened))
    invited = next(e for _, e in story if isinstance(e, CaseMemberInvited))
    assert opened.invited == (examples.PUCHENG,)  # Guangfeng is not in the case yet
    assert invited.agency == examples.GUANGFENG
    async with EmbeddedTransport(tmp_path / "bus.sqlite") as transport:
        await transport.ensure_topics(
            plan_topics(fed.federation_id, fed.agreements.latest, TopicPlan())
        )

        def bus(agency: str) -> Bus:
            config = BusConfig(
                agency=agency, federation=fed.federation_id, state_dir=tmp_path / agency
            )
            return Bus(
                config, transport=transport, agreements=fed.agreements, keystore=fed.keystore
            )

        async with (
            bus(examples.JIANGSHAN) as js,
            bus(examples.PUCHENG) as pc,
            bus(examples.GUANGFENG) as gf,
        ):
            await js.publish(opened)
            opened_type = "cn.silian.case.opened.v1"
            handled: dict[str, list[str]] = {examples.PUCHENG: [], examples.GUANGFENG: []}
            results = {}
            for agency, node in ((examples.PUCHENG, pc), (examples.GUANGFENG, gf)):
                sub = node.subscribe(cases=[opened.case_id])

                async def on_case(delivery: Delivery[EventModel], agency: str = agency) -> str:
                    handled[agency].append(delivery.event.event_type)
                    return "已处理 handled"

                sub.on(CaseOpened)(on_case)
                sub.on(CaseMemberInvited)(on_case)
                await sub.start()
                got = [r for r in await sub.poll(timeout=2) if r.ce_type == opened_type]
                results[agency] = (sub, got)
            for agency, (_, got) in results.items():
                assert [r.outcome for r in got] == [Outcome.DELIVERED], agency
            assert handled == {examples.PUCHENG: ["case.opened"], examples.GUANGFENG: []}
            assert results[examples.PUCHENG][1][0].handled is True
            assert results[examples.GUANGFENG][1][0].handled is False  # kept, not handled

            await js.publish(invited)  # now Guangfeng is invited: the invitation is for it
            for _, (sub, _) in results.items():
                await sub.poll(timeout=2)
            assert handled == {
                examples.PUCHENG: ["case.opened", "case.member_invited"],
                examples.GUANGFENG: ["case.member_invited"],
            }
            receipts = await js.store.receipts()
            answered = {(r.ce_type, r.recipient) for r in receipts if r.handled_at}
            assert ("cn.silian.case.opened.v1", examples.GUANGFENG) not in answered
