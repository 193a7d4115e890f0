"""``silian watch``: one verified line per event; the pending column empties as answers come."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bus.cli.watch import Board, Watcher
from bus.node.bus import Bus, BusConfig
from bus.node.results import Result
from bus.transport.base import OutgoingRecord
from bus.transport.embedded import EmbeddedTransport
from contracts import examples
from contracts.base import Family
from contracts.receipts import ReceiptHandled, ReceiptReceived, ReceiptRejected
from contracts.topics import family_topic
from tests.unit.cli.conftest import Ran, Setup, alert_story, bus_env, case_story, run_story

CASE = "JS-CASE-2024-031"


def _last_pending(lines: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per answered-or-shown event id: who was pending on the last line about it."""
    last: dict[str, list[str]] = {}
    for line in lines:
        about = line["answers"]["ce_id"] if line["answers"] else line["event_id"]
        last[about] = line["pending"]
    return last


def test_watch_case_lines_are_verified_and_answered(
    setup: Setup, silian: Callable[..., Ran]
) -> None:
    asyncio.run(run_story(setup, case_story(), cases=(CASE,)))
    ran = silian("watch", "case", CASE, "--no-follow", "--json", "--agency", examples.JIANGSHAN)
    assert ran.code == 0, ran.err
    lines = ran.json_lines()
    events = [line for line in lines if not line["answers"]]
    assert [e["event_type"] for e in events] == [
        "case.opened",
        "case.member_joined",
        "case.lead_shared",
        "case.note",
        "case.closed",
    ]
    assert all(line["verified"] for line in lines)
    assert events[0]["agency_name"] == "江山市公安局"
    assert events[0]["event_label"] == "立案协查"
    assert events[0]["pending"] == [examples.PUCHENG]  # before Pucheng's receipts are read
    assert events[0]["time"].endswith("+08:00")
    receipts = [line for line in lines if line["answers"]]
    assert receipts, "answers on the receipt topic show up as lines"
    assert all(pending == [] for pending in _last_pending(lines).values())


def test_watch_alerts_text_view(setup: Setup, silian: Callable[..., Ran]) -> None:
    asyncio.run(run_story(setup, alert_story()))
    ran = silian("watch", "alerts", "--no-follow", "--agency", examples.GUANGFENG)
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    issued = next(line for line in lines if "预警发布 alert.issued" in line)
    assert "江山市公安局" in issued
    assert "JS-ALERT-2024-0117 浙H·12345" in issued
    assert "✔ 已验证 verified" in issued
    assert "待回复 pending: 浦城县公安局, 上饶市公安局广丰分局" in issued
    assert any("预警命中 alert.hit" in line and "浦城县公安局" in line for line in lines)
    assert not any("✘" in line for line in lines)
    json_lines = silian("watch", "alerts", "--no-follow", "--json", "--agency", examples.PUCHENG)
    assert all(pending == [] for pending in _last_pending(json_lines.json_lines()).values())


async def _tamper_first_alert(setup: Setup) -> None:
    """Append a copy of the first alert record with one byte of its value changed."""
    transport = EmbeddedTransport(setup.state / "embedded.sqlite")
    async with transport:
        topic = family_topic(setup.fed.federation_id, Family.ALERT)
        async with transport.consumer(group_id="tamper", topics=[topic]) as consumer:
            original = (await consumer.fetch(max_records=1, timeout=1))[0]
        value = original.value.replace(b"12345", b"12346")
        assert value != original.value
        await transport.send(
            OutgoingRecord(topic=topic, key=original.key, value=value, headers=original.headers)
        )


def test_watch_marks_a_tampered_record(setup: Setup, silian: Callable[..., Ran]) -> None:
    asyncio.run(run_story(setup, alert_story()))
    asyncio.run(_tamper_first_alert(setup))
    ran = silian("watch", "alerts", "--no-follow", "--json", "--agency", examples.PUCHENG)
    assert ran.code == 0, ran.err
    lines = ran.json_lines()
    refused = [line for line in lines if not line["verified"]]
    assert len(refused) == 1
    assert refused[0]["reason"] == "bad-signature"
    assert refused[0]["outcome"] == "quarantined"
    text = silian("watch", "alerts", "--no-follow", "--agency", examples.PUCHENG).out
    assert "✘ 隔离 quarantined: bad-signature" in text


