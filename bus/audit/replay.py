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
(:mod:`bus.audit.checkpoints`), and at the end receipts against the records they answer
(:mod:`bus.audit.answers`). Only per-chain heads, per-partition compact ranges,
per-entity lifecycle state and the answered events with their receipts are held: memory
grows with the number of answered events, not with the number of records.

Over a bundle (:meth:`Replayer.feed_bundle`) stage 1 works on byte ranges of the file
and stage 2 takes a plainly clean range whole (:mod:`bus.audit.spans`; in checkpoint
mode only a range of trusted records); any other range goes record by record, as above.
"""

from __future__ import annotations

import bisect
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from agencies.history import AgreementHistory
from bus.audit.anomaly import Anomaly
from bus.audit.answers import AnswerJudge
from bus.audit.bundle import Bundle, byte_spans
from bus.audit.chains import ChainJudge
from bus.audit.checkpoints import CheckpointBook
from bus.audit.examine import Examiner
from bus.audit.examined import Examined
from bus.audit.outcome import AuditReport, Mode, ReplayOptions
from bus.audit.spans import PartitionRun, SpanSummary
from bus.errors import BundleError
from bus.reasons import Reason
from bus.tlog.merkle import CompactRange
from bus.tlog.trust import parse_origin
from bus.transport.base import Record
from contracts.errors import LifecycleError
from contracts.lifecycle import LifecycleTracker
from contracts.receipts import ReceiptReleased

__all__ = ["AuditReport", "Mode", "ReplayOptions", "Replayer", "replay"]

_CHUNK = 512
_sha256 = hashlib.sha256


@dataclass(slots=True)
class _Partition:
    tree: CompactRange = field(default_factory=CompactRange)
    seen: int = 0  # records handed to stage 1 (to decide checkpoint trust up front)
    trusted_pending: int = 0  # trusted records not yet confirmed by a matching root
    trusted_size: int | None = None  # records trusted on a checkpoint (None: not looked up)
    checkpointed: list[int] | None = None  # sizes with a checkpoint, sorted (None: not looked up)


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
        self._ranges = self.options.ranges
        self._checkpoint_mode = self.options.mode is Mode.CHECKPOINT
        self._examiner = Examiner(agreements, self.options.policy, workers=self.options.workers)
        self._book = checkpoints
        self._chains = ChainJudge(from_start=self.options.from_start)
        self._tracker = LifecycleTracker()
        self._answers = AnswerJudge()
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
        """Every record of ``bundle``: :meth:`feed_all`, with the reading on all cores too.

        With ranges on (the default) the workers read the bundle a byte range at a time
        and sum each range up (:mod:`bus.audit.spans`; signatures checked in full mode,
        trusted in checkpoint mode); a plainly clean range (of trusted records, in checkpoint mode)
        is applied here at once, any other is read again record by record. The report is
        the same as :meth:`feed_all`'s.
        """
        section = bundle.record_section() if self._ranges else None
        if section is None:  # ranges off, or a bundle cut short (record_lines says how)
            self.feed_all(bundle.records())
            return
        start, end, expected = section
        count = 0
        spans = byte_spans(bundle.path, start, end, self.options.span_bytes)
        try:
            for (low, high), summary in self._examiner.spans(
                str(bundle.path), bundle.text_headers, spans, trusted=self._checkpoint_mode
            ):
                if summary is not None and self._apply(summary):
                    self.report.ranges_whole += 1
                    count += summary.lines
                else:
                    self.report.ranges_reread += 1
                    for line in bundle.lines_between(low, high):
                        count += 1
                        self.feed(bundle.record_at(line, count))
                self._maybe_progress()
        except BaseException:
            self._examiner.close()  # a malformed bundle: stop the workers now
            raise
        if count != expected:
            raise BundleError(
                f"{bundle.path}: the end line says {expected} records, the bundle holds {count}"
            )

    def _apply(self, summary: SpanSummary) -> bool:
        """Judge a summed-up range at once, as :meth:`_judge` would record by record.

        False, with nothing changed, unless nothing at all is wrong with the range but,
        perhaps, lifecycle sense: its chains follow on from their heads, every checkpoint
        it reaches matches and (checkpoint mode, where signatures were not checked) every
        record lies under a trusted checkpoint. The caller then feeds the range record by
        record, which finds and words what is wrong.
        """
        if self._chunk:
            self._flush()
        if self._examiner.busy:
            for earlier in self._examiner.drain():
                self._judge(earlier)
        grown = []
        trusted = self._checkpoint_mode  # else every signature was checked in the range
        for run in summary.partitions:
            partition = self._partition(run.topic, run.partition)
            if trusted and partition.seen + len(run.offsets) > self._trusted_size(partition, run):
                return False
            result = self._grown(partition, run, trusted)
            if result is None:
                return False
            grown.append((partition, len(run.offsets), result))
        if not all(self._chains.continues(run.first) for run in summary.chains):
            return False
        for partition, count, (grown_tree, matched, pending) in grown:
            partition.seen += count
            partition.tree, partition.trusted_pending = grown_tree, pending
            self.report.checkpoints_matched += matched
        for chain in summary.chains:
            self._chains.advance_run(chain.first, chain.hashes, chain.offsets)
        for item in summary.events:
            self._lifecycle(item)
            self._answers.note(item)
        self.report.records += summary.lines
        if trusted:
            self.report.trusted += summary.lines
        else:
            self.report.verified += summary.lines
        return True

    def _grown(
        self, partition: _Partition, run: PartitionRun, trusted: bool
    ) -> tuple[CompactRange, int, int] | None:
        """(tree with the run's leaves, checkpoints matched, trusted pending); None on a
        checkpoint the new leaves do not reproduce."""
        tree, pending, matched = partition.tree.copy(), partition.trusted_pending, 0
        base, count, done = tree.size, len(run.offsets), 0
        sizes = self._checkpoint_sizes(partition, run.topic, run.partition)
        for size in sizes[
            bisect.bisect_right(sizes, base) : bisect.bisect_right(sizes, base + count)
        ]:
            tree.extend(run.leaves, done, size - base)
            pending, done = pending + (size - base - done if trusted else 0), size - base
            expected = self._book.roots_at(run.topic, run.partition, size) if self._book else []
            if not expected:
                continue
            root = tree.root()
            if any(signed != root for signed, _ in expected):
                return None
            matched, pending = matched + len(expected), 0
        tree.extend(run.leaves, done, count)
        return tree, matched, pending + (count - done if trusted else 0)

    def _next_trusted(self, topic: str, number: int) -> bool:
        """Whether the next record of this partition lies under a trusted checkpoint."""
        partition = self._partition(topic, number)
        trusted = partition.seen < self._trusted_size(partition, (topic, number))
        partition.seen += 1
        return trusted

    def _trusted_size(self, partition: _Partition, place: PartitionRun | tuple[str, int]) -> int:
        """Records of the partition trusted on a checkpoint (looked up once)."""
        if partition.trusted_size is None:
            topic, number = place if isinstance(place, tuple) else (place.topic, place.partition)
            partition.trusted_size = (
                self._book.trusted_size(topic, number)
                if self._checkpoint_mode and self._book is not None and self.options.from_start
                else 0
            )
        return partition.trusted_size

    def _checkpoint_sizes(self, partition: _Partition, topic: str, number: int) -> list[int]:
        """The sizes the partition has a checkpoint for, in order (looked up once)."""
        if partition.checkpointed is None:
            found = () if self._book is None else self._book.sizes(topic, number)
            partition.checkpointed = sorted(found) if self.options.from_start else []
        return partition.checkpointed

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
        for anomaly in self._answers.finish():
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
            self._flag(item.anomaly(kind, detail))
        found, repeat = self._chains.judge(item)
        for anomaly in found:
            self._flag(anomaly)
        if item.hash is None:
            return  # not accepted: not a leaf of the log
        if item.trusted:
            self.report.trusted += 1
        else:
            self.report.verified += 1
        if not repeat:
            self._lifecycle(item)
        self._answers.note(item)  # a fork's other record under one event id counts too
        self._append_leaf(item)

    def _lifecycle(self, item: Examined) -> None:
        if isinstance(item.event, ReceiptReleased):
            self.report.releases.append(_release(item, item.event))
        if self.options.lifecycle and item.event is not None:
            try:
                self._tracker.apply(item.event, publisher=item.agency or "")
            except LifecycleError as error:
                self._flag(item.anomaly(Reason.LIFECYCLE, str(error)))

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
        sizes = self._checkpoint_sizes(partition, item.topic, item.partition)
        at = bisect.bisect_left(sizes, size)
        if at == len(sizes) or sizes[at] != size:
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
                item.anomaly(
                    Reason.CHECKPOINT_MISMATCH,
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
                        kind=Reason.CHECKPOINT_AHEAD,
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


def _release(item: Examined, event: ReceiptReleased) -> dict[str, str]:
    """What an auditor reads of one release: who let what through, why, where it is."""
    return {
        "where": f"{item.topic}/{item.partition}/{item.offset}",
        "by": item.agency or "",
        "issuer": event.answered_agency,
        "event_id": event.answers.ce_id,
        "ce_type": event.answers.ce_type,
        "refused_for": event.refused_for,
        "refused_at": event.origin,
        "record_hash": event.answers.record_hash,
        "officer": event.officer,
        "justification": event.justification,
        "released_at": event.released_at.isoformat(),
    }
