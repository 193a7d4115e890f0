"""REFERENCE LOCAL SYSTEM, for the demo and the tests — not part of silian.

Pucheng's own case-system application, reduced to what the database adapter relies on:
every business change it makes writes one ``silian_outbox`` row **in the same
transaction**, so the change and its outbound event commit or vanish together. The
schema is ``pucheng_schema.sqlite.sql`` / ``pucheng_schema.postgres.sql`` beside this file.

It is written as such an application would be — plain DB-API, synchronous — against
either ``sqlite3`` or ``psycopg``; silian's adapter never imports it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

__all__ = [
    "SCHEMAS",
    "Transaction",
    "add_dispute_settlement",
    "add_hit",
    "connect",
    "create_schema",
    "record_dispute_settlement",
    "record_hit",
    "transaction",
]

_HERE = Path(__file__).parent
SCHEMAS = {
    "sqlite": _HERE / "pucheng_schema.sqlite.sql",
    "postgresql": _HERE / "pucheng_schema.postgres.sql",
}
AGENCY = "350722000000"

Connection = sqlite3.Connection | psycopg.Connection[tuple[Any, ...]]


def connect(url: str) -> Connection:
    """Open the app's own connection: ``sqlite:///path`` or a ``postgresql://`` URI."""
    if url.startswith("sqlite:///"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("PRAGMA foreign_keys = ON")
        return connection
    return psycopg.connect(url, autocommit=True)


def create_schema(connection: Connection) -> None:
    """Create Pucheng's tables (idempotent)."""
    if isinstance(connection, sqlite3.Connection):
        connection.executescript(SCHEMAS["sqlite"].read_text(encoding="utf-8"))
    else:
        connection.execute(SCHEMAS["postgresql"].read_text(encoding="utf-8"))


class Transaction:
    """One open transaction of the app: business rows and their outbox rows."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._mark = "?" if isinstance(connection, sqlite3.Connection) else "%s"

    def insert(self, table: str, values: Mapping[str, Any]) -> int:
        """Insert one row; return its ``id``."""
        names = ", ".join(values)
        marks = ", ".join(self._mark for _ in values)
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING id"  # noqa: S608 - our own names
        row = self._connection.execute(sql, tuple(values.values())).fetchone()
        assert row is not None  # noqa: S101 - RETURNING always yields the row
        return int(row[0])

    def enqueue(self, kind: str, local_id: str, payload: Mapping[str, Any]) -> int:
        """The outbound event of this change, committed with it or not at all."""
        return self.insert(
            "silian_outbox",
            {
                "kind": kind,
                "local_id": local_id,
                "payload": json.dumps(payload, ensure_ascii=False),
            },
        )


@contextmanager
def transaction(connection: Connection) -> Iterator[Transaction]:
    """``BEGIN`` … ``COMMIT``, or ``ROLLBACK`` if the block raises."""
    if isinstance(connection, sqlite3.Connection):
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(connection)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
    else:
        with connection.transaction():
            yield Transaction(connection)


def add_hit(
    tx: Transaction, *, alert_id: str, seen_at: str, place: str, action_taken: str, officer: str
) -> int:
    """An officer enters a hit (sighting) against an alert: the hit row and its outbox row."""
    fields = {
        "alert_id": alert_id,
        "seen_at": seen_at,
        "place": place,
        "action_taken": action_taken,
        "officer": officer,
    }
    hit_id = tx.insert("hits", fields)
    tx.enqueue("hit", str(hit_id), {"hit_id": f"{AGENCY}-H-{hit_id}", **fields})
    return hit_id


def add_dispute_settlement(
    tx: Transaction,
    *,
    dispute_id: str,
    agreement_text: str,
    paper_record_sha256: str,
    settled_at: str,
) -> int:
    """A mediator records a signed settlement: the dispute row and its outbox row."""
    fields = {
        "dispute_id": dispute_id,
        "agreement_text": agreement_text,
        "paper_record_sha256": paper_record_sha256,
        "settled_at": settled_at,
    }
    row_id = tx.insert("disputes", fields)
    tx.enqueue("dispute_settled", str(row_id), fields)
    return row_id


def record_hit(connection: Connection, **hit: str) -> int:
    """:func:`add_hit` in a transaction of its own."""
    with transaction(connection) as tx:
        return add_hit(tx, **hit)


def record_dispute_settlement(connection: Connection, **settlement: str) -> int:
    """:func:`add_dispute_settlement` in a transaction of its own."""
    with transaction(connection) as tx:
        return add_dispute_settlement(tx, **settlement)
