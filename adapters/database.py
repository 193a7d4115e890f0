"""The relational-database adapter: outbox and inbox tables in the agency's own database.

The local system keeps writing its own tables. Outbound, it also writes one row into an
outbox table in the same transaction as each business change; this adapter reads pending
rows in id order and marks each one ``sent_at`` once the runner holds it, so a restart
resumes where it stopped (the cursor lives in the database, per row: ids are drawn before
commit, so a lower id may become visible after a higher one and a high-water mark would
skip it). Inbound, each event becomes one inbox row (primary key: the event id) and one
business row, in one transaction; a second delivery changes nothing. A refusal by the
local system (a CHECK, a foreign key, a trigger's ``RAISE``) is kept in the inbox with
status ``rejected`` and the reason, and raised as :class:`bus.errors.EventRejectedError`. A database
that cannot be reached (connection refused or lost, a SQLite lock held past ``timeout``)
raises :class:`~adapters.base.LocalUnavailableError`; the next call connects again.

SQLite (stdlib ``sqlite3`` in a worker thread) and PostgreSQL (``psycopg`` 3, async) run
the same SQL. The tables it needs are in ``docs/adapters-database.md``; a reference local
system lives in ``adapters/reference/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from adapters._json import TooDeepError, loads_bounded
from adapters._runtime import unforeseen
from adapters._sqldrivers import Connection, NotStarted, RefusedError, Statement, open_connection
from adapters.base import (
    DEFAULT_MAX_JSON_DEPTH,
    MAX_JSON_DEPTH_LIMIT,
    BadLocalDataError,
    InboundEvent,
    LocalRecord,
    LocalSystem,
)
from bus.errors import ConfigError, EventRejectedError
from bus.logs import get_logger

__all__ = ["DatabaseConfig", "DatabaseSystem"]

log = get_logger("silian.adapters.database")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_OUTBOX_COLUMNS = frozenset({"id", "kind", "local_id", "payload", "sent_at", "set_aside_at",
                             "set_aside_reason"})  # fmt: skip
_INBOX_COLUMNS = frozenset({"event_id", "source", "ce_type", "kind", "fields", "status", "reason"})
_REASON_LIMIT = 1000
# "kind" and "poll_seconds" are the runner's (adapters.config)
_OPTIONS = frozenset({"kind", "poll_seconds", "url", "inbound_tables", "outbound_kinds",
                      "required_fields", "outbox_table", "inbox_table", "event_id_column",
                      "batch_size", "timeout", "init_sql", "max_json_depth"})  # fmt: skip


@dataclass(frozen=True, kw_only=True, slots=True)
class DatabaseConfig:
    """The ``[local]`` section of an agency whose ``kind = "database"``; see the adapter."""

    url: str
    inbound_tables: Mapping[str, str] = field(default_factory=dict)
    outbound_kinds: tuple[str, ...] = ()
    required_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    outbox_table: str = "silian_outbox"
    inbox_table: str = "silian_inbox"
    event_id_column: str = "silian_event_id"
    batch_size: int = 100
    timeout: float = 10.0
    init_sql: Path | None = None
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH

    def __post_init__(self) -> None:
        if not self.url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ConfigError(
                "database url must start with sqlite:///, postgresql:// or postgres://"
            )
        tables = [self.outbox_table, self.inbox_table, *filter(None, self.inbound_tables.values())]
        if not all(isinstance(name, str) for name in [*tables, *self.inbound_tables]):
            raise ConfigError("database inbound_tables must map kinds to table names (text)")
        for name in [*tables, *filter(None, [self.event_id_column])]:
            if not _IDENTIFIER.fullmatch(name):
                raise ConfigError(f"database option names an invalid table or column: {name!r}")
        if self.batch_size < 1 or self.timeout <= 0:
            raise ConfigError("database batch_size and timeout must be positive")
        if not 1 <= self.max_json_depth <= MAX_JSON_DEPTH_LIMIT:
            raise ConfigError(
                f"database max_json_depth must be a whole number from 1 to {MAX_JSON_DEPTH_LIMIT}"
            )

    @property
    def backend(self) -> str:
        return "sqlite" if self.url.startswith("sqlite:") else "postgresql"

    @classmethod
    def from_section(
        cls, settings: Mapping[str, Any], *, base_dir: Path, source: str = "[local]"
    ) -> DatabaseConfig:
        """Build from the ``[local]`` table of an agency's TOML (``kind`` already checked).

        Relative paths (a SQLite file, ``init_sql``) are under ``base_dir``; errors start
        with ``source`` (e.g. ``"pucheng.toml [local]"``).
        """

        def get(key: str, kind: Any, default: Any) -> Any:
            value = settings.get(key, default)
            if value is None or isinstance(value, bool) or not isinstance(value, kind):
                raise ConfigError(f"{source}: {key} is missing or of the wrong type")
            return value

        if unknown := sorted(set(settings) - _OPTIONS):
            raise ConfigError(f"{source}: unknown database option(s) {', '.join(unknown)}")
        url = get("url", str, None)
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            url = f"sqlite:///{base_dir / url.removeprefix('sqlite:///')}"
        init_sql = get("init_sql", str, "")
        try:
            return cls(
                url=url,
                inbound_tables=get("inbound_tables", dict, {}),
                outbound_kinds=tuple(get("outbound_kinds", list, [])),
                required_fields={
                    str(kind): tuple(names)
                    for kind, names in get("required_fields", dict, {}).items()
                },
                outbox_table=get("outbox_table", str, "silian_outbox"),
                inbox_table=get("inbox_table", str, "silian_inbox"),
                event_id_column=get("event_id_column", str, "silian_event_id"),
                batch_size=get("batch_size", int, 100),
                timeout=float(get("timeout", int | float, 10.0)),
                init_sql=base_dir / init_sql if init_sql else None,
                max_json_depth=get("max_json_depth", int, DEFAULT_MAX_JSON_DEPTH),
            )
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None


class DatabaseSystem(LocalSystem):
    """A local system that is a relational database (SQLite or PostgreSQL).

    Options (``[local]`` with ``kind = "database"``; :class:`DatabaseConfig`):

    * ``url``: ``sqlite:///path/to/file.db`` (relative to the config file) or
      ``postgresql://user:password@host:port/dbname`` (libpq URI);
    * ``inbound_tables``: event kind → business table it becomes, e.g.
      ``{ alert = "alerts_received" }``; ``""`` keeps that kind in the inbox table only; an
      event of an unlisted kind is refused;
    * ``outbound_kinds``: the kinds of outbox row expected (others are set aside); empty
      accepts any;
    * ``required_fields``: kind → payload fields that must be present, else set aside;
    * ``outbox_table`` / ``inbox_table``: default ``silian_outbox`` / ``silian_inbox``;
    * ``event_id_column``: the business tables' column that receives the event id
      (default ``silian_event_id``; ``""`` for none);
    * ``batch_size``: outbox rows per :meth:`fetch_outbound` (default 100);
    * ``timeout``: seconds to wait for a connection or a SQLite lock (default 10);
    * ``init_sql``: a schema file run once at start when the outbox table is missing;
    * ``max_json_depth``: how deeply arrays and objects may nest in a payload (default
      64); a deeper one is set aside before it is parsed.

    Outbound records carry ``local_id = "<outbox_table>:<row id>"`` (one per change) and
    ``where = "table <outbox_table> row <id>"``.
    """

    def __init__(self, config: DatabaseConfig) -> None:
        self._config = config
        self._db: Connection = NotStarted()
        self._columns: dict[str, frozenset[str]] = {}

    async def start(self) -> None:
        config = self._config
        label = _redacted(config.url)
        db = await open_connection(config.url, timeout=config.timeout, label=label)
        try:
            self._columns = await self._check_schema(db)
        except BaseException:
            await db.close()
            raise
        previous, self._db = self._db, db  # start() twice: the first connection is closed
        await previous.close()

    async def stop(self) -> None:
        db, self._db = self._db, NotStarted()
        await db.close()

    async def fetch_outbound(self) -> list[LocalRecord]:
        outbox = self._config.outbox_table
        # The payload as text, parsed here: a driver's own JSON parsing (psycopg's of
        # jsonb) would recurse into a deeply nested one before anything could refuse it.
        rows = await self._db.query(
            f"SELECT id, kind, CAST(payload AS TEXT) FROM {outbox} WHERE sent_at IS NULL"  # noqa: S608 - checked identifier
            " AND set_aside_at IS NULL ORDER BY id LIMIT ?",
            (self._config.batch_size,),
        )
        records = []
        for row_id, kind, payload in rows:
            try:
                records.append(self._record(int(row_id), kind, payload))
            except BadLocalDataError as error:
                reason = str(error).removeprefix(f"{error.where}: ")
                log.warning("database.set_aside", where=error.where, reason=reason)
                await self._mark_aside(int(row_id), reason)
            except Exception as error:  # one row must not stop the rest
                log.exception("database.unreadable", row=row_id)
                await self._mark_aside(int(row_id), unforeseen("reading this row", error))
        return records

    async def confirm_outbound(self, record: LocalRecord) -> None:
        await self._db.execute(
            f"UPDATE {self._config.outbox_table} SET sent_at = CURRENT_TIMESTAMP"  # noqa: S608
            " WHERE id = ? AND sent_at IS NULL",
            (self._row_id(record),),
        )

    async def set_aside(self, record: LocalRecord, reason: str) -> None:
        await self._mark_aside(self._row_id(record), reason)

    async def write_inbound(self, event: InboundEvent) -> None:
        table = self._config.inbound_tables.get(event.kind)
        try:
            business = self._business_insert(event, table)
            changed = await self._db.guarded(self._inbox_insert(event, None), business)
        except RefusedError as refused:
            reason = _one_line(f"{table or 'inbox'} refused {event.kind}: {refused}")
            changed = await self._db.guarded(self._inbox_insert(event, reason), [])
            if changed:
                log.warning("database.rejected", event_id=event.event_id, reason=reason)
                raise EventRejectedError(reason) from None
        if not changed:  # seen before: answer as the first time did
            rows = await self._db.query(
                f"SELECT status, reason FROM {self._config.inbox_table} WHERE event_id = ?",  # noqa: S608
                (event.event_id,),
            )
            if rows and rows[0][0] == "rejected":
                raise EventRejectedError(str(rows[0][1]))

    async def health(self) -> dict[str, Any]:
        outbox, inbox = self._config.outbox_table, self._config.inbox_table
        pending, aside, applied, rejected = (
            await self._db.query(
                f"SELECT (SELECT count(*) FROM {outbox} WHERE sent_at IS NULL"  # noqa: S608
                f" AND set_aside_at IS NULL), (SELECT count(*) FROM {outbox}"
                f" WHERE set_aside_at IS NOT NULL), (SELECT count(*) FROM {inbox}"
                f" WHERE status = 'applied'), (SELECT count(*) FROM {inbox}"
                " WHERE status = 'rejected')"
            )
        )[0]
        return {
            "backend": self._config.backend,
            "database": _redacted(self._config.url),
            "outbox_pending": pending,
            "outbox_set_aside": aside,
            "inbox_applied": applied,
            "inbox_rejected": rejected,
        }

    # -- helpers -------------------------------------------------------------------------

    async def _check_schema(self, db: Connection) -> dict[str, frozenset[str]]:
        config = self._config
        if config.init_sql is not None and not await db.columns(config.outbox_table):
            try:
                schema = config.init_sql.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise ConfigError(f"init_sql {config.init_sql} cannot be read: {error}") from None
            await db.script(schema)
        tables = {config.outbox_table: _OUTBOX_COLUMNS, config.inbox_table: _INBOX_COLUMNS}
        for table in filter(None, config.inbound_tables.values()):
            tables[table] = frozenset(filter(None, [config.event_id_column]))
        columns = {}
        for table, needed in tables.items():
            columns[table] = await db.columns(table)
            if not columns[table]:
                raise ConfigError(f"table {table} does not exist in {_redacted(config.url)}")
            if missing := sorted(needed - columns[table]):
                raise ConfigError(f"table {table} lacks column(s) {', '.join(missing)}")
        return columns

    def _record(self, row_id: int, kind: object, payload: object) -> LocalRecord:
        where = f"table {self._config.outbox_table} row {row_id}"
        if isinstance(payload, bytes):
            payload = payload.decode("utf-8", "surrogateescape")
        if isinstance(payload, str):
            if _has_surrogates(payload):  # SQLite keeps any bytes; the driver let them by
                raise BadLocalDataError("payload is not valid UTF-8 text", where=where)
            try:
                payload = loads_bounded(payload, self._config.max_json_depth, what="payload")
            except TooDeepError as error:
                raise BadLocalDataError(
                    f"{error}; set max_json_depth higher if that is expected", where=where
                ) from None
            except ValueError as error:
                raise BadLocalDataError(
                    f"payload is not valid JSON ({error})", where=where
                ) from None
        if not isinstance(payload, dict):
            raise BadLocalDataError("payload is not a JSON object", where=where)
        if not isinstance(kind, str) or not kind:
            raise BadLocalDataError("kind is empty", where=where)
        if not kind.isprintable() or _has_surrogates(kind):
            raise BadLocalDataError(f"kind {kind!r} is not printable UTF-8 text", where=where)
        if self._config.outbound_kinds and kind not in self._config.outbound_kinds:
            raise BadLocalDataError(f"unknown kind {kind!r}", where=where)
        if missing := [
            name for name in self._config.required_fields.get(kind, ()) if name not in payload
        ]:
            raise BadLocalDataError(f"{kind} lacks field(s) {', '.join(missing)}", where=where)
        return LocalRecord(
            local_id=f"{self._config.outbox_table}:{row_id}", kind=kind, fields=payload, where=where
        )

    def _row_id(self, record: LocalRecord) -> int:
        prefix, _, row_id = record.local_id.partition(":")
        if prefix != self._config.outbox_table or not row_id.isdigit():
            raise ValueError(f"{record.local_id!r} is not a record of {self._config.outbox_table}")
        return int(row_id)

    async def _mark_aside(self, row_id: int, reason: str) -> None:
        await self._db.execute(
            f"UPDATE {self._config.outbox_table} SET set_aside_at = CURRENT_TIMESTAMP,"  # noqa: S608
            " set_aside_reason = ? WHERE id = ? AND sent_at IS NULL",
            (_one_line(reason), row_id),
        )

    def _inbox_insert(self, event: InboundEvent, rejection: str | None) -> Statement:
        fields = json.dumps(dict(event.fields), ensure_ascii=False, default=str)
        status = "applied" if rejection is None else "rejected"
        return (
            f"INSERT INTO {self._config.inbox_table} (event_id, source, ce_type, kind, fields,"  # noqa: S608
            " status, reason) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
            (event.event_id, event.source, event.ce_type, event.kind, fields, status, rejection),
        )

    def _business_insert(self, event: InboundEvent, table: str | None) -> list[Statement]:
        if table is None:
            raise RefusedError(f"no inbound table is configured for kind {event.kind!r}")
        if not table:
            return []
        values = {name: _value(value) for name, value in event.fields.items()}
        if self._config.event_id_column:
            values[self._config.event_id_column] = event.event_id
        if unknown := sorted(set(values) - self._columns[table]):
            raise RefusedError(f"no column(s) {', '.join(map(repr, unknown))}")
        names = ", ".join(f'"{name}"' for name in values)
        marks = ", ".join("?" for _ in values)
        return [(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(values.values()))]  # noqa: S608


def _value(value: object) -> object:
    """A field value as both drivers take it: scalars as-is, times as ISO text, JSON else."""
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return json.dumps(value, ensure_ascii=False, default=str)


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _one_line(text: str) -> str:
    return " ".join(text.split())[:_REASON_LIMIT]


def _redacted(url: str) -> str:
    return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)
