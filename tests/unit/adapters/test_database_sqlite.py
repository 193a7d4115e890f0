"""The database adapter against real SQLite files and Pucheng's reference schema.

The tests named in ``__all__`` are the adapter's contract: ``test_database_postgres.py``
imports them and runs them again against a real PostgreSQL, with its own
``database_url`` fixture. The rest are SQLite- or configuration-specific.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.base import InboundEvent, LocalUnavailableError
from adapters.database import DatabaseConfig, DatabaseSystem
from adapters.reference import pucheng_app as app
from bus.errors import ConfigError, EventRejectedError, NotConnectedError

__all__ = [
    "app_db",
    "deep_levels",
    "systems",
    "test_adapter_restart_resumes_at_the_cursor",
    "test_bad_outbox_rows_are_set_aside_with_the_reason",
    "test_business_rule_refusal_is_kept_and_raised_again",
    "test_check_constraint_refusal",
    "test_concurrent_app_writers_lose_and_repeat_nothing",
    "test_deeply_nested_payload_is_set_aside_and_the_rest_flow",
    "test_events_for_unknown_kinds_or_columns_are_refused",
    "test_health_counts",
    "test_inbound_is_applied_once",
    "test_missing_tables_fail_at_start",
    "test_outbox_is_read_in_id_order",
    "test_outbox_row_and_business_row_commit_together",
    "test_runner_set_aside_takes_a_row_out_for_good",
    "test_two_adapters_writing_the_same_events_apply_each_once",
    "test_unconfirmed_records_come_back",
    "test_use_before_start_is_a_clear_error",
]

INBOUND = {"alert": "alerts_received", "dispute_settled": "disputes", "note": ""}
Systems = Callable[..., Awaitable[DatabaseSystem]]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'pucheng.db'}"
    connection = app.connect(url)
    app.create_schema(connection)
    connection.close()
    return url


@pytest.fixture
def deep_levels() -> int:
    """How deeply nested a payload the database keeps (SQLite: any; a test of another
    database overrides it): deeper than Python's JSON parser can recurse (1,000)."""
    return 100_000


@pytest.fixture
def app_db(database_url: str) -> Iterator[app.Connection]:
    """The local app's own connection to its database."""
    connection = app.connect(database_url)
    yield connection
    connection.close()


@pytest.fixture
async def systems(database_url: str) -> AsyncIterator[Systems]:
    """Start adapters on the test database (options override the defaults); stop them all."""
    started: list[DatabaseSystem] = []

    async def start(**options: Any) -> DatabaseSystem:
        options.setdefault("inbound_tables", INBOUND)
        system = DatabaseSystem(DatabaseConfig(url=database_url, **options))
        await system.start()
        started.append(system)
        return system

    yield start
    for system in started:
        await system.stop()


def rows(db: app.Connection, sql: str) -> list[tuple[Any, ...]]:
    return list(db.execute(sql).fetchall())


def hit(n: int) -> dict[str, str]:
    return {
        "alert_id": f"330881-A-{n}",
        "seen_at": "2026-11-20T09:30:00+08:00",
        "place": "浦城县富岭镇 G205 国道",
        "action_taken": "盘查，已通知签发单位",
        "officer": "350722-0042",
    }


def alert(event_id: str, **changes: str) -> InboundEvent:
    fields = {
        "alert_id": "330881000000-A-7",
        "division": "350722",
        "subject": "王某，男，约35岁，灰色夹克",
        "reason": "涉嫌电信诈骗",
        "priority": "urgent",
        "review_at": "2026-12-20T00:00:00+08:00",
    }
    return InboundEvent(
        event_id=event_id,
        source="330881000000",
        ce_type="cn.silian.alert.issued.v1",
        kind="alert",
        fields={**fields, **changes},
    )


# -- outbound ------------------------------------------------------------------------------


async def test_outbox_row_and_business_row_commit_together(app_db: app.Connection) -> None:
    def entry_cancelled_after_both_inserts() -> None:
        with app.transaction(app_db) as tx:
            app.add_hit(tx, **hit(1))
            raise RuntimeError("officer cancelled")

    with pytest.raises(RuntimeError, match="officer cancelled"):
        entry_cancelled_after_both_inserts()
    assert rows(app_db, "SELECT count(*) FROM hits") == [(0,)]
    assert rows(app_db, "SELECT count(*) FROM silian_outbox") == [(0,)]

    hit_id = app.record_hit(app_db, **hit(2))
    assert rows(app_db, "SELECT kind, local_id FROM silian_outbox") == [("hit", str(hit_id))]


