"""The database adapter against a real PostgreSQL (``scripts/postgres.sh start``).

Runs every contract test of ``tests/unit/adapters/test_database_sqlite.py`` again, here
with a ``database_url`` into a fresh schema holding Pucheng's PostgreSQL reference schema,
plus what only a server shows: ids that commit out of order, a dropped connection.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from adapters.base import LocalUnavailableError
from adapters.database import DatabaseConfig, DatabaseSystem
from adapters.reference import pucheng_app as app
from tests.integration.adapters.postgres import postgres_dsn, postgres_schema_url
from tests.unit.adapters.test_database_sqlite import *  # noqa: F403 - the shared contract tests
from tests.unit.adapters.test_database_sqlite import INBOUND, Systems, alert, hit

__all__ = ["postgres_dsn", "postgres_schema_url"]

pytestmark = pytest.mark.postgres


@pytest.fixture
def deep_levels() -> int:
    """PostgreSQL 15 refuses jsonb deeper than its max_stack_depth allows (~10,000 levels
    by default): 5,000 is still far deeper than Python's JSON parser can recurse."""
    return 5_000


@pytest.fixture
def database_url(postgres_schema_url: str) -> str:
    with psycopg.connect(postgres_schema_url, autocommit=True) as connection:
        app.create_schema(connection)
    return postgres_schema_url


async def test_a_lower_id_committed_later_is_not_skipped(
    app_db: app.Connection, database_url: str, systems: Systems
) -> None:
    """Serial ids are drawn before commit: the per-row cursor still takes the late row."""
    system = await systems()
    with psycopg.connect(database_url, autocommit=True) as slow:
        with slow.transaction():
            late_id = app.add_hit(app.Transaction(slow), **hit(1))
            early_id = app.record_hit(app_db, **hit(2))
            assert late_id < early_id
            (visible,) = await system.fetch_outbound()
            assert visible.fields["hit_id"].endswith(f"-H-{early_id}")
            await system.confirm_outbound(visible)
        (late,) = await system.fetch_outbound()
    assert late.fields["hit_id"].endswith(f"-H-{late_id}")


async def test_a_dropped_connection_is_unavailable_then_recovers(
    postgres_dsn: str, database_url: str
) -> None:
    name = f"silian-victim-{uuid.uuid4().hex[:8]}"
    config = DatabaseConfig(url=f"{database_url}&application_name={name}", inbound_tables=INBOUND)
    system = DatabaseSystem(config)
    await system.start()
    try:
        await system.write_inbound(alert("evt-1"))
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (name,),
            )
        with pytest.raises(LocalUnavailableError, match=r"postgresql://.*:\*\*\*@"):
            await system.write_inbound(alert("evt-2"))
        await system.write_inbound(alert("evt-2"))  # a new connection; the event applies once
        assert (await system.health())["inbox_applied"] == 2
    finally:
        await system.stop()
