"""What an auditor finds: one anomaly, located and explained in plain words.

Its ``kind`` is a :class:`bus.reasons.Reason`: the consumer's reason where they mean the
same thing, the audit's own where only a whole history shows it (``Reason.meaning`` says
each in a sentence).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bus.reasons import Reason

__all__ = ["Anomaly"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Anomaly:
    """One finding, located by topic/partition/offset and chain/seq where they apply."""

    kind: Reason
    detail: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    chain: str | None = None
    seq: int | None = None
    event_id: str | None = None
    agency: str | None = None
    # Receipts' evidence (``equivocation``, ``receipt-mismatch``): (recipient, record hash)
    # for each record a recipient's receipts name.
    received: tuple[tuple[str, str], ...] = ()

    @property
    def where(self) -> str:
        parts = []
        if self.topic is not None:
            place = self.topic
            if self.partition is not None:
                place += f"/{self.partition}"
            if self.offset is not None:
                place += f"@{self.offset}"
            parts.append(place)
        if self.chain is not None:
            parts.append(f"chain {self.chain}" + (f" seq {self.seq}" if self.seq else ""))
        return ", ".join(parts) or "-"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["received"]
        if self.received:
            data["received"] = [
                {"recipient": recipient, "record_hash": record_hash}
                for recipient, record_hash in self.received
            ]
        data["kind"] = self.kind.value
        data["meaning"] = self.kind.meaning
        return data
