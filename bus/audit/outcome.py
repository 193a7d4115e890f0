"""A replay's options (:class:`ReplayOptions`) and what it found (:class:`AuditReport`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bus.audit.anomaly import Anomaly
from bus.pipeline import VerifyPolicy

__all__ = ["AuditReport", "Mode", "ReplayOptions"]


class Mode(StrEnum):
    FULL = "full"  # every signature checked, on all cores
    CHECKPOINT = "checkpoint"  # records under a cosigned checkpoint: hashed, not sig-checked


@dataclass(frozen=True, kw_only=True)
class ReplayOptions:
    mode: Mode = Mode.FULL
    workers: int | None = None  # None: every core
    policy: VerifyPolicy = field(default_factory=VerifyPolicy)
    from_start: bool = True  # the history starts at each partition's first record
    complete: bool = True  # … and runs to its end (checkpoints beyond it are flagged)
    lifecycle: bool = True
    max_anomalies: int = 100_000
    # A bundle by byte ranges on all cores (bus.audit.spans), each clean range applied
    # whole; off only to measure what it saves. The same report either way.
    ranges: bool = True
    # Bundle bytes per range (cut at line ends): a worker's task. Smaller ranges spread a
    # small bundle over the workers; the findings are the same for every size.
    span_bytes: int = 1 << 20


@dataclass(kw_only=True)
class AuditReport:
    """What a replay found. ``clean`` is True when there is no anomaly at all."""

    mode: Mode
    records: int = 0
    verified: int = 0
    trusted: int = 0
    partitions: dict[str, int] = field(default_factory=dict)
    chains: int = 0
    checkpoints: int = 0
    checkpoints_matched: int = 0
    anomalies: list[Anomaly] = field(default_factory=list)
    anomalies_dropped: int = 0
    # Records an officer let through although the agency's pipeline refused them
    # (receipt.released): not anomalies — decisions, each signed, for the auditor to read.
    releases: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1
    source: str = ""
    # How a bundle was read by ranges (not findings, so not in to_json): ranges a worker
    # summed up and the replay applied whole, and ranges read again record by record (one
    # with an anomaly, or with records past the last trusted checkpoint).
    ranges_whole: int = 0
    ranges_reread: int = 0

    @property
    def clean(self) -> bool:
        return not self.anomalies and not self.anomalies_dropped

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    def counts(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for anomaly in self.anomalies:
            totals[anomaly.kind.value] = totals.get(anomaly.kind.value, 0) + 1
        return dict(sorted(totals.items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "mode": self.mode.value,
            "source": self.source,
            "records": self.records,
            "verified": self.verified,
            "trusted_on_checkpoint": self.trusted,
            "partitions": self.partitions,
            "chains": self.chains,
            "checkpoints": self.checkpoints,
            "checkpoints_matched": self.checkpoints_matched,
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.rate, 1),
            "workers": self.workers,
            "counts": self.counts(),
            "anomalies": [a.to_json() for a in self.anomalies],
            "anomalies_dropped": self.anomalies_dropped,
            "releases": self.releases,
        }
