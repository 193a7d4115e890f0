"""The REST adapter against the reference case system, on a real loopback HTTP server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.base import InboundEvent, LocalUnavailableError
from adapters.config import LocalSection
from adapters.reference.rest_case_system import RestCaseSystem
from adapters.rest import RestConfig, RestSystem
from bus.errors import ConfigError, EventRejectedError
from tests.unit.adapters.http_server import Answer, Request, serve


@pytest.fixture
def case_system() -> Iterator[RestCaseSystem]:
    system = RestCaseSystem().start()
    yield system
    system.stop()


def _config(url: str, state: Path, **settings: Any) -> RestConfig:
    section = LocalSection(
        kind="rest", settings={"base_url": url, "timeout": 2, **settings}, base_dir=state,
        state_dir=state, source="jiangshan.toml [local]",
    )  # fmt: skip
    return RestConfig.from_section(section)


def _adapter(url: str, state: Path, **settings: Any) -> RestSystem:
    return RestSystem(_config(url, state, **settings))


async def test_changes_come_in_order_and_the_cursor_survives_a_restart(
    case_system: RestCaseSystem, tmp_path: Path
) -> None:
    adapter = _adapter(case_system.url, tmp_path)
    await adapter.start()
    case_system.create("alert", {"alert_no": "JS-1"})
    case_system.create("alert", {"alert_no": "JS-2"})
    first = await adapter.fetch_outbound()
    assert [(r.kind, r.fields["alert_no"]) for r in first] == [("alert", "JS-1"), ("alert", "JS-2")]
    assert first[0].where.endswith("/api/records/JS-ALERT-0001 (change 1)")
    await adapter.confirm_outbound(first[0])
    await adapter.stop()

    again = _adapter(case_system.url, tmp_path)  # a restart: resumes after change 1
    await again.start()
    assert [r.local_id for r in await again.fetch_outbound()] == ["change:2"]
    await again.set_aside(first[1], "field 'priority': unknown code")
    assert case_system.rejections() == [{"cursor": 2, "reason": "field 'priority': unknown code"}]
    assert await again.fetch_outbound() == []
    await again.stop()


async def test_inbound_is_idempotent_and_refusals_are_rejections(
    case_system: RestCaseSystem, tmp_path: Path
) -> None:
    adapter = _adapter(case_system.url, tmp_path)
    await adapter.start()
    hit = InboundEvent(
        event_id="E-1", source="350722000000", ce_type="cn.silian.alert.hit.v1", kind="hit",
        fields={"alert_no": "JS-1", "hit_no": "H-1", "seen_at": "2024-05-06", "place": "G205"},
    )  # fmt: skip
    await adapter.write_inbound(hit)
    await adapter.write_inbound(hit)
    assert len(case_system.inbound()) == 1
    assert case_system.records("hit")[0]["data"]["hit_no"] == "H-1"
    incomplete = InboundEvent(
        event_id="E-2", source="350722000000", ce_type="cn.silian.alert.hit.v1", kind="hit",
        fields={"alert_no": "JS-1"},
    )  # fmt: skip
    with pytest.raises(EventRejectedError, match=r"HTTP 422.*lacks hit_no, seen_at, place"):
        await adapter.write_inbound(incomplete)
    await adapter.stop()


async def test_an_unreachable_case_system_is_unavailable_not_refused(tmp_path: Path) -> None:
    system = RestCaseSystem().start()
    url = system.url
    system.stop()
    adapter = _adapter(url, tmp_path)
    await adapter.start()
    with pytest.raises(LocalUnavailableError, match="ConnectError"):
        await adapter.fetch_outbound()
    with pytest.raises(LocalUnavailableError):
        await adapter.write_inbound(
            InboundEvent(event_id="E", source="x", ce_type="t", kind="hit", fields={})
        )
    await adapter.stop()


# -- answers that must not stall or swamp the adapter (issue 10) ---------------------------

_MEGABYTE = b" " * (1 << 20)


async def test_a_trickled_answer_is_given_up_at_the_deadline(tmp_path: Path) -> None:
    """A body trickled a byte at a time never trips the per-read timeout: outbound stalled
    for as long as the case system liked (100 s in the security test)."""

    async def trickle(request: Request) -> Answer:
        async def body() -> AsyncIterator[bytes]:
            while True:
                yield b" "
                await asyncio.sleep(0.2)  # the fault itself: under the 2 s read timeout

        return Answer(headers={"Content-Length": "100000"}, chunks=body())

    async with serve(trickle) as server:
        adapter = _adapter(server.url, tmp_path, deadline=1.5)
        await adapter.start()
        with pytest.raises(LocalUnavailableError) as raised:
            await asyncio.wait_for(adapter.fetch_outbound(), timeout=30)
        assert str(raised.value) == (
            f"GET {server.url}/api/changes: no complete answer within 1.5 s (the deadline)"
        )
        await adapter.stop()


async def test_an_oversized_answer_is_given_up_at_the_cap(tmp_path: Path) -> None:
    """A 200 MB answer was read whole (711 MB RSS): now reading stops at the cap."""

    async def flood(request: Request) -> Answer:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(200):
                yield _MEGABYTE

        # no length: the body ends with the connection, so only the cap can stop it
        return Answer(headers={"Connection": "close"}, chunks=body())

    async with serve(flood) as server:
        adapter = _adapter(server.url, tmp_path, max_response_bytes=1 << 20)
        await adapter.start()
        with pytest.raises(LocalUnavailableError) as raised:
            await adapter.fetch_outbound()
        assert str(raised.value) == (
            f"GET {server.url}/api/changes: the answer is larger than max_response_bytes "
            "(1048576 bytes)"
        )
        await asyncio.wait_for(server.hung_up.wait(), timeout=30)
        # what the server could push into the sockets' buffers, not the 200 MB
        assert server.sent < 32 * len(_MEGABYTE)
        await adapter.stop()


async def test_a_declared_oversized_answer_is_not_read_at_all(tmp_path: Path) -> None:
    async def declared(request: Request) -> Answer:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(200):
                yield _MEGABYTE

        return Answer(headers={"Content-Length": str(200 * len(_MEGABYTE))}, chunks=body())

    async with serve(declared) as server:
        adapter = _adapter(server.url, tmp_path, max_response_bytes=1 << 20)
        await adapter.start()
        with pytest.raises(LocalUnavailableError, match=r"larger than .*: it says 209715200$"):
            await adapter.fetch_outbound()
        await adapter.stop()


def test_deadline_and_cap_are_checked_settings(tmp_path: Path) -> None:
    config = _config("http://127.0.0.1:1", tmp_path)
    assert (config.deadline, config.max_response_bytes, config.max_json_depth) == (
        30.0, 8 * 1024 * 1024, 64,
    )  # fmt: skip
    for settings, message in (
        ({"deadline": 0}, "timeout and deadline must be > 0 seconds"),
        ({"max_response_bytes": 0.5}, "max_response_bytes must be a whole number"),
        ({"max_json_depth": 100_000}, "max_json_depth must be a whole number from 1 to 500"),
    ):
        with pytest.raises(ConfigError, match=message):
            _config("http://127.0.0.1:1", tmp_path, **settings)


# -- changes the adapter cannot read stop nothing (issue 10) -------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


def _change(cursor: object, alert_no: str) -> dict[str, Any]:
    return {"cursor": cursor, "id": alert_no, "type": "alert", "data": {"alert_no": alert_no}}


def changes_server(changes: list[tuple[int, str]]) -> Any:
    """A case system listing ``changes`` — (order, the change's JSON text) — after the
    asked-for cursor by their order, whatever they hold."""

    async def handle(request: Request) -> Answer:
        if request.path == "/api/changes":
            after = int(request.query.get("after", "0"))
            listed = ", ".join(text for order, text in changes if order > after)
            return Answer(body=f'{{"changes": [{listed}]}}'.encode())
        return Answer(status=201, body=b'{"ok": true}')

    return serve(handle)


async def test_bad_changes_are_handed_over_unreadable_in_their_place(tmp_path: Path) -> None:
    """A change with a missing or non-integer cursor raised KeyError/ValueError in every
    fetch (raw in health: ``KeyError: 'cursor'``), and so did 100,000-deep data
    (RecursionError): no change behind them ever went out."""
    missing = _change(None, "JS-2")
    del missing["cursor"]
    deep = json.dumps(_change(4, "JS-4")).replace('"JS-4"}', f'"JS-4", "x": {DEEP}}}')
    listed = [
        (1, json.dumps(_change(1, "JS-1"))),
        (2, json.dumps(missing)),
        (3, json.dumps(_change("3", "JS-3"))),
        (4, deep),
        (5, '"not a change"'),
        (6, json.dumps(_change(6, "JS-6"))),
    ]
    async with changes_server(listed) as server:
        adapter = _adapter(server.url, tmp_path)
        await adapter.start()
        records = await adapter.fetch_outbound()
        assert [(r.local_id, r.unreadable) for r in records] == [
            ("change:1", None),
            ("change:1+1", "it has no cursor"),
            ("change:1+2", "its cursor is not a whole number ≥ 0 (got '3')"),
            (
                "change:4",
                "its data nests arrays and objects deeper than 64 levels (max_json_depth)",
            ),
            ("change:4+1", "the change is not a JSON object"),
            ("change:6", None),
        ]
        assert records[1].where == f"{server.url}/api/records/JS-2 (change 1 after 1)"
        assert records[3].where == f"{server.url}/api/records/JS-4 (change 4)"
        await adapter.confirm_outbound(records[0])
        for record in records[1:5]:
            await adapter.set_aside(record, f"{record.where}: {record.unreadable}")
        # only a change with a cursor can be named to the case system
        notes = [r for r in server.requests if r.method == "POST"]
        assert [(n.path, json.loads(n.body)["reason"]) for n in notes] == [
            ("/api/changes/4/rejection", f"{records[3].where}: {records[3].unreadable}")
        ]
        again = await adapter.fetch_outbound()  # the cursor is at 4: the rest comes again
        assert [r.local_id for r in again] == ["change:4+1", "change:6"]
        await adapter.confirm_outbound(again[1])
        assert await adapter.fetch_outbound() == []
        await adapter.stop()