async def test_outbox_is_read_in_id_order(app_db: app.Connection, systems: Systems) -> None:
    hit_ids = [app.record_hit(app_db, **hit(n)) for n in range(3)]
    app.record_dispute_settlement(
        app_db,
        dispute_id="350722-D-5",
        agreement_text="双方同意按界桩重新划定地界",
        paper_record_sha256="ab" * 32,
        settled_at="2026-11-21T15:00:00+08:00",
    )
    system = await systems(batch_size=10)
    records = await system.fetch_outbound()
    assert [r.kind for r in records] == ["hit", "hit", "hit", "dispute_settled"]
    outbox_ids = [int(r.local_id.removeprefix("silian_outbox:")) for r in records]
    assert outbox_ids == sorted(outbox_ids)
    assert records[0].where == f"table silian_outbox row {outbox_ids[0]}"
    assert records[1].fields == {"hit_id": f"350722000000-H-{hit_ids[1]}", **hit(1)}
    assert records[3].fields["paper_record_sha256"] == "ab" * 32


async def test_unconfirmed_records_come_back(app_db: app.Connection, systems: Systems) -> None:
    for n in range(2):
        app.record_hit(app_db, **hit(n))
    system = await systems()
    first = await system.fetch_outbound()
    await system.confirm_outbound(first[0])
    await system.confirm_outbound(first[0])  # twice: harmless
    again = await system.fetch_outbound()
    assert again == first[1:]


async def test_adapter_restart_resumes_at_the_cursor(
    app_db: app.Connection, systems: Systems
) -> None:
    for n in range(5):
        app.record_hit(app_db, **hit(n))
    system = await systems(batch_size=3)
    taken = await system.fetch_outbound()
    assert len(taken) == 3
    for record in taken[:2]:
        await system.confirm_outbound(record)
    await system.stop()

    restarted = await systems(batch_size=3)
    resumed = await restarted.fetch_outbound()
    assert resumed[0].local_id == taken[2].local_id
    assert [r.fields["alert_id"] for r in resumed] == ["330881-A-2", "330881-A-3", "330881-A-4"]


async def test_bad_outbox_rows_are_set_aside_with_the_reason(
    app_db: app.Connection, systems: Systems
) -> None:
    app_db.execute(
        "INSERT INTO silian_outbox (kind, local_id, payload) VALUES ('hit', '90', '[1, 2]')"
    )
    app_db.execute(
        "INSERT INTO silian_outbox (kind, local_id, payload)"
        " VALUES ('hit', '91', '{\"alert_id\": \"330881-A-1\"}')"
    )
    app_db.execute("INSERT INTO silian_outbox (kind, local_id, payload) VALUES ('', '92', '{}')")
    app.record_hit(app_db, **hit(3))
    system = await systems(required_fields={"hit": ("alert_id", "seen_at", "place")})

    records = await system.fetch_outbound()
    assert [r.fields["alert_id"] for r in records] == ["330881-A-3"]
    aside = rows(
        app_db,
        "SELECT local_id, set_aside_reason FROM silian_outbox"
        " WHERE set_aside_at IS NOT NULL ORDER BY id",
    )
    assert aside == [
        ("90", "payload is not a JSON object"),
        ("91", "hit lacks field(s) seen_at, place"),
        ("92", "kind is empty"),
    ]
    assert await system.fetch_outbound() == records  # set aside rows stay out


