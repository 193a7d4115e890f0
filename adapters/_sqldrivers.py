"""SQLite and PostgreSQL behind one small async interface, for :mod:`adapters.database`.

Both run the same SQL, written with ``?`` placeholders. SQLite is the stdlib ``sqlite3`` in
worker threads; PostgreSQL is ``psycopg`` 3's async connection.
"""

from __future__ import annotations

import abc
import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import psycopg

from adapters.base import LocalUnavailableError
from bus.errors import NotConnectedError

__all__ = ["Connection", "NotStarted", "RefusedError", "Statement", "open_connection"]

_T = TypeVar("_T")
Statement = tuple[str, Sequence[Any]]
# SQLSTATE classes a local system uses to refuse data: 22 data exception, 23 integrity
# constraint violation, P0001 a trigger's RAISE EXCEPTION.
_REFUSING_SQLSTATES = ("22", "23", "P0001")


class RefusedError(Exception):
    """The local database refused a write; the message is its reason."""


async def open_connection(url: str, *, timeout: float, label: str) -> Connection:
    """Connect to ``sqlite:///<path>`` or a ``postgresql://`` URI; ``label`` names it in errors.

    Raises :class:`LocalUnavailableError` when the database cannot be reached or opened.
    """
    if url.startswith("sqlite:///"):
        return await Sqlite.open(url.removeprefix("sqlite:///"), timeout=timeout, label=label)
    return await Postgres.open(url, timeout=timeout, label=label)


@contextmanager
def _unavailable_on(errors: tuple[type[Exception], ...], label: str) -> Iterator[None]:
    """Turn a driver's "cannot reach the database" errors into LocalUnavailableError."""
    try:
        yield
    except errors as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise LocalUnavailableError(f"{label}: {reason}") from None


class Connection(abc.ABC):
    """What the adapter needs from a driver. SQL uses ``?`` placeholders throughout."""

    @abc.abstractmethod
    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abc.abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    @abc.abstractmethod
    async def guarded(self, guard: Statement, then: Sequence[Statement]) -> bool:
        """In one transaction run ``guard``, then ``then`` only if ``guard`` changed a row.

        Returns whether it did; raises :class:`RefusedError` when a constraint refuses.
        """

    @abc.abstractmethod
    async def columns(self, table: str) -> frozenset[str]:
        """The column names of ``table``; empty when there is no such table."""

    @abc.abstractmethod
    async def script(self, sql: str) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class NotStarted(Connection):
    """Stands in until :meth:`adapters.database.DatabaseSystem.start`, and after stop."""

    def _fail(self) -> NotConnectedError:
        return NotConnectedError("the database adapter is not started; call start() first")

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise self._fail()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        raise self._fail()

    async def guarded(self, guard: Statement, then: Sequence[Statement]) -> bool:
        raise self._fail()

    async def columns(self, table: str) -> frozenset[str]:
        raise self._fail()

    async def script(self, sql: str) -> None:
        raise self._fail()

    async def close(self) -> None:
        return None


class Sqlite(Connection):
    """One ``sqlite3`` connection used from worker threads, one statement group at a time.

    A thread lock, not an asyncio one: a cancelled await leaves its thread running.
    """

    def __init__(self, connection: sqlite3.Connection, label: str) -> None:
        self._connection = connection
        self._label = label
        self._lock = threading.Lock()

    @classmethod
    async def open(cls, path: str, *, timeout: float, label: str) -> Sqlite:
        def connect() -> sqlite3.Connection:
            # OperationalError: the file cannot be opened, or stays locked past the timeout
            with _unavailable_on((sqlite3.OperationalError,), label):
                connection = sqlite3.connect(
                    path, timeout=timeout, isolation_level=None, check_same_thread=False
                )
                connection.execute("PRAGMA foreign_keys = ON")  # the schema's REFERENCES hold
                # SQLite keeps any bytes in a TEXT column; one row of bad UTF-8 must not
                # fail the whole query: its text keeps the bad bytes as surrogates, and
                # the adapter refuses that row alone.
                connection.text_factory = _lenient_text
                return connection

        return cls(await asyncio.to_thread(connect), label)

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        def locked() -> _T:
            with self._lock, _unavailable_on((sqlite3.OperationalError,), self._label):
                return work(self._connection)

        return await asyncio.to_thread(locked)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self._run(lambda db: db.execute(sql, params).fetchall())

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._run(lambda db: db.execute(sql, params).rowcount)

    async def guarded(self, guard: Statement, then: Sequence[Statement]) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            db.execute("BEGIN IMMEDIATE")  # take the write lock now: check-then-insert is atomic
            try:
                changed = db.execute(*guard).rowcount > 0
                for statement in then if changed else ():
                    db.execute(*statement)
            except sqlite3.IntegrityError as error:
                db.execute("ROLLBACK")
                raise RefusedError(str(error)) from None
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return changed

        return await self._run(work)

    async def columns(self, table: str) -> frozenset[str]:
        rows = await self.query("SELECT name FROM pragma_table_info(?)", (table,))
        return frozenset(str(row[0]) for row in rows)

    async def script(self, sql: str) -> None:
        await self._run(lambda db: db.executescript(sql))

    async def close(self) -> None:
        await self._run(lambda db: db.close())


class Postgres(Connection):
    """One ``psycopg`` async connection in autocommit mode; reopened if it breaks."""

    def __init__(self, url: str, *, timeout: float, label: str) -> None:
        self._url = url
        self._timeout = max(1, round(timeout))
        self._label = label
        self._lock = asyncio.Lock()
        self._connection: psycopg.AsyncConnection[tuple[Any, ...]] | None = None

    @classmethod
    async def open(cls, url: str, *, timeout: float, label: str) -> Postgres:
        self = cls(url, timeout=timeout, label=label)
        async with self._session():
            pass
        return self

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[Any, ...]]]:
        """The connection, to one caller at a time; a new one if the last broke.

        OperationalError (refused or lost connection, server shutting down, lock timeout)
        becomes LocalUnavailableError.
        """
        async with self._lock:
            with _unavailable_on((psycopg.OperationalError,), self._label):
                connection = self._connection
                if connection is None or connection.closed or connection.broken:
                    connection = await psycopg.AsyncConnection.connect(
                        self._url, autocommit=True, connect_timeout=self._timeout
                    )
                    self._connection = connection
                yield connection

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._session() as connection:
            return await (await connection.execute(_pg(sql), params)).fetchall()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._session() as connection:
            return (await connection.execute(_pg(sql), params)).rowcount

    async def guarded(self, guard: Statement, then: Sequence[Statement]) -> bool:
        async with self._session() as connection:
            try:
                async with connection.transaction():
                    cursor = await connection.execute(_pg(guard[0]), guard[1])
                    if cursor.rowcount == 0:
                        return False
                    for sql, params in then:
                        await connection.execute(_pg(sql), params)
            except psycopg.Error as error:
                if (error.sqlstate or "").startswith(_REFUSING_SQLSTATES):
                    raise RefusedError(error.diag.message_primary or str(error)) from None
                raise
            return True

    async def columns(self, table: str) -> frozenset[str]:
        rows = await self.query(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
        return frozenset(str(row[0]) for row in rows)

    async def script(self, sql: str) -> None:
        async with self._session() as connection:
            await connection.execute(sql)  # no params: several statements, and % is literal

    async def close(self) -> None:
        async with self._lock:
            if self._connection is not None:
                await self._connection.close()


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _pg(sql: str) -> str:
    """The adapter's ``?`` placeholders as psycopg's ``%s`` (its own SQL has no ``%``)."""
    return sql.replace("?", "%s")
