"""Writing an audit bundle (the format: :mod:`bus.audit.bundle`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from agencies.folder import AgreementFolder
from agencies.history import AgreementHistory
from agencies.signatures import dump_signatures
from bus.audit.bundle.lines import (
    BUNDLE_FORMAT,
    BUNDLE_FORMAT_V1,
    END_LINE,
    PROOF_LINE,
    SECTION_ORDER,
    b64,
    header_json,
    name_json,
)
from bus.errors import BundleError
from bus.state.private import open_private
from bus.transport.base import Record, TimestampType

if TYPE_CHECKING:
    from bus.audit.bundle.reader import Bundle

__all__ = ["BundleWriter", "agreement_documents"]


class BundleWriter:
    """Writes a bundle line by line; sections must come in the order above."""

    def __init__(
        self,
        path: Path,
        *,
        federation: str,
        agreements: AgreementHistory,
        documents: list[tuple[bytes, bytes]],
        log_keeper: str | None = None,
        from_start: bool = True,
        complete: bool = True,
    ) -> None:
        self.path = path
        self._out: IO[str] = open_private(path, "w")
        self._stage = 0
        self.records = self.checkpoints = self.proofs = 0
        self._line(
            {
                "kind": "header",
                "format": BUNDLE_FORMAT,
                "federation": federation,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "log_keeper": log_keeper,
                "from_start": from_start,
                "complete": complete,
            }
        )
        for number, (document, signatures) in enumerate(documents, start=1):
            self._line(
                {
                    "kind": "agreement",
                    "version": number,
                    "document": b64(document),
                    "signatures": b64(signatures),
                }
            )
        for version in agreements.versions:
            for member in version.members:
                for record in member.keys:
                    self._line(
                        {
                            "kind": "key",
                            "version": version.version,
                            **record.model_dump(mode="json"),
                        }
                    )

    def _line(self, item: dict[str, Any]) -> None:
        stage = SECTION_ORDER[item["kind"]]
        if stage < self._stage:
            raise BundleError(f"a {item['kind']} line cannot follow later sections")
        self._stage = stage
        self._out.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")

    def checkpoint(self, note: bytes) -> None:
        self._line({"kind": "checkpoint", "note": note.decode("utf-8")})
        self.checkpoints += 1

    def record(self, record: Record) -> None:
        line: dict[str, Any] = {
            "kind": "record",
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp_ms": record.timestamp_ms,
            "key": None if record.key is None else b64(record.key),
            "value": None if record.value is None else b64(record.value),
            "headers": [
                [name_json(name), None if value is None else header_json(value)]
                for name, value in record.headers
            ],
        }
        if record.timestamp_type is TimestampType.CREATE_TIME:
            line["timestamp_type"] = "create"
        self._line(line)
        self.records += 1

    def proof(self, item: dict[str, Any]) -> None:
        """A proof line (after every record): ``item``'s fields, docs/audit.md "Bundles"."""
        self._line({"kind": "proof", **item})
        self.proofs += 1

    def copy_records(self, bundle: Bundle) -> None:
        """Append every record of another bundle (verbatim if its records are written as
        this format writes them: v2 and v3), not its proofs."""
        self._stage = SECTION_ORDER["record"]
        if bundle.format == BUNDLE_FORMAT_V1:
            for record in bundle.records():
                self.record(record)
            return
        with bundle.path.open("rb") as source:
            source.seek(bundle.records_at)
            for line in source:
                if line.startswith((END_LINE, PROOF_LINE)):
                    return
                self._out.write(line.decode("utf-8"))
                self.records += 1
        raise BundleError(f"{bundle.path}: no end line: the bundle is truncated or incomplete")

    def close(self) -> None:
        if not self._out.closed:
            self._line(
                {
                    "kind": "end",
                    "records": self.records,
                    "checkpoints": self.checkpoints,
                    "proofs": self.proofs,
                }
            )
            self._out.close()

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._out.close()  # no end line: a reader sees the bundle is incomplete


def agreement_documents(folder: AgreementFolder) -> list[tuple[bytes, bytes]]:
    """(document bytes, signatures file bytes) of every version in an agreement folder."""
    out = []
    for version in folder.versions():
        document, signatures = folder.read(version)
        out.append((document, dump_signatures(signatures)))
    return out