async def test_deeply_nested_payload_is_set_aside_and_the_rest_flow(
    app_db: app.Connection, systems: Systems, deep_levels: int
) -> None:
    """Issue 10: a payload nested 100,000 levels deep raised RecursionError in every
    fetch, so no row behind it ever went out."""
    deep = '{"alert_id": "330881-A-1", "place": ' + "[" * deep_levels + "]" * deep_levels + "}"
    outbox = app.Transaction(app_db)
    outbox.insert("silian_outbox", {"kind": "hit", "local_id": "90", "payload": deep})
    app.record_hit(app_db, **hit(3))
    system = await systems(batch_size=10)
    records = await system.fetch_outbound()
    assert [r.fields["alert_id"] for r in records] == ["330881-A-3"]
    ((local_id, reason),) = rows(
        app_db,
        "SELECT local_id, set_aside_reason FROM silian_outbox WHERE set_aside_at IS NOT NULL",
    )
    assert local_id == "90"
    assert reason == (
        "payload nests arrays and objects deeper than 64 levels; set max_json_depth higher "
        "if that is expected"
    )
    shallow = await systems(max_json_depth=2)  # the limit is the setting's
    await system.confirm_outbound(records[0])
    app.record_hit(app_db, **hit(4))
    assert [r.fields["alert_id"] for r in await shallow.fetch_outbound()] == ["330881-A-4"]
    nested = '{"alert_id": "330881-A-5", "place": [[["G205"]]]}'
    outbox.insert("silian_outbox", {"kind": "hit", "local_id": "91", "payload": nested})
    assert len(await system.fetch_outbound()) == 2  # 4 levels: well within the default
    assert [r.fields["alert_id"] for r in await shallow.fetch_outbound()] == ["330881-A-4"]


async def test_runner_set_aside_takes_a_row_out_for_good(
    app_db: app.Connection, systems: Systems
) -> None:
    for n in range(2):
        app.record_hit(app_db, **hit(n))
    system = await systems()
    first, second = await system.fetch_outbound()
    await system.set_aside(first, "unknown code 'XX'\nin field place")
    assert await system.fetch_outbound() == [second]
    assert rows(
        app_db, "SELECT set_aside_reason FROM silian_outbox WHERE set_aside_at IS NOT NULL"
    ) == [("unknown code 'XX' in field place",)]
    with pytest.raises(ValueError, match="is not a record of silian_outbox"):
        await system.confirm_outbound(type(first)(local_id="x:1", kind="hit", fields={}, where=""))


async def test_concurrent_app_writers_lose_and_repeat_nothing(
    database_url: str, app_db: app.Connection, systems: Systems
) -> None:
    """Two officers' sessions write while the adapter drains: each row once, ids ascending."""
    per_writer = 25

    def officer(name: str) -> None:
        connection = app.connect(database_url)
        try:
            for n in range(per_writer):
                app.record_hit(connection, **{**hit(n), "officer": name})
        finally:
            connection.close()

    system = await systems(batch_size=7)
    writers = asyncio.gather(*(asyncio.to_thread(officer, o) for o in ("甲", "乙")))
    seen: list[tuple[int, str, str]] = []
    while True:
        finished = writers.done()
        batch = await system.fetch_outbound()
        for record in batch:
            row_id = int(record.local_id.removeprefix("silian_outbox:"))
            seen.append((row_id, record.fields["officer"], record.fields["alert_id"]))
            await system.confirm_outbound(record)
        if finished and not batch:
            break
        await asyncio.sleep(0.005)
    await writers
    assert len(seen) == len({row_id for row_id, _, _ in seen}) == 2 * per_writer
    for name in ("甲", "乙"):  # each session's changes arrive in the order it made them
        alerts = [alert_id for _, officer, alert_id in seen if officer == name]
        assert alerts == [f"330881-A-{n}" for n in range(per_writer)]
    assert rows(app_db, "SELECT count(*) FROM silian_outbox WHERE sent_at IS NULL") == [(0,)]


# -- inbound -------------------------------------------------------------------------------


async def test_inbound_is_applied_once(app_db: app.Connection, systems: Systems) -> None:
    system = await systems()
    await system.write_inbound(alert("evt-1"))
    await system.write_inbound(alert("evt-1"))
    assert rows(app_db, "SELECT alert_id, division, silian_event_id FROM alerts_received") == [
        ("330881000000-A-7", "350722", "evt-1")
    ]
    assert rows(app_db, "SELECT event_id, source, status FROM silian_inbox") == [
        ("evt-1", "330881000000", "applied")
    ]


async def test_business_rule_refusal_is_kept_and_raised_again(
    app_db: app.Connection, systems: Systems
) -> None:
    system = await systems()
    elsewhere = alert("evt-2", division="361103")  # Guangfeng's division, not Pucheng's
    with pytest.raises(match="alerts_received refused alert: alert for"):
        await system.write_inbound(elsewhere)
    with pytest.raises(match="does not serve"):
        await system.write_inbound(elsewhere)  # the same answer for the same event
    assert rows(app_db, "SELECT count(*) FROM alerts_received") == [(0,)]
    ((status, reason),) = rows(app_db, "SELECT status, reason FROM silian_inbox")
    assert status == "rejected"
    assert "does not serve" in reason


