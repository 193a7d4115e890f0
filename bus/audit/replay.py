"""Streaming replay of a signed history: every record judged, every anomaly located.

::

    replayer = Replayer(agreements, options=ReplayOptions(mode=Mode.FULL))
    for record in records:            # from Kafka or a bundle, in offset order per partition
        replayer.feed(record)
    report = replayer.finish()        # AuditReport: counts, anomalies, checkpoints

Stage 1 (:mod:`bus.audit.examine`, on all cores): signature, key window and revocation
at the record's time, permission in force, decoding. Stage 2 (here, in order): chain
continuity (:mod:`bus.audit.chains`), lifecycle sense (:class:`LifecycleTracker`), the
Merkle root of each partition's accepted records against the signed checkpoints
(:mod:`bus.audit.trust`). Only per-chain heads, per-partition compact ranges and
per-entity lifecycle state are held: memory does not grow with the number of records.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agencies.history import AgreementHistory
from bus.audit.anomaly import Anomaly, Kind
from bus.audit.bundle import Bundle
from bus.audit.chains import ChainJudge
from bus.audit.examine import Examined, Examiner
from bus.audit.fast import FastJudge
from bus.audit.merkle import CompactRange
from bus.audit.trust import CheckpointBook, parse_origin
from bus.transport.base import Record
from bus.verify import VerifyPolicy
from contracts.errors import LifecycleError
from contracts.lifecycle import LifecycleTracker

__all__ = ["AuditReport", "Mode", "ReplayOptions", "Replayer", "replay"]

_CHUNK = 512
_sha256 = hashlib.sha256
_LINE_CHUNK = 1024  # record lines per worker task in checkpoint mode over a bundle


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
    # Checkpoint mode's fast path (bus.audit.fast); off only to measure what it saves.
    fast_trusted: bool = True


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
    seconds: float = 0.0
    workers: int = 1
    source: str = ""

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
        }


@dataclass(slots=True)
class _Partition:
    tree: CompactRange = field(default_factory=CompactRange)
    seen: int = 0  # records handed to stage 1 (to decide checkpoint trust up front)
    trusted_pending: int = 0  # trusted records not yet confirmed by a matching root
    trusted_size: int | None = None  # records trusted on a checkpoint (None: not looked up)
    checkpointed: frozenset[int] | None = None  # sizes with a checkpoint (None: not looked up)


class Replayer:
    """Feed records in stored order; ``finish()`` returns the report."""

    def __init__(
        self,
        agreements: AgreementHistory,
        *,
        options: ReplayOptions | None = None,
        checkpoints: CheckpointBook | None = None,
        progress: Callable[[AuditReport], None] | None = None,
        source: str = "",
    ) -> None:
        self.options = options or ReplayOptions()
        self._fast = self.options.mode is Mode.CHECKPOINT and self.options.fast_trusted
        fast = FastJudge if self._fast else None
        self._examiner = Examiner(
            agreements, self.options.policy, workers=self.options.workers, fast=fast
        )
        self._book = checkpoints
        self._chains = ChainJudge(from_start=self.options.from_start)
        self._tracker = LifecycleTracker()
        self._partitions: dict[tuple[str, int], _Partition] = {}
        self._chunk: list[tuple[Record, bool]] = []
        self._progress = progress
        self._last_progress = time.monotonic()
        self._started = time.perf_counter()
        self.report = AuditReport(
            mode=self.options.mode, workers=self._examiner.workers, source=source
        )

    # -- input ---------------------------------------------------------------------------------

    def add_checkpoint(self, note: bytes) -> None:
        """File a checkpoint note; add them all before the records they cover."""
        if self._book is None:
            raise ValueError("this replay has no checkpoint book (no log keeper configured)")
        for anomaly in self._book.add(note):
            self._flag(anomaly)
        for partition in self._partitions.values():
            partition.trusted_size = partition.checkpointed = None  # the book changed

    def feed(self, record: Record) -> None:
        self._add(record, self._next_trusted(record.topic, record.partition))

    def feed_all(self, records: Iterable[Record]) -> None:
        for record in records:
            self.feed(record)

    def feed_bundle(self, bundle: Bundle) -> None:
        """Every record of ``bundle``: :meth:`feed_all`, with checkpoint mode on all cores.

        In checkpoint mode with the fast path, the workers read the record lines and
        examine them as if trusted (:meth:`Examiner.lines`); here each verdict is kept
        if the record is trusted, else the record is read again and examined in full.
        The report is the same as :meth:`feed_all`'s.
        """
        if not self._fast:
            self.feed_all(bundle.records())
            return
        sent: deque[list[tuple[int, bytes]]] = deque()

        def chunks() -> Iterator[list[bytes]]:
            lines = bundle.record_lines()
            while chunk := list(itertools.islice(lines, _LINE_CHUNK)):
                sent.append(chunk)
                yield [line for _, line in chunk]

        try:
            for verdicts in self._examiner.lines(chunks()):
                for (number, line), verdict in zip(sent.popleft(), verdicts, strict=True):
                    if verdict is None:  # BundleError, saying why (or a record after all)
                        self.feed(bundle.record_at(line, number))
                        continue
                    topic, partition, quick = verdict
                    trusted = self._next_trusted(topic, partition)
                    if trusted and quick is not None:
                        self._judge_now(quick)
                    else:
                        self._add(bundle.record_at(line, number), trusted)
                self._maybe_progress()
        except BaseException:
            self._examiner.close()  # a malformed bundle: stop the workers now
            raise

    def _next_trusted(self, topic: str, number: int) -> bool:
        """Whether the next record of this partition lies under a trusted checkpoint."""
        partition = self._partition(topic, number)
        if partition.trusted_size is None:
            partition.trusted_size = (
                self._book.trusted_size(topic, number)
                if self.options.mode is Mode.CHECKPOINT
                and self._book is not None
                and self.options.from_start
                else 0
            )
        trusted = partition.seen < partition.trusted_size
        partition.seen += 1
        return trusted

    def _add(self, record: Record, trusted: bool) -> None:
        self._chunk.append((record, trusted))
        if len(self._chunk) >= _CHUNK:
            self._flush()

    def _judge_now(self, item: Examined) -> None:
        """Judge a record examined elsewhere, after every record fed before it."""
        if self._chunk:
            self._flush()
        if self._examiner.busy:
            for earlier in self._examiner.drain():
                self._judge(earlier)
        self._judge(item)

    def _flush(self) -> None:
        chunk, self._chunk = self._chunk, []
        for item in self._examiner.submit(chunk):
            self._judge(item)
        self._maybe_progress()

    def finish(self) -> AuditReport:
        try:
            if self._chunk:
                self._flush()
            for item in self._examiner.drain():
                self._judge(item)
        finally:
            self._examiner.close()
        for anomaly in self._chains.finish():
            self._flag(anomaly)
        self._finish_checkpoints()
        report = self.report
        report.chains = self._chains.count
        report.partitions = {
            f"{topic}/{number}": part.tree.size
            for (topic, number), part in sorted(self._partitions.items())
        }
        report.checkpoints = 0 if self._book is None else self._book.count
        report.seconds = time.perf_counter() - self._started
        return report

    # -- stage 2 -------------------------------------------------------------------------------

    def _partition(self, topic: str, number: int) -> _Partition:
        partition = self._partitions.get((topic, number))
        if partition is None:
            partition = self._partitions[(topic, number)] = _Partition()
        return partition

    def _flag(self, anomaly: Anomaly) -> None:
        if len(self.report.anomalies) < self.options.max_anomalies:
            self.report.anomalies.append(anomaly)
        else:
            self.report.anomalies_dropped += 1

    def _judge(self, item: Examined) -> None:
        self.report.records += 1
        for kind, detail in item.problems:
            self._flag(_at(item, kind, detail))
        found, repeat = self._chains.judge(item)
        for anomaly in found:
            self._flag(anomaly)
        if item.hash is None:
            return  # not accepted: not a leaf of the log
        if item.trusted:
            self.report.trusted += 1
        else:
            self.report.verified += 1
        if self.options.lifecycle and item.event is not None and not repeat:
            try:
                self._tracker.apply(item.event, publisher=item.agency or "")
            except LifecycleError as error:
                self._flag(_at(item, Kind.LIFECYCLE, str(error)))
        self._append_leaf(item)

    def _append_leaf(self, item: Examined) -> None:
        if item.hash is None:
            return
        partition = self._partition(item.topic, item.partition)
        partition.tree.append(_sha256(b"\x00" + item.hash).digest())  # merkle.leaf_hash
        if item.trusted:
            partition.trusted_pending += 1
        if self._book is None or not self.options.from_start:
            return
        size = partition.tree.size
        if partition.checkpointed is None:
            partition.checkpointed = self._book.sizes(item.topic, item.partition)
        if size not in partition.checkpointed:
            return
        expected = self._book.roots_at(item.topic, item.partition, size)
        if not expected:
            return
        root = partition.tree.root()
        for signed_root, witnesses in expected:
            if signed_root == root:
                self.report.checkpoints_matched += 1
                partition.trusted_pending = 0
                continue
            trusted = partition.trusted_pending
            advice = (
                f"; {trusted} record(s) were trusted on it without a signature check: "
                "rerun with --full"
                if trusted
                else ""
            )
            self._flag(
                _at(
                    item,
                    Kind.CHECKPOINT_MISMATCH,
                    f"after {size} accepted records of this partition the Merkle root is "
                    f"{root.hex()[:16]}…, but a checkpoint signed by the log keeper "
                    f"(cosigned by {', '.join(sorted(witnesses)) or 'no witness'}) says "
                    f"{signed_root.hex()[:16]}… for size {size}{advice}",
                )
            )

    def _finish_checkpoints(self) -> None:
        if self._book is None or not (self.options.from_start and self.options.complete):
            return
        for origin, size in self._book.origins().items():
            place = parse_origin(origin)
            if place is None:
                continue
            have = self._partition(*place).tree.size
            if size > have:
                self._flag(
                    Anomaly(
                        kind=Kind.CHECKPOINT_AHEAD,
                        detail=f"the log keeper signed a checkpoint of {size} records for "
                        f"{origin}, but this history holds only {have} accepted records there: "
                        f"{size - have} record(s) deleted from the end or withheld",
                        topic=place[0],
                        partition=place[1],
                    )
                )

    def _maybe_progress(self) -> None:
        if self._progress is None:
            return
        moment = time.monotonic()
        if moment - self._last_progress >= 1.0:
            self._last_progress = moment
            self.report.seconds = time.perf_counter() - self._started
            self._progress(self.report)


def _at(item: Examined, kind: Kind, detail: str) -> Anomaly:
    return Anomaly(
        kind=kind,
        detail=detail,
        topic=item.topic,
        partition=item.partition,
        offset=item.offset,
        chain=item.chain,
        seq=item.seq,
        event_id=item.event_id,
        agency=item.agency,
    )


def replay(
    records: Iterable[Record],
    agreements: AgreementHistory,
    *,
    options: ReplayOptions | None = None,
    checkpoints: Iterable[bytes] = (),
    book: CheckpointBook | None = None,
) -> AuditReport:
    """Replay an iterable of records (checkpoint notes first into ``book``)."""
    replayer = Replayer(agreements, options=options, checkpoints=book)
    if book is not None:
        for note in checkpoints:
            replayer.add_checkpoint(note)
    replayer.feed_all(records)
    return replayer.finish()
