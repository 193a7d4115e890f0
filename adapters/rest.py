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
4xx answers to a write are :class:`LocalRejectionError`.
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
from adapters.base import (
    BadLocalDataError,
    InboundEvent,
    LocalRecord,
    LocalRejectionError,
    LocalSystem,
    LocalUnavailableError,
)
from adapters.config import LocalSection
from bus.errors import ConfigError, NotConnectedError

__all__ = ["RestConfig", "RestSystem"]

_SERVER_ERROR = 500


@dataclass(frozen=True, kw_only=True, slots=True)
class RestConfig:
    """``[local]`` with ``kind = "rest"``."""

    base_url: str
    cursor_file: Path
    timeout: float = 10.0
    batch: int = 100
    token_env: str | None = None  # environment variable holding a bearer token

    @classmethod
    def from_section(cls, section: LocalSection) -> RestConfig:
        base_url = section.text("base_url").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{section.source}: base_url must be an http(s) URL")
        token_env = section.settings.get("token_env")
        return cls(
            base_url=base_url,
            cursor_file=section.state_dir / "rest-cursor.json",
            timeout=section.number("timeout", 10.0),
            batch=int(section.number("batch", 100)),
            token_env=str(token_env) if token_env else None,
        )


class _NoClient:
    def __getattr__(self, name: str) -> Any:
        raise NotConnectedError("the REST adapter is not started")


class RestSystem(LocalSystem):
    def __init__(self, config: RestConfig) -> None:
        self._config = config
        self._client: Any = _NoClient()
        self._cursor = 0

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

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response: httpx.Response = await self._client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise LocalUnavailableError(
                f"{self._config.base_url}{url}: {type(error).__name__}: {error}"
            ) from None
        if response.status_code >= _SERVER_ERROR:
            raise LocalUnavailableError(
                f"{method} {self._config.base_url}{url}: HTTP {response.status_code}"
            )
        return response

    async def fetch_outbound(self) -> list[LocalRecord]:
        url = "/api/changes"
        response = await self._request(
            "GET", url, params={"after": self._cursor, "limit": self._config.batch}
        )
        if response.is_error:
            raise LocalUnavailableError(f"GET {url}: HTTP {response.status_code}")
        records = []
        for change in response.json().get("changes", []):
            cursor = int(change["cursor"])
            where = f"{self._config.base_url}/api/records/{change.get('id')} (change {cursor})"
            data = change.get("data")
            records.append(
                LocalRecord(
                    local_id=f"change:{cursor}",
                    kind=str(change.get("type", "")),
                    fields=data if isinstance(data, dict) else {},
                    where=where,
                )
            )
        return records

    async def _advance(self, record: LocalRecord) -> None:
        cursor = int(record.local_id.removeprefix("change:"))
        if cursor > self._cursor:
            await asyncio.to_thread(self._write_cursor, cursor)
            self._cursor = cursor

    async def confirm_outbound(self, record: LocalRecord) -> None:
        await self._advance(record)

    async def set_aside(self, record: LocalRecord, reason: str) -> None:
        cursor = record.local_id.removeprefix("change:")
        response = await self._request(
            "POST", f"/api/changes/{cursor}/rejection", json={"reason": reason}
        )
        if response.is_error:
            raise BadLocalDataError(
                f"the case system did not take the rejection note (HTTP {response.status_code})",
                where=record.where,
            )
        await self._advance(record)

    async def write_inbound(self, event: InboundEvent) -> None:
        body = {
            "event_id": event.event_id,
            "source": event.source,
            "ce_type": event.ce_type,
            "kind": event.kind,
            "fields": dict(event.fields),
        }
        response = await self._request(
            "POST",
            "/api/inbound",
            content=json.dumps(body, ensure_ascii=False, default=str).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        if response.is_error:
            try:
                detail = str(response.json().get("error"))
            except ValueError:
                detail = response.text[:500]
            raise LocalRejectionError(
                f"the case system refused {event.kind} (HTTP {response.status_code}): {detail}"
            )

    async def health(self) -> dict[str, Any]:
        return {"base_url": self._config.base_url, "cursor": self._cursor}