async def test_check_constraint_refusal(app_db: app.Connection, systems: Systems) -> None:
    system = await systems()
    with pytest.raises(match=r"(?i)alerts_received refused alert: .*check"):
        await system.write_inbound(alert("evt-3", priority="whenever"))
    await system.write_inbound(alert("evt-4"))  # the next event is unaffected
    assert rows(app_db, "SELECT silian_event_id FROM alerts_received") == [("evt-4",)]


async def test_events_for_unknown_kinds_or_columns_are_refused(
    app_db: app.Connection, systems: Systems
) -> None:
    system = await systems()
    patrol = InboundEvent(
        event_id="evt-5", source="361103000000", ce_type="cn.silian.patrol.planned.v1",
        kind="patrol", fields={"route": "G205"},
    )  # fmt: skip
    with pytest.raises(match="no inbound table is configured for kind"):
        await system.write_inbound(patrol)
    with pytest.raises(match=r"no column.*'colour'"):
        await system.write_inbound(alert("evt-6", colour="灰"))
    note = InboundEvent(
        event_id="evt-7", source="361103000000", ce_type="cn.silian.case.note.v1",
        kind="note", fields={"text": "inbox only"},
    )  # fmt: skip
    await system.write_inbound(note)
    assert rows(app_db, "SELECT event_id, status FROM silian_inbox ORDER BY event_id") == [
        ("evt-5", "rejected"),
        ("evt-6", "rejected"),
        ("evt-7", "applied"),
    ]


async def test_two_adapters_writing_the_same_events_apply_each_once(
    app_db: app.Connection, systems: Systems
) -> None:
    first, second = await systems(), await systems()
    events = [alert(f"evt-{n}", alert_id=f"330881000000-A-{n}") for n in range(20)]
    await asyncio.gather(
        *(first.write_inbound(e) for e in events), *(second.write_inbound(e) for e in events)
    )
    assert rows(
        app_db, "SELECT count(*), count(DISTINCT silian_event_id) FROM alerts_received"
    ) == [(20, 20)]
    assert rows(app_db, "SELECT count(*) FROM silian_inbox") == [(20,)]


# -- lifecycle and health ------------------------------------------------------------------


async def test_health_counts(app_db: app.Connection, systems: Systems) -> None:
    for n in range(3):
        app.record_hit(app_db, **hit(n))
    system = await systems()
    records = await system.fetch_outbound()
    await system.confirm_outbound(records[0])
    await system.set_aside(records[1], "bad place code")
    await system.write_inbound(alert("evt-1"))
    with pytest.raises(EventRejectedError):
        await system.write_inbound(alert("evt-2", division="330881"))
    health = await system.health()
    assert {k: v for k, v in health.items() if k not in {"backend", "database"}} == {
        "outbox_pending": 1,
        "outbox_set_aside": 1,
        "inbox_applied": 1,
        "inbox_rejected": 1,
    }


async def test_use_before_start_is_a_clear_error(database_url: str) -> None:
    system = DatabaseSystem(DatabaseConfig(url=database_url))
    with pytest.raises(NotConnectedError, match=r"not started; call start\(\) first"):
        await system.fetch_outbound()
    await system.start()
    await system.stop()
    with pytest.raises(NotConnectedError):
        await system.write_inbound(alert("evt-1"))


async def test_missing_tables_fail_at_start(systems: Systems) -> None:
    with pytest.raises(ConfigError, match="table cases_received does not exist"):
        await systems(inbound_tables={"case": "cases_received"})
    with pytest.raises(ConfigError, match=r"table hits lacks column.*silian_event_id"):
        await systems(inbound_tables={"hit": "hits"})
    with pytest.raises(ConfigError, match=r"table hits lacks column\(s\) kind, local_id, payload"):
        await systems(outbox_table="hits")


# -- SQLite only ---------------------------------------------------------------------------


async def test_payload_that_is_not_json_is_set_aside(
    app_db: app.Connection, systems: Systems
) -> None:
    app_db.execute("INSERT INTO silian_outbox (kind, local_id, payload) VALUES ('hit', '1', '{')")
    system = await systems()
    assert await system.fetch_outbound() == []
    ((reason,),) = rows(app_db, "SELECT set_aside_reason FROM silian_outbox")
    assert reason.startswith("payload is not valid JSON (Expecting property name")


