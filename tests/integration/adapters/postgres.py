"""How the test suite finds a real PostgreSQL for the database adapter.

1. ``SILIAN_POSTGRES_DSN`` — a server someone else runs (``scripts/postgres.sh start``
   starts one from Debian's packages and prints this DSN; ``.ci/run`` exports it);
2. otherwise skip with the reason — or fail when ``SILIAN_REQUIRE_POSTGRES=1`` (CI).

Each test gets a schema of its own in that database, dropped afterwards, and a URL whose
``search_path`` points at it, so tests neither see nor disturb one another.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest

__all__ = ["postgres_dsn", "postgres_schema_url"]


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The DSN of a real PostgreSQL; skipped (or failed under SILIAN_REQUIRE_POSTGRES=1)."""
    if dsn := os.environ.get("SILIAN_POSTGRES_DSN"):
        return dsn
    reason = "no PostgreSQL: set SILIAN_POSTGRES_DSN (scripts/postgres.sh start prints one)"
    if os.environ.get("SILIAN_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"SILIAN_REQUIRE_POSTGRES=1 but {reason}")
    pytest.skip(reason)


def with_search_path(dsn: str, schema: str) -> str:
    """``dsn`` with libpq's ``options=-csearch_path=<schema>`` added to its query."""
    parts = urlsplit(dsn)
    option = "options=" + quote(f"-csearch_path={schema}", safe="")
    query = f"{parts.query}&{option}" if parts.query else option
    return urlunsplit(parts._replace(query=query))


@pytest.fixture
def postgres_schema_url(postgres_dsn: str) -> Iterator[str]:
    """A URL into a fresh, empty schema of the test database; dropped after the test."""
    schema = f"silian_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(postgres_dsn, schema)
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
