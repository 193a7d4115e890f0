"""The one way silian keeps state in SQLite: how a store's file is opened, and how it is used.

Opening (:func:`connect`, for every store):

1. the file is made private (:mod:`bus.state.private`) *before* SQLite opens it, so the
   ``-wal`` and ``-shm`` SQLite makes beside it take its mode;
2. WAL, so readers never block the writer;
3. ``synchronous=FULL``, so a commit is on disk before the call returns (in WAL mode
   ``NORMAL`` may lose the last commits to a power cut). Every store holds state that is
   written *ahead* of something that cannot be taken back:

   * the local store (:mod:`bus.state.store`): a chain head before its record is sent (a
     head lost would hand its seq out twice: a fork of the chain), a record's ledger line
     and "processed" row before its offset is committed;
   * the adapter's outbox (:mod:`adapters.outbox`): an outbound event before the local
     system is told it was taken;
   * the embedded transport's log (:mod:`bus.transport._sqlite`): a record before its
     send is acknowledged;
   * ``silian serve``'s effects (:mod:`bus.cli.serve`): an effect before the consumer
     marks the event processed (an effect lost then would never be applied again);
   * the Merkle log (:mod:`bus.tlog.log`): leaves before a checkpoint of them is signed
     and handed to witnesses;

4. a busy timeout (:attr:`Layout.busy_timeout`): how long a writer waits for another
   connection's write lock, for the files several connections or processes share;
5. the store's schema and small migrations, in one write transaction: two processes
   opening one file at once never migrate it twice.

Running (:class:`Database`, the async stores): one connection on a worker thread of its
own, one call at a time in the order they were made; the event loop never waits for
SQLite, and a store in use does not take threads from the loop's default executor. A
never-opened or closed ``Database`` raises NotConnectedError with the store's own words.
:class:`bus.tlog.log.MerkleLog`, which is used from the log keeper's worker thread, takes
the connection :func:`connect` returns as it is.

Errors are SQLite's own (``sqlite3.Error``); each store turns them into what it says.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

from bus.errors import NotConnectedError
from bus.state.private import private_database, private_folder, private_parents

__all__ = [
    "Database",
    "Folder",
    "Layout",
    "Row",
    "SqliteStore",
    "Statement",
    "connect",
    "write_transaction",
]

T = TypeVar("T")
Row = tuple[Any, ...]
Statement = tuple[str, Sequence[object]]


class Folder(Enum):
    """What opening a store does to the folder its file is in."""

    # silian's own state folder: made 0700 (with its missing parents), or refused when it
    # is open to group or others (bus.state.private.private_folder).
    OWN = "own"
    # a folder someone chose (``--embedded FILE``, the log keeper's state folder, made
    # private by the keeper): missing folders are made 0700, an existing one is left alone.
    GIVEN = "given"


@dataclass(frozen=True, kw_only=True, slots=True)
class Layout:
    """How one store's file is opened: its schema, its migrations, its folder, its wait."""

    # ``CREATE … IF NOT EXISTS`` statements separated by ``;`` (none holds a ``;`` inside).
    schema: str
    # Brings a file made by an earlier silian up to ``schema`` (run after it, in the same
    # write transaction): a column added, a table rebuilt.
    migrate: Callable[[sqlite3.Connection], None] | None = None
    folder: Folder = Folder.OWN
    # Seconds a writer waits for another connection's write lock before SQLite says
    # "database is locked" (5 s is also what sqlite3.connect waits when not told).
    busy_timeout: float = 5.0


def connect(path: Path, layout: Layout) -> sqlite3.Connection:
    """``path`` opened as the module docstring says, schema made and migrated.

    The connection is in autocommit mode (each statement its own transaction unless
    :func:`write_transaction` groups them) and may be used from any one thread at a time.
    """
    if layout.folder is Folder.OWN:
        private_folder(path.parent)
    else:
        private_parents(path)
    private_database(path)  # 0600 before SQLite makes its -wal beside it
    db = sqlite3.connect(
        path, timeout=layout.busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        with write_transaction(db):
            for statement in layout.schema.split(";"):
                if statement.strip():
                    db.execute(statement)
            if layout.migrate is not None:
                layout.migrate(db)
    except BaseException:
        db.close()
        raise
    return db


@contextlib.contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A transaction that holds the database's write lock from its first statement
    (``BEGIN IMMEDIATE``): what it reads cannot change under it before it writes. Rolled
    back if the block raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class Database:
    """One store's SQLite file, used from async code: ``await Database(...).open()``.

    ``not_open`` is what a call says (NotConnectedError) before :meth:`open` or after
    :meth:`close`.
    """

    def __init__(self, path: Path, layout: Layout, *, not_open: str) -> None:
        self.path = path
        self._layout = layout
        self._not_open = not_open
        self._state: _State = _NotOpen(not_open)

    async def open(self) -> Database:
        """Open the file (on the worker thread that will use it); open already: no-op."""
        if isinstance(self._state, _Open):
            return self
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{self.path.name}")
        try:
            db = await asyncio.get_running_loop().run_in_executor(
                worker, connect, self.path, self._layout
            )
        except BaseException:
            worker.shutdown(wait=False)
            raise
        self._state = _Open(db, worker)
        return self

    async def close(self) -> None:
        """Close after the calls already made; later calls raise NotConnectedError."""
        state, self._state = self._state, _NotOpen(self._not_open)
        await state.close()

    async def __aenter__(self) -> Database:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(connection)`` on the worker thread: several statements, one trip."""
        return await self._state.call(work)

    async def execute(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """One statement; the rows it returns (none for a write)."""
        return await self._state.call(lambda db: db.execute(sql, params).fetchall())

    async def change(self, sql: str, params: Sequence[object] = ()) -> int:
        """One write; how many rows it changed (0: an ``INSERT OR IGNORE`` ignored)."""
        return await self._state.call(lambda db: db.execute(sql, params).rowcount)

    async def transaction(self, statements: Iterable[Statement]) -> None:
        """Several writes in one :func:`write_transaction` and one trip to the worker."""
        batch = list(statements)

        def write(db: sqlite3.Connection) -> None:
            with write_transaction(db):
                for sql, params in batch:
                    db.execute(sql, params)

        await self._state.call(write)


class SqliteStore:
    """The base of a store kept in one SQLite file: ``async with Store(path) as store``, or
    ``await store.open()`` … ``await store.close()``; its queries go through ``self._db``."""

    def __init__(self, path: Path, layout: Layout, *, not_open: str) -> None:
        self.path = path
        self._db = Database(path, layout, not_open=not_open)

    async def open(self) -> Self:
        await self._db.open()
        return self

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _State(Protocol):
    async def call(self, work: Callable[[sqlite3.Connection], T]) -> T: ...

    async def close(self) -> None: ...


class _NotOpen:
    """The null state: every call raises NotConnectedError; closing again does nothing."""

    def __init__(self, message: str) -> None:
        self._message = message

    async def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        raise NotConnectedError(self._message)

    async def close(self) -> None:
        return None


class _Open:
    def __init__(self, db: sqlite3.Connection, worker: ThreadPoolExecutor) -> None:
        self._db = db
        self._worker = worker

    async def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        # The caller's context goes along, as with asyncio.to_thread (structlog's bound
        # fields, for one).
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self._worker, functools.partial(context.run, work, self._db)
        )

    async def close(self) -> None:
        try:
            await self.call(lambda db: db.close())
        finally:
            self._worker.shutdown(wait=False)  # its last task, the close, is done