def test_no_from_beginning_shows_only_new_events(setup: Setup, silian: Callable[..., Ran]) -> None:
    asyncio.run(run_story(setup, alert_story()))
    ran = silian(
        "watch", "alerts", "--no-follow", "--no-from-beginning", "--agency", examples.JIANGSHAN
    )
    assert ran.code == 0, ran.err
    assert ran.out == ""


def test_a_watcher_whose_reader_went_away_stops(setup: Setup) -> None:
    asyncio.run(run_story(setup, alert_story()))
    env = {**os.environ, **bus_env(setup.root)}
    env.pop("SILIAN_KAFKA_BOOTSTRAP", None)
    watcher = subprocess.Popen(
        [str(Path(sys.executable).with_name("silian")), "watch", "alerts", "--json",
         "--agency", examples.PUCHENG],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    assert watcher.stdout is not None
    assert watcher.stderr is not None
    try:
        assert json.loads(watcher.stdout.readline())["event_type"] == "alert.issued"
        watcher.stdout.close()  # `silian watch alerts | head -1`
        asyncio.run(_tamper_first_alert(setup))  # one more line to show: nobody reads it
        assert watcher.wait(timeout=60) == 0  # following forever no more
        # Nothing went wrong: at most the warning about the tampered record, if the watcher
        # had written every earlier line before its reader went away.
        errors = [line for line in watcher.stderr.read().splitlines() if b'"warning"' not in line]
        assert errors == []
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
        watcher.stderr.close()


def _answers_follow_their_events(lines: list[dict[str, Any]]) -> None:
    shown: set[str] = set()
    for line in lines:
        if line["answers"]:
            assert line["answers"]["ce_id"] in shown, "an answer shown before its event"
        else:
            shown.add(line["event_id"])


def test_watch_shows_every_answer_after_its_event_and_the_same_on_every_run(
    setup: Setup, silian: Callable[..., Ran]
) -> None:
    asyncio.run(run_story(setup, alert_story()))
    runs = [
        silian("watch", "alerts", "--no-follow", "--json", "--agency", examples.PUCHENG)
        for _ in range(3)
    ]
    assert all(ran.code == 0 for ran in runs)
    assert runs[0].out == runs[1].out == runs[2].out
    lines = runs[0].json_lines()
    _answers_follow_their_events(lines)
    assert all(line["verified"] for line in lines)  # nothing unrelated, nothing unverified


async def _watched_results(setup: Setup) -> tuple[list[Result], Board]:
    """Every result a watcher of the alerts reads, and a fresh board with its rule."""
    fed = setup.fed
    async with EmbeddedTransport(setup.state / "embedded.sqlite") as transport:
        config = BusConfig(
            agency=examples.PUCHENG, federation=fed.federation_id, state_dir=setup.root / "scratch"
        )
        bus = Bus(config, transport=transport, agreements=fed.agreements, keystore=fed.keystore)
        async with bus:
            topics = [family_topic(fed.federation_id, f) for f in (Family.ALERT, Family.RECEIPT)]
            results: list[Result] = []
            async with Watcher(bus, topics=topics) as watcher:
                while not watcher.caught_up or not results:
                    results += [result for result, _ in await watcher.poll(timeout=0.5)]

            def recipients(result: Result) -> list[str]:
                assert result.event is not None
                assert result.time is not None
                ctx = bus.context
                return ctx.recipients(
                    result.event,
                    ctx.handling_of(result.event),
                    result.time,
                    issuer=result.source or "",
                )

            board = Board(recipients, receipt_topic=topics[1])
            return results, board


def test_answers_read_before_their_event_wait_for_it(setup: Setup) -> None:
    """The receipt topic fetched first (as Kafka may): no answer is lost, none shown early."""
    asyncio.run(run_story(setup, alert_story()))
    results, board = asyncio.run(_watched_results(setup))
    receipts = [r for r in results if r.coordinates.topic.endswith(".receipt.v1")]
    events = [r for r in results if r not in receipts]
    assert receipts
    assert events
    lines = [line for result in (*receipts, *events) for line in board.add(result)]
    assert sorted(id(r) for r, _ in lines) == sorted(id(r) for r in results)  # every one shown
    shown: set[str] = set()
    for result, _pending in lines:
        event = result.event
        if isinstance(event, ReceiptReceived | ReceiptHandled | ReceiptRejected):
            assert event.answers.ce_id in shown
        elif result.event_id is not None:
            shown.add(result.event_id)
    assert lines[-1][1] == []  # the last answer leaves nobody pending
