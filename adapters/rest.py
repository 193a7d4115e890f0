"""The REST/JSON adapter: a local case system that speaks HTTP (Jiangshan's).

The local system offers, relative to ``base_url`` (the reference system in
``adapters/reference/rest_case_system.py`` implements exactly this):

* ``GET  /api/changes?after=<cursor>&limit=<n>`` → ``{"changes": [{"cursor": 7, "id":
  "JS-ALERT-…", "type": "alert", "data": {…}}, …]}``: records created or changed locally
  since ``cursor``, oldest first (records written by this adapter are not listed);
* ``POST /api/changes/<cursor>/rejection`` ``{"reason": …}``: a change the adapter had to
  set aside, so that officers see why it did not go out;
* ``POST /api/inbound`` ``{"event_id", "source", "ce_type", "kind", "fields"}``: write one
  event; 201 (new) or 200 (seen before) — idempotent on ``event_id``; 4xx with
  ``{"error": …}`` when the system refuses it.

The cursor of the last change taken lives in ``<state>/<agency>/rest-cursor.json``
(written atomically), so a restarted adapter asks only for what is new. Connection
failures and 5xx answers are :class:`LocalUnavailableError` (the runner retries); other
4xx answers to a write are :class:`bus.errors.EventRejectedError`.

**Every request is bounded**: ``timeout`` (default 10 s) for each step (connecting,
each read), ``deadline`` (default 30 s) for the whole request and its answer, and
``max_response_bytes`` (default 8 MiB) for the answer's body, which is read as it comes
and given up at the cap. Missing either is :class:`LocalUnavailableError` with what was
exceeded: the runner retries later instead of stalling (a body trickled a byte at a time
never trips a per-read timeout).

**One bad change stops nothing**: a change without a whole-number ``cursor``, one that is
not an object, or whose data nests deeper than ``max_json_depth`` (default 64) is still
handed to the runner in its place, marked unreadable, and set aside with the reason; a
change without a cursor is named by the last cursor before it (``change:7+1``), since the
case system cannot be told about it (:meth:`RestSystem.set_aside`).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from adapters._files import write_atomic
from adapters._json import holds_too_deep, loads_bounded, loads_pruned
from adapters.base import (
    DEFAULT_MAX_JSON_DEPTH,
    MAX_JSON_DEPTH_LIMIT,
    InboundEvent,
    LocalRecord,
    LocalSystem,
    LocalUnavailableError,
)
from adapters.config import LocalSection
from bus.errors import ConfigError, EventRejectedError, NotConnectedError
from bus.logs import get_logger

__all__ = ["RestConfig", "RestSystem"]

log = get_logger("silian.adapters.rest")

_SERVER_ERROR = 500
_ENVELOPE_DEPTH = 3  # {"changes": [{…, "data": …}]}: the data starts three levels down


@dataclass(frozen=True, kw_only=True, slots=True)
class RestConfig:
    """``[local]`` with ``kind = "rest"``."""

    base_url: str
    cursor_file: Path
    timeout: float = 10.0  # each step: connect, each read, each write
    deadline: float = 30.0  # a whole request and its answer
    max_response_bytes: int = 8 * 1024 * 1024
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH  # in a change's data
    batch: int = 100
    token_env: str | None = None  # environment variable holding a bearer token

    @classmethod
    def from_section(cls, section: LocalSection) -> RestConfig:
        base_url = section.text("base_url").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{section.source}: base_url must be an http(s) URL")
        token_env = section.settings.get("token_env")
        timeout, deadline = section.number("timeout", 10.0), section.number("deadline", 30.0)
        if timeout <= 0 or deadline <= 0:
            raise ConfigError(f"{section.source}: timeout and deadline must be > 0 seconds")
        size = section.number("max_response_bytes", 8 * 1024 * 1024)
        depth = section.number("max_json_depth", DEFAULT_MAX_JSON_DEPTH)
        if size < 1 or size != int(size):
            raise ConfigError(f"{section.source}: max_response_bytes must be a whole number ≥ 1")
        if not 1 <= depth <= MAX_JSON_DEPTH_LIMIT or depth != int(depth):
            raise ConfigError(
                f"{section.source}: max_json_depth must be a whole number from 1 to "
                f"{MAX_JSON_DEPTH_LIMIT}"
            )
        return cls(
            base_url=base_url,
            cursor_file=section.state_dir / "rest-cursor.json",
            timeout=timeout,
            deadline=deadline,
            max_response_bytes=int(size),
            max_json_depth=int(depth),
            batch=int(section.number("batch", 100)),
            token_env=str(token_env) if token_env else None,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class _Answer:
    status: int
    body: bytes

    def error(self) -> str:
        """The ``{"error": …}`` of a refusal, else the start of the body, as one line."""
        text = self.body[:2000].decode("utf-8", "replace")
        try:
            document = loads_bounded(text, 8)
        except ValueError:
            document = None
        if isinstance(document, dict) and "error" in document:
            text = str(document["error"])
        return " ".join(text.split())[:500]


class _NoClient:
    def __getattr__(self, name: str) -> Any:
        raise NotConnectedError("the REST adapter is not started")


class RestSystem(LocalSystem):
    def __init__(self, config: RestConfig) -> None:
        self._config = config
        self._client: Any = _NoClient()
        self._cursor = 0
        self._unnamed: set[str] = set()  # changes without a cursor, already logged

    async def start(self) -> None:
        headers = {"Accept": "application/json"}
        if self._config.token_env:
            token = os.environ.get(self._config.token_env)
            if not token:
                raise ConfigError(f"environment variable {self._config.token_env} is empty")
            headers["Authorization"] = f"Bearer {token}"
        self._cursor = await asyncio.to_thread(self._read_cursor)
        self._client = httpx.AsyncClient(
            base_url=self._config.base_url, timeout=self._config.timeout, headers=headers
        )

    async def stop(self) -> None:
        client, self._client = self._client, _NoClient()
        if isinstance(client, httpx.AsyncClient):
            await client.aclose()

    def _read_cursor(self) -> int:
        try:
            return int(json.loads(self._config.cursor_file.read_text(encoding="utf-8"))["after"])
        except FileNotFoundError:
            return 0
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigError(
                f"cursor file {self._config.cursor_file} is damaged: {error}"
            ) from None

    def _write_cursor(self, cursor: int) -> None:
        path = self._config.cursor_file
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"after": cursor}).encode("utf-8"))

    async def _request(self, method: str, url: str, **kwargs: Any) -> _Answer:
        """One request, its answer read whole within ``deadline`` and ``max_response_bytes``."""
        config, label = self._config, f"{method} {self._config.base_url}{url}"
        try:
            async with asyncio.timeout(config.deadline):
                return await self._exchange(method, url, label, **kwargs)
        except TimeoutError:
            raise LocalUnavailableError(
                f"{label}: no complete answer within {config.deadline:g} s (the deadline)"
            ) from None
        except httpx.HTTPError as error:
            raise LocalUnavailableError(f"{label}: {type(error).__name__}: {error}") from None

    async def _exchange(self, method: str, url: str, label: str, **kwargs: Any) -> _Answer:
        cap = self._config.max_response_bytes
        too_large = f"{label}: the answer is larger than max_response_bytes ({cap} bytes)"
        async with self._client.stream(method, url, **kwargs) as response:
            if response.status_code >= _SERVER_ERROR:
                raise LocalUnavailableError(f"{label}: HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise LocalUnavailableError(f"{too_large}: it says {declared}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > cap:  # given up here: the rest is never read
                    raise LocalUnavailableError(too_large)
            return _Answer(status=response.status_code, body=bytes(body))

    async def fetch_outbound(self) -> list[LocalRecord]:
        url = "/api/changes"
        answer = await self._request(
            "GET", url, params={"after": self._cursor, "limit": self._config.batch}
        )
        if answer.status >= 400:
            raise LocalUnavailableError(f"GET {url}: HTTP {answer.status}")
        limit = self._config.max_json_depth + _ENVELOPE_DEPTH
        try:
            document = loads_pruned(answer.body.decode("utf-8-sig"), limit)
        except ValueError as error:
            raise LocalUnavailableError(f"GET {url}: the answer is not JSON ({error})") from None
        changes = document.get("changes") if isinstance(document, dict) else None
        if not isinstance(changes, list):
            raise LocalUnavailableError(f'GET {url}: the answer is not {{"changes": [...]}}')
        records, previous, since = [], self._cursor, 0
        for change in changes:
            cursor = change.get("cursor") if isinstance(change, dict) else None
            if type(cursor) is int and cursor >= 0:
                local_id, label, previous, since = f"change:{cursor}", f"change {cursor}", cursor, 0
            else:  # named by its place after the last cursor, as the next fetch sees it too
                since += 1
                local_id, label = f"change:{previous}+{since}", f"change {since} after {previous}"
            records.append(self._record(change, local_id, label))
        return records

    def _record(self, change: object, local_id: str, label: str) -> LocalRecord:
        if not isinstance(change, dict):
            where = f"{self._config.base_url}/api/changes ({label})"
            return LocalRecord(local_id=local_id, kind="", fields={}, where=where,
                               unreadable="the change is not a JSON object")  # fmt: skip
        record_id = str(change.get("id"))[:200]
        where = f"{self._config.base_url}/api/records/{record_id} ({label})"
        data, cursor = change.get("data"), change.get("cursor")
        unreadable = None
        if "cursor" not in change:
            unreadable = "it has no cursor"
        elif not (type(cursor) is int and cursor >= 0):
            unreadable = f"its cursor is not a whole number ≥ 0 (got {str(cursor)[:50]!r})"
        elif holds_too_deep(data):
            unreadable = (
                f"its data nests arrays and objects deeper than {self._config.max_json_depth}"
                " levels (max_json_depth)"
            )
        elif not isinstance(data, dict):
            unreadable = "its data is not a JSON object"
        return LocalRecord(
            local_id=local_id,
            kind=str(change.get("type", ""))[:200],
            fields=data if isinstance(data, dict) else {},
            where=where,
            unreadable=unreadable,
        )

    async def _advance(self, record: LocalRecord) -> None:
        cursor_text = record.local_id.removeprefix("change:")
        if not cursor_text.isdigit():  # a change without a cursor: nothing to move past
            return
        cursor = int(cursor_text)
        if cursor > self._cursor:
            await asyncio.to_thread(self._write_cursor, cursor)
            self._cursor = cursor

    async def confirm_outbound(self, record: LocalRecord) -> None:
        await self._advance(record)

    async def set_aside(self, record: LocalRecord, reason: str) -> None:
        """Tell the case system why the change did not go out, and move past it.

        A change without a cursor cannot be named to the case system: the reason stays in
        the adapter's own record (and log) only, and the cursor moves past it with the
        next good change. A refused note (4xx) is logged and the change passed all the
        same: the adapter keeps the reason, and one change must not hold up the rest.
        """
        cursor = record.local_id.removeprefix("change:")
        if not cursor.isdigit():  # handed over again each fetch until a good change follows
            if record.local_id not in self._unnamed:
                self._unnamed.add(record.local_id)
                log.warning("rest.set_aside_unnamed", where=record.where, reason=reason)
            return
        answer = await self._request(
            "POST", f"/api/changes/{cursor}/rejection", json={"reason": reason}
        )
        if answer.status >= 400:
            log.warning("rest.rejection_refused", where=record.where, status=answer.status)
        await self._advance(record)

    async def write_inbound(self, event: InboundEvent) -> None:
        body = {
            "event_id": event.event_id,
            "source": event.source,
            "ce_type": event.ce_type,
            "kind": event.kind,
            "fields": dict(event.fields),
        }
        answer = await self._request(
            "POST",
            "/api/inbound",
            content=json.dumps(body, ensure_ascii=False, default=str).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        if answer.status >= 400:
            raise EventRejectedError(
                f"the case system refused {event.kind} (HTTP {answer.status}): {answer.error()}"
            )

    async def health(self) -> dict[str, Any]:
        return {"base_url": self._config.base_url, "cursor": self._cursor}
