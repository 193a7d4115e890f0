"""``silian status`` (事事有回音) and ``silian serve --once`` answering in between."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bus.cli import status as status_module
from bus.envelope.ids import now
from contracts import examples
from contracts.alerts import AlertIssued
from tests.unit.cli.conftest import Ran, Setup


def _publish_alert(setup: Setup, silian: Callable[..., Ran]) -> str:
    assert silian("topics", "apply").code == 0
    event = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    path = setup.root / "alert.json"
    path.write_text(event.model_dump_json(), encoding="utf-8")
    ran = silian(
        "publish", str(path), "--type", "alert.issued", "--agency", examples.JIANGSHAN, "--json"
    )
    assert ran.code == 0, ran.err
    event_id: str = ran.json()["event_id"]
    return event_id


def _effects(state: Path, agency: str) -> list[tuple[str, str]]:
    with sqlite3.connect(state / agency / "effects.sqlite") as db:
        return [(str(r[0]), str(r[1])) for r in db.execute("SELECT ce_id, ce_type FROM effects")]


def test_status_follows_the_answers(setup: Setup, silian: Callable[..., Ran]) -> None:
    event_id = _publish_alert(setup, silian)
    waiting = silian("status", "--agency", examples.JIANGSHAN)
    assert waiting.code == 0, waiting.err
    assert "预警发布 alert.issued  JS-ALERT-2024-0117  [urgent]" in waiting.out
    assert "浦城县公安局 (350722000000)  未回复 no answer" in waiting.out
    assert "OVERDUE" not in waiting.out

    assert silian("serve", "--once", "--agency", examples.PUCHENG).code == 0
    assert _effects(setup.state, examples.PUCHENG) == [(event_id, "cn.silian.alert.issued.v1")]
    assert silian("serve", "--once", "--agency", examples.JIANGSHAN).code == 0
    report = silian("status", "--agency", examples.JIANGSHAN, "--json")
    assert report.code == 0
    (event,) = report.json()["events"]
    assert event["event_id"] == event_id
    assert event["time"].endswith("+08:00")
    assert event["due"].endswith("+08:00")
    states = {r["agency"]: r["state"] for r in event["recipients"]}
    assert states == {examples.PUCHENG: "handled", examples.GUANGFENG: "no answer"}
    assert event["open"] == [examples.GUANGFENG]

    assert silian("serve", "--once", "--agency", examples.GUANGFENG).code == 0
    assert silian("serve", "--once", "--agency", examples.JIANGSHAN).code == 0
    done = silian("status", "--agency", examples.JIANGSHAN)
    assert done.code == 0
    assert done.out.strip() == (
        "nothing awaiting answers: every recipient answered the 1 event(s) asking for "
        "answers (silian status --all shows them)"
    )
    every = silian("status", "--agency", examples.JIANGSHAN, "--all")
    assert every.code == 0
    assert "JS-ALERT-2024-0117" in every.out
    assert "全部回复 all answered" in every.out
    assert "浦城县公安局 (350722000000)  已处理 handled" in every.out
    report = silian("status", "--agency", examples.JIANGSHAN, "--all", "--json").json()
    assert (report["waiting"], report["answered"], len(report["events"])) == (0, 1, 1)


def test_overdue_exits_one(
    setup: Setup, silian: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish_alert(setup, silian)
    assert silian("status", "--agency", examples.JIANGSHAN, "--overdue-only").out.strip() == (
        "nothing overdue: 1 event(s) still wait for answers, none past its deadline"
    )
    later = now() + timedelta(hours=2)  # an urgent alert's deadline is far shorter
    monkeypatch.setattr(status_module, "now", lambda: later)
    ran = silian("status", "--agency", examples.JIANGSHAN)
    assert ran.code == 1
    assert "OVERDUE 已超时" in ran.out
    report = silian("status", "--agency", examples.JIANGSHAN, "--overdue-only", "--json")
    assert report.code == 1
    assert report.json()["overdue"] == 1
    assert report.json()["events"][0]["overdue"] is True


def test_status_needs_an_agency(setup: Setup, silian: Callable[..., Ran]) -> None:
    ran = silian("status")
    assert ran.code == 2
    assert ran.err.startswith("silian: error: which agency is this?")
