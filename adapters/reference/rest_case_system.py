"""REFERENCE LOCAL SYSTEM, for the demo and the tests — not part of silian.

Jiangshan's case system (江山市公安局), reduced to a small HTTP/JSON service with the
endpoints the REST adapter (:mod:`adapters.rest`) relies on:

=======  ==================================  ============================================
method   path                                what
=======  ==================================  ============================================
POST     /api/records                        an officer enters a record: ``{"type":
                                             "alert", "data": {…}}`` → 201 ``{"id",
                                             "cursor"}``
PUT      /api/records/<id>                   an officer changes it (a new change)
GET      /api/records[?type=alert]           every record, local and received
GET      /api/changes?after=N&limit=M        local changes since cursor N, oldest first
POST     /api/changes/<cursor>/rejection     the adapter could not send a change: why
GET      /api/rejections                     those notes
POST     /api/inbound                        an event from the bus; idempotent on
                                             ``event_id`` (201 new, 200 seen); 422 when a
                                             required field is missing or the kind unknown
GET      /api/inbound                        every event received
GET      /health                             ``{"status": "ok"}``
=======  ==================================  ============================================

Standard library only (``http.server`` in a thread); data in memory, optionally kept in
a JSON file (``--data``) so that a restart keeps it. Run by hand with
``python -m adapters.reference.rest_case_system --port 8081``.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

__all__ = ["INBOUND_REQUIRED", "RestCaseSystem", "main"]

# What the case system insists on for each kind of record it receives (else 422).
INBOUND_REQUIRED: Mapping[str, tuple[str, ...]] = {
    "hit": ("alert_no", "hit_no", "seen_at", "place"),
    "dispute_reported": ("dispute_no", "summary"),
    "dispute_settled": ("dispute_no", "agreement", "settled_at"),
}


class RestCaseSystem:
    """The service; ``start()`` serves on ``host:port`` (0 picks a free port) in a thread."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, data: Path | None = None):
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] = {}
        self._changes: list[dict[str, Any]] = []
        self._inbound: dict[str, dict[str, Any]] = {}
        self._rejections: list[dict[str, Any]] = []
        self._data = data
        self._load()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> RestCaseSystem:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve(self) -> None:
        """Serve in this thread until interrupted (``python -m …``)."""
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            self._server.server_close()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- what officers and the adapter do (also callable directly from Python) --------
    def create(self, kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            record_id = str(data.get("id") or f"JS-{kind.upper()}-{len(self._records) + 1:04d}")
            if record_id in self._records:
                raise ValueError(f"record {record_id} exists")
            self._records[record_id] = {"id": record_id, "type": kind, "data": dict(data),
                                        "origin": "local"}  # fmt: skip
            return self._change(record_id)

    def update(self, record_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            record = self._records[record_id]
            record["data"] = {**record["data"], **data}
            return self._change(record_id)

    def _change(self, record_id: str) -> dict[str, Any]:
        record = self._records[record_id]
        change = {"cursor": len(self._changes) + 1, "id": record_id, "type": record["type"],
                  "data": dict(record["data"])}  # fmt: skip
        self._changes.append(change)
        self._save()
        return {"id": record_id, "cursor": change["cursor"]}

    def changes(self, after: int, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            return [c for c in self._changes if c["cursor"] > after][:limit]

    def reject_change(self, cursor: int, reason: str) -> None:
        with self._lock:
            self._rejections.append({"cursor": cursor, "reason": reason})
            self._save()

    def rejections(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._rejections)

    def receive(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """One inbound event: (HTTP status, answer)."""
        event_id, kind = str(body.get("event_id", "")), str(body.get("kind", ""))
        fields = body.get("fields")
        if not event_id or not isinstance(fields, dict):
            return 422, {"error": "event_id and fields are required"}
        if kind not in INBOUND_REQUIRED:
            return 422, {"error": f"this case system does not take records of kind {kind!r}"}
        missing = [n for n in INBOUND_REQUIRED[kind] if fields.get(n) in (None, "")]
        if missing:
            return 422, {"error": f"{kind} lacks {', '.join(missing)}"}
        with self._lock:
            if event_id in self._inbound:
                return 200, {"id": self._inbound[event_id]["id"], "seen": True}
            record_id = f"IN-{len(self._inbound) + 1:04d}"
            self._inbound[event_id] = {"id": record_id, **body}
            self._records[record_id] = {"id": record_id, "type": kind, "data": dict(fields),
                                        "origin": "silian", "event_id": event_id}  # fmt: skip
            self._save()
        return 201, {"id": record_id, "seen": False}

    def inbound(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._inbound.values())

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self._records.values() if kind is None or r["type"] == kind]

    # -- persistence -------------------------------------------------------------------
    def _load(self) -> None:
        if self._data is None or not self._data.exists():
            return
        state = json.loads(self._data.read_text(encoding="utf-8"))
        self._records, self._changes = state["records"], state["changes"]
        self._inbound, self._rejections = state["inbound"], state["rejections"]

    def _save(self) -> None:
        if self._data is None:
            return
        state = {"records": self._records, "changes": self._changes,
                 "inbound": self._inbound, "rejections": self._rejections}  # fmt: skip
        temporary = self._data.with_name(f".{self._data.name}.tmp")
        temporary.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
        temporary.replace(self._data)


_REJECTION = re.compile(r"^/api/changes/(\d+)/rejection$")


def _handler_for(system: RestCaseSystem) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests and the demo print what matters

        def _answer(self, status: int, body: Any) -> None:
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length).decode("utf-8") or "{}")

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/api/changes":
                after, limit = int(query.get("after", 0)), int(query.get("limit", 100))
                self._answer(200, {"changes": system.changes(after, limit)})
            elif url.path == "/api/records":
                self._answer(200, {"records": system.records(query.get("type"))})
            elif url.path == "/api/inbound":
                self._answer(200, {"inbound": system.inbound()})
            elif url.path == "/api/rejections":
                self._answer(200, {"rejections": system.rejections()})
            elif url.path == "/health":
                self._answer(200, {"status": "ok"})
            else:
                self._answer(404, {"error": f"no such path {url.path}"})

        def do_POST(self) -> None:
            path = urlparse(self.path).path
            try:
                body = self._body()
            except ValueError:
                self._answer(400, {"error": "the body is not JSON"})
                return
            if path == "/api/records":
                try:
                    self._answer(201, system.create(str(body["type"]), body.get("data", {})))
                except (KeyError, ValueError) as error:
                    self._answer(422, {"error": str(error)})
            elif path == "/api/inbound":
                self._answer(*system.receive(body))
            elif match := _REJECTION.match(path):
                system.reject_change(int(match[1]), str(body.get("reason", "")))
                self._answer(201, {"ok": True})
            else:
                self._answer(404, {"error": f"no such path {path}"})

        def do_PUT(self) -> None:
            path = urlparse(self.path).path
            record_id = path.removeprefix("/api/records/")
            try:
                self._answer(200, system.update(record_id, self._body().get("data", {})))
            except KeyError:
                self._answer(404, {"error": f"no record {record_id}"})

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Jiangshan's reference case system (REST)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--data", type=Path, default=None, help="keep the data in this file")
    args = parser.parse_args(argv)
    system = RestCaseSystem(host=args.host, port=args.port, data=args.data)
    print(f"Jiangshan reference case system on {system.url}", flush=True)
    system.serve()


if __name__ == "__main__":
    main()
