"""The broker watch: the health report says the bus is unreachable within a bounded time
whatever the runner's link loop is blocked in (real embedded bus, real adapters)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from adapters._liveness import BrokerWatch
from adapters.config import load_config
from adapters.demo import LinkSwitch, prepare_agencies, wait_for
from adapters.reference import pucheng_app
from adapters.reference.rest_case_system import RestCaseSystem
from adapters.runner import AgencyRunner
from agencies.folder import AgreementFolder
from bus.node.topics import TopicPlan, plan_topics
from bus.transport.base import (
    Record,
    Transport,
)
from bus.transport.embedded import EmbeddedTransport


class StallingLink(LinkSwitch):
    """The demo's cut link as aiokafka behaves with every broker gone: what needs the
    broker does not fail, it waits until the broker returns (an offset commit waits for
    the group coordinator, a send for its acknowledgement); fetches find nothing. With
    ``cut_after_fetch`` set, the link goes down right after a fetch that returned records
    — the broker vanished between handing over a batch and its receipts and commit."""

    def __init__(self, inner: Transport) -> None:
        self._up = asyncio.Event()
        super().__init__(inner)
        self.cut_after_fetch = False

    @property
    def down(self) -> bool:
        return not self._up.is_set()

    @down.setter
    def down(self, value: bool) -> None:
        if value:
            self._up.clear()
        else:
            self._up.set()

    async def guard(self, action: str) -> None:
        await self._up.wait()  # no error: the call waits until the broker returns

    def fetched(self, records: list[Record]) -> list[Record]:
        if records and self.cut_after_fetch:
            self.cut_after_fetch = False
            self.down = True
        return records


@contextlib.asynccontextmanager
async def _watching(watch: BrokerWatch) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(watch.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)


async def _silent_then_answering(watch: BrokerWatch, cut: LinkSwitch, expected: str) -> None:
    async with _watching(watch):
        assert watch.silence() is None  # nothing to judge before the first answer
        first = await wait_for(lambda: watch.answering_since, timeout=5)
        cut.down = True
        cut_at = time.monotonic()
        assert watch.silence() is None
        silence = await wait_for(watch.silence, timeout=5)
        assert time.monotonic() - cut_at < watch.limit + 1.0  # soon after the limit
        assert silence.seconds > watch.limit
        assert expected in silence.error
        assert str(silence).startswith("no answer from the broker for ")
        cut.down = False
        await wait_for(lambda: watch.silence() is None, timeout=5)
        answering = watch.answering_since
        assert answering is not None
        assert answering > first


async def test_a_failing_or_unanswered_question_becomes_silence_after_the_limit(
    tmp_path: Path,
) -> None:
    stalling = StallingLink(EmbeddedTransport(tmp_path / "bus.sqlite"))
    failing = LinkSwitch(stalling.inner)  # fails at once while down
    await stalling.start()
    try:
        for cut, expected in ((failing, "the link is down"), (stalling, "no answer within 0.3s")):
            watch = BrokerWatch(_describer(cut), interval=0.1, timeout=0.3)
            assert watch.limit == 0.1 + 0.3
            await _silent_then_answering(watch, cut, expected)
    finally:
        stalling.down = False
        await stalling.stop()


def _describer(transport: Transport) -> Callable[[], Awaitable[object]]:
    async def ask() -> object:
        return await transport.describe_topics(["t"])

    return ask


async def test_a_question_that_ignores_its_timeout_cannot_hide_the_silence() -> None:
    release = asyncio.Event()
    answer = True

    async def ask() -> None:
        if not answer:
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()  # swallows the cancellation of its own timeout
            await release.wait()

    watch = BrokerWatch(ask, interval=0.05, timeout=0.2)
    assert await watch.ask_once()
    answer = False
    task = asyncio.create_task(watch.ask_once())
    # judged from the clock, not by the question: silent although it is still "asking"
    silence = await wait_for(watch.silence, timeout=5)
    assert silence.seconds > watch.limit
    release.set()
    assert await task is False  # a late answer does not count as one
    assert watch.silence() is not None


async def test_health_shows_the_outage_while_the_link_loop_waits_for_the_broker(
    tmp_path: Path,
) -> None:
    rest = RestCaseSystem().start()
    prepare_agencies(tmp_path, rest_url=rest.url)
    configs = {name: load_config(tmp_path / f"{name}.toml") for name in ("jiangshan", "pucheng")}
    configs = {  # 1 s request timeout: the report must show an outage within 1 + 2 s
        name: replace(config, bus=replace(config.bus, request_timeout_ms=1000))
        for name, config in configs.items()
    }
    inner = EmbeddedTransport(tmp_path / "state" / "embedded.sqlite")
    link = StallingLink(inner)
    db = pucheng_app.connect(f"sqlite:///{tmp_path / 'pucheng.db'}")
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        await inner.start()
        history = AgreementFolder(configs["jiangshan"].bus.agreement).history()
        await inner.ensure_topics(
            plan_topics(history.latest.federation_id, history.latest, TopicPlan())
        )
        jiangshan = AgencyRunner(configs["jiangshan"], transport=link)
        pucheng = AgencyRunner(configs["pucheng"], transport=inner)
        tasks = [asyncio.create_task(r.run(stop)) for r in (jiangshan, pucheng)]
        alert = "JS-ALERT-WATCH"
        rest.create("alert", _alert(alert))
        await wait_for(lambda: db.execute(
            "SELECT 1 FROM alerts_received WHERE alert_id = ?", (alert,)).fetchone())  # fmt: skip
        await wait_for(lambda: _answered(jiangshan, alert), timeout=30)  # Pucheng's receipts
        assert (await jiangshan.health())["bus"]["connected"]

        # the broker goes away right after handing Jiangshan a hit: its link loop waits
        # (the receipt's acknowledgement, the commit) and learns nothing by itself
        link.cut_after_fetch = True
        pucheng_app.record_hit(db, alert_id=alert, seen_at="2030-05-06 14:30:00",
                               place="G205", action_taken="已跟踪", officer="林警官")  # fmt: skip
        await wait_for(lambda: link.down, timeout=30)
        cut_at = time.monotonic()
        rest.create("alert", _alert(f"{alert}-2"))  # waits in the outbox meanwhile

        async def unreachable() -> dict[str, Any] | None:
            report = await jiangshan.health()
            return None if report["bus"]["connected"] else report

        report = await wait_for(unreachable, timeout=30)
        assert time.monotonic() - cut_at < 1 + 2 + 2  # request timeout + interval + slack
        assert report["status"] == "degraded"
        assert report["bus"]["error"].startswith("no answer from the broker for ")
        await wait_for(lambda: _pending_now(jiangshan, 1), timeout=30)

        link.down = False  # the broker returns: the waiting calls complete
        back = await wait_for(
            lambda: _connected_and_drained(jiangshan), timeout=30
        )  # the second alert drained after the first, the hit written once
        assert back["bus"]["error"] is None
        second = f"{alert}-2"
        await wait_for(lambda: db.execute(
            "SELECT 1 FROM alerts_received WHERE alert_id = ?", (second,)).fetchone())  # fmt: skip
        await asyncio.sleep(1)
        assert len(rest.records("hit")) == 1
        assert db.execute("SELECT count(*) FROM alerts_received").fetchone() == (2,)
    finally:
        link.down = False
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await inner.stop()
        db.close()
        rest.stop()


def _alert(alert_no: str) -> dict[str, str]:
    return {
        "alert_no": alert_no, "subject_type": "车辆", "plate": "浙H·12345",
        "subject_description": "白色面包车", "reason": "涉嫌跨省电信诈骗取款车辆",
        "action_on_hit": "跟踪并通报江山", "priority": "特急", "area": "330881,350722",
        "review_at": "2030-05-13 09:00",
    }  # fmt: skip


async def _answered(runner: AgencyRunner, alert_id: str) -> bool:
    receipts = await runner.bus.store.receipts()
    return any(r.subject == alert_id and r.handled_at is not None for r in receipts)


async def _pending_now(runner: AgencyRunner, at_least: int) -> bool:
    return int((await runner.state.counts())["outbox_pending"]) >= at_least


async def _connected_and_drained(runner: AgencyRunner) -> dict[str, Any] | None:
    report = await runner.health()
    ok = report["bus"]["connected"] and report["outbox_pending"] == 0
    return report if ok else None
