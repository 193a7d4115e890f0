"""The runner's loops are total (issue 10): nothing a record or a fault can do stops them,
and the health report never says ``ok`` while one is failing or gone.

Real parts throughout — the embedded bus, the reference local systems, real files and
locks; a patch only where the fault cannot be made for real (a task ending anyway).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from adapters._liveness import BrokerWatch
from adapters.demo import guangfeng_export, wait_for
from adapters.mapping import Mapping
from adapters.reference import pucheng_app
from bus.transport.base import OutgoingRecord, Transport
from bus.transport.partitioner import partition_for_key
from contracts.base import Family
from contracts.topics import family_topic
from tests.unit.adapters.http_server import Answer, Request, serve
from tests.unit.adapters.scene import Logs, Running, agencies, alert_fields

JIANGSHAN, PUCHENG = "330881000000", "350722000000"


def alert_arrived(db: pucheng_app.Connection, alert_no: str) -> bool:
    row = db.execute("SELECT 1 FROM alerts_received WHERE alert_id LIKE ?", (f"%{alert_no}",))
    return row.fetchone() is not None


async def healthy(running: Running) -> dict[str, Any] | None:
    report = await running.health()
    return report if report["status"] == "ok" else None


# -- the link loop (item 1) ----------------------------------------------------------------


async def test_an_unforeseen_link_failure_is_logged_shown_in_words_and_retried(
    tmp_path: Path,
) -> None:
    """The link task caught only TransportError: anything else ended it with no log line,
    ``health.json`` kept saying ``ok, connected`` and the outbox grew for good. The fault
    here is real: another process holds the write lock of Jiangshan's bus store, so each
    publish fails (sqlite3.OperationalError after the store's 5 s busy timeout)."""
    logs = Logs()
    async with agencies(tmp_path) as scene:
        jiangshan, _ = scene.start("jiangshan"), scene.start("pucheng")
        db = pucheng_app.connect(f"sqlite:///{tmp_path / 'pucheng.db'}")
        scene.rest.create("alert", alert_fields("JS-LINK-1"))
        await wait_for(lambda: alert_arrived(db, "JS-LINK-1"))

        store = tmp_path / "state" / JIANGSHAN / f"{JIANGSHAN}.sqlite"
        lock = sqlite3.connect(store, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the write lock, held
        scene.rest.create("alert", alert_fields("JS-LINK-2"))

        async def failing() -> dict[str, Any] | None:
            report = await jiangshan.health()
            return report if "unforeseen" in str(report["bus"]["error"]) else None

        report = await wait_for(failing, timeout=60)
        assert report["status"] == "degraded"
        assert report["bus"]["connected"] is False
        assert report["bus"]["error"] == (
            "the bus link failed in an unforeseen way (OperationalError); the adapter log "
            "has the details; retrying with a back-off"
        )
        assert report["tasks"] == dict.fromkeys(("local", "link", "watch", "health"), "running")
        assert report["outbox_pending"] == 1  # the alert waits, kept
        written = await wait_for(lambda: "unforeseen" in str(scene.health_file("jiangshan")))
        assert written
        # logged with its traceback, and tried again (a second failure after a back-off)
        await wait_for(lambda: len(logs.lines("link.failed")) >= 2, timeout=60)
        failure = logs.lines("link.failed")[0]
        assert failure["level"] == "error"
        assert "Traceback" in failure["exception"]
        assert "database is locked" in failure["exception"]

        lock.execute("ROLLBACK")  # the fault ends: the alert goes out, the report recovers
        lock.close()
        await wait_for(lambda: alert_arrived(db, "JS-LINK-2"), timeout=60)
        recovered = await wait_for(lambda: healthy(jiangshan), timeout=30)
        assert recovered["bus"] == {**recovered["bus"], "connected": True, "error": None}
        assert recovered["outbox_pending"] == 0
        assert logs.lines("link.recovered")
        db.close()


async def test_a_task_that_ends_is_named_and_the_report_degraded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task ending before stop (here the broker watch: every loop is total, so the fault
    is injected) must show in the report, which then says degraded, never ok."""
    logs = Logs()

    async def broken(self: BrokerWatch, stop: asyncio.Event) -> None:
        await self.ask_once()
        raise RuntimeError("the watch broke")

    monkeypatch.setattr(BrokerWatch, "run", broken)
    async with agencies(tmp_path) as scene:
        pucheng = scene.start("pucheng")

        async def ended() -> dict[str, Any] | None:
            report = await pucheng.health()
            return report if report["tasks"].get("watch", "running") != "running" else None

        report = await wait_for(ended)
        assert report["status"] == "degraded"
        assert report["tasks"] == {
            "local": "running",
            "link": "running",
            "watch": "ended: the task failed in an unforeseen way (RuntimeError); the "
            "adapter log has the details",
            "health": "running",
        }
        (line,) = await wait_for(lambda: logs.lines("adapter.task_ended"))
        assert line["task"] == "watch"
        assert "RuntimeError: the watch broke" in line["exception"]
        await wait_for(lambda: scene.health_file("pucheng").get("tasks", {}).get("watch", "")
                       .startswith("ended"))  # fmt: skip


async def poison_the_alert_topic(
    transport: Transport, federation: str, *, bad_names: bool = True
) -> int:
    """A tombstone, a null header value and (``bad_names``: aiokafka's producer cannot
    write one) a header name that is not UTF-8 at the head of every partition of the
    alert topic, as a client of the broker may write them. Returns how many."""
    topic = family_topic(federation, Family.ALERT)
    partitions = (await transport.describe_topics([topic]))[topic].partitions
    keys: dict[int, bytes] = {}
    for n in range(1000):
        keys.setdefault(partition_for_key(f"k{n}".encode(), partitions), f"k{n}".encode())
    sent = 0
    for key in keys.values():
        poison = [
            OutgoingRecord(topic=topic, key=key, value=None),
            OutgoingRecord(topic=topic, key=key, value=b"{}", headers=(("ce_id", None),)),
        ]
        if bad_names:
            poison.append(
                OutgoingRecord(topic=topic, key=key, value=b"{}", headers=(("\udcff", b"x"),))
            )
        for record in poison:
            await transport.send(record)
            sent += 1
    return sent


def quarantined_by(logs: Logs, agency: str) -> list[dict[str, Any]]:
    return [line for line in logs.lines("inbound.quarantined") if line.get("agency") == agency]


async def test_poison_records_ahead_of_an_alert_stop_nothing_on_the_embedded_bus(
    tmp_path: Path,
) -> None:
    logs = Logs()
    async with agencies(tmp_path) as scene:
        pucheng, _ = scene.start("pucheng"), scene.start("jiangshan")
        await wait_for(lambda: healthy(pucheng))
        poisoned = await poison_the_alert_topic(scene.transport, scene.federation)
        db = pucheng_app.connect(f"sqlite:///{tmp_path / 'pucheng.db'}")
        scene.rest.create("alert", alert_fields("JS-POISON-1"))
        await wait_for(lambda: alert_arrived(db, "JS-POISON-1"))
        await wait_for(lambda: len(quarantined_by(logs, PUCHENG)) >= poisoned)
        report = await wait_for(lambda: healthy(pucheng))
        assert report["bus"]["connected"] is True
        assert set(report["tasks"].values()) == {"running"}
        db.close()


# -- local records that cannot become events (item 2) --------------------------------------


def _dispute_row(number: str, category: str = "山林") -> list[str]:
    return ["纠纷上报", number, category, "张三", "361103", "村民", "李四", "330881", "村民",
            "361103", "广丰—江山交界处山林", "两村村民因山林界址发生争执"]  # fmt: skip


async def test_a_record_the_mapping_fails_on_unforeseen_is_set_aside_and_the_rest_flow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anything but BadLocalDataError from the mapping failed the record on every retry,
    holding up every record behind it, with the raw exception text in health. (Every
    known way is fixed, so the fault is injected: a mapping that crashes on one record.)"""
    logs = Logs()
    to_event = Mapping.to_event

    def crashing(self: Mapping, record: Any) -> Any:
        if record.fields.get("纠纷编号") == "GF-CRASH-1":
            raise RuntimeError("the mapping broke on this one")
        return to_event(self, record)

    monkeypatch.setattr(Mapping, "to_event", crashing)
    async with agencies(tmp_path) as scene:
        folder = tmp_path / "guangfeng"
        name = "20300506-crash.csv"
        guangfeng_export(folder / "outbox", name, [_dispute_row("GF-CRASH-1"),
                                                   _dispute_row("GF-CRASH-2")])  # fmt: skip
        guangfeng = scene.start("guangfeng")
        await wait_for((folder / "archive" / name).exists)
        note = (folder / "rejected" / f"{name}.2.reason.txt").read_text(encoding="utf-8")
        assert note.splitlines()[0] == (
            f"{folder / 'outbox' / name} row 2: cannot become an event: the mapping failed in "
            "an unforeseen way (RuntimeError); the adapter log has the details"
        )
        report = await wait_for(lambda: _published(guangfeng, 1))
        assert report["set_aside"] == 1
        assert report["local"]["error"] is None
        assert "the mapping broke" not in str(report)  # the message is the log's
        (line,) = logs.lines("local.unmappable")
        assert "RuntimeError: the mapping broke on this one" in line["exception"]


async def _published(running: Running, count: int) -> dict[str, Any] | None:
    report = await running.health()
    return report if report["published"] >= count and report["status"] == "ok" else None


async def test_a_change_without_a_cursor_is_set_aside_and_the_rest_flow(tmp_path: Path) -> None:
    """A REST change with no cursor raised KeyError in every fetch (``KeyError: 'cursor'``
    in health): no change behind it ever went out."""
    alert = {"id": "JS-1", "type": "alert", "data": alert_fields("JS-CURSOR-1")}

    async def case_system(request: Request) -> Answer:
        if request.path == "/api/changes":
            changes = [{"id": "JS-0", "type": "alert", "data": {}}, {**alert, "cursor": 2}]
            after = int(request.query.get("after", "0"))
            listed = [] if after >= 2 else changes
            return Answer(body=json.dumps({"changes": listed}).encode())
        return Answer(status=201, body=b"{}")

    async with serve(case_system) as server, agencies(tmp_path) as scene:
        jiangshan = scene.start("jiangshan", scene.config("jiangshan", base_url=server.url))
        scene.start("pucheng")
        db = pucheng_app.connect(f"sqlite:///{tmp_path / 'pucheng.db'}")
        await wait_for(lambda: alert_arrived(db, "JS-CURSOR-1"))
        report = await wait_for(lambda: _published(jiangshan, 1))
        assert report["set_aside"] == 1
        assert report["local"]["error"] is None
        assert report["local"]["cursor"] == 2
        assert not [r for r in server.requests if r.method == "POST"]  # nothing to name
        db.close()


# -- a record set aside before a restart (item 6) ------------------------------------------


async def test_a_row_set_aside_before_a_restart_is_set_aside_again_not_taken(
    tmp_path: Path,
) -> None:
    """The runner stored the set-aside, then stopped before the file drop was told: after
    the restart the row was taken as stored (``confirm_outbound``) and the export archived
    as published, with no note in ``rejected/``. The fault is real: a folder stands where
    the note goes, so writing it fails."""
    async with agencies(tmp_path) as scene:
        folder = tmp_path / "guangfeng"
        name = "20300506-aside.csv"
        blocker = folder / "rejected" / f"{name}.2.reason.txt"
        blocker.mkdir(parents=True)
        (blocker / "in the way").write_text("x", encoding="utf-8")
        guangfeng_export(folder / "outbox", name, [_dispute_row("GF-ASIDE-1", "宅基地")])
        first = scene.start("guangfeng")

        async def kept() -> bool:
            return bool((await first.health())["set_aside"] == 1)

        await wait_for(kept)  # in the runner's state; the note could not be written
        assert blocker.is_dir()
        await first.halt()

        for item in blocker.iterdir():
            item.unlink()
        blocker.rmdir()
        again = scene.start("guangfeng")  # the row is handed over again
        await wait_for((folder / "archive" / name).exists)
        note = blocker.read_text(encoding="utf-8")
        assert "unknown code '宅基地'" in note.splitlines()[0]
        report = await again.health()
        assert (report["set_aside"], report["published"], report["outbox_pending"]) == (1, 0, 0)


# -- shutdown while the local system is away (item 7) --------------------------------------


async def _receipt(running: Running, alert_no: str, what: str) -> bool:
    receipts = await running.runner.bus.store.receipts()
    return any(r.subject == alert_no and getattr(r, what) is not None for r in receipts)


async def test_a_stop_while_the_local_system_is_away_leaves_the_event_for_the_next_start(
    tmp_path: Path,
) -> None:
    """A handler that raises anything but a refusal is retried, then its record is
    quarantined; shutting down while Pucheng's database is locked must instead leave the
    alert unread (``StoppingError`` is a ``RedeliverError``), for the next start."""
    logs = Logs()
    async with agencies(tmp_path) as scene:
        jiangshan = scene.start("jiangshan")
        pucheng = scene.start("pucheng", scene.config("pucheng", timeout=0.5))
        await wait_for(lambda: healthy(pucheng))
        lock = sqlite3.connect(tmp_path / "pucheng.db", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # another writer holds the database: it is "away"
        scene.rest.create("alert", alert_fields("JS-AWAY-1"))
        await wait_for(lambda: _receipt(jiangshan, "JS-AWAY-1", "received_at"))

        async def away() -> dict[str, Any] | None:
            report = await pucheng.health()
            return report if "locked" in str(report["local"]["error"]) else None

        await wait_for(away)
        await pucheng.halt()
        lock.execute("ROLLBACK")
        lock.close()
        db = pucheng_app.connect(f"sqlite:///{tmp_path / 'pucheng.db'}")
        assert not alert_arrived(db, "JS-AWAY-1")

        scene.start("pucheng")  # the next start reads the alert again and writes it
        await wait_for(lambda: alert_arrived(db, "JS-AWAY-1"))
        await wait_for(lambda: _receipt(jiangshan, "JS-AWAY-1", "handled_at"))
        assert not quarantined_by(logs, PUCHENG)
        assert not logs.lines("handler.failed")
        db.close()