async def test_a_payload_of_bad_utf8_is_set_aside_not_a_stop(
    app_db: app.Connection, systems: Systems
) -> None:
    """SQLite keeps any bytes in a TEXT column; the driver failed the whole query on them."""
    app_db.execute(
        "INSERT INTO silian_outbox (kind, local_id, payload)"
        " VALUES ('hit', 'bad', CAST(X'7B22616C6572745F6964223A2022FF227D' AS TEXT))"
    )
    app.record_hit(app_db, **hit(2))
    system = await systems()
    assert [r.fields["alert_id"] for r in await system.fetch_outbound()] == ["330881-A-2"]
    ((reason,),) = rows(app_db, "SELECT set_aside_reason FROM silian_outbox WHERE local_id = 'bad'")
    assert reason == "payload is not valid UTF-8 text"


async def test_init_sql_creates_the_reference_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    config = DatabaseConfig(url=url, inbound_tables=INBOUND, init_sql=app.SCHEMAS["sqlite"])
    system = DatabaseSystem(config)
    await system.start()
    await system.write_inbound(alert("evt-1"))
    await system.stop()
    await system.start()  # the schema exists now: not applied again
    assert (await system.health())["inbox_applied"] == 1
    await system.stop()


async def test_a_locked_database_is_unavailable_not_refused(
    database_url: str, systems: Systems
) -> None:
    system = await systems(timeout=0.2)
    blocker = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LocalUnavailableError, match="database is locked"):
            await system.write_inbound(alert("evt-1"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await system.write_inbound(alert("evt-1"))  # and works once the lock is gone


async def test_unreadable_database_file_is_unavailable(tmp_path: Path) -> None:
    system = DatabaseSystem(DatabaseConfig(url=f"sqlite:///{tmp_path / 'no' / 'such.db'}"))
    with pytest.raises(LocalUnavailableError, match="unable to open database file"):
        await system.start()


def test_config_from_section(tmp_path: Path) -> None:
    config = DatabaseConfig.from_section(
        {
            "url": "sqlite:///state/pucheng.db",
            "poll_seconds": 2,
            "inbound_tables": {"alert": "alerts_received"},
            "required_fields": {"hit": ["alert_id"]},
            "batch_size": 50,
            "init_sql": "schema.sql",
        },
        base_dir=tmp_path,
    )
    assert config.url == f"sqlite:///{tmp_path}/state/pucheng.db"
    assert config.required_fields == {"hit": ("alert_id",)}
    assert config.init_sql == tmp_path / "schema.sql"
    assert config.batch_size == 50
    assert config.timeout == 10.0
    absolute = DatabaseConfig.from_section({"url": "sqlite:////srv/p.db"}, base_dir=tmp_path)
    assert absolute.url == "sqlite:////srv/p.db"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "p.toml \\[local\\]: url is missing or of the wrong type"),
        ({"url": "mysql://x"}, "url must start with sqlite:///"),
        ({"url": "sqlite:///a", "batch": 1}, "unknown database option\\(s\\) batch"),
        ({"url": "sqlite:///a", "batch_size": 0}, "batch_size and timeout must be positive"),
        ({"url": "sqlite:///a", "batch_size": True}, "batch_size is missing or of the wrong"),
        ({"url": "sqlite:///a", "inbox_table": "inbox; DROP"}, "invalid table or column"),
        ({"url": "sqlite:///a", "inbound_tables": {"alert": 3}}, "table names \\(text\\)"),
    ],
)
def test_config_errors_name_the_section(
    tmp_path: Path, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        DatabaseConfig.from_section(settings, base_dir=tmp_path, source="p.toml [local]")


def test_postgres_password_is_redacted_from_errors_and_health() -> None:
    config = DatabaseConfig(url="postgresql://silian:s3cret@127.0.0.1:1/db")
    assert config.backend == "postgresql"
    system = DatabaseSystem(config)
    with pytest.raises(LocalUnavailableError) as raised:
        asyncio.run(system.start())
    assert "s3cret" not in str(raised.value)
    assert "postgresql://silian:***@127.0.0.1:1/db" in str(raised.value)
