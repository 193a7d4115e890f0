"""Stage 1 of a replay: what can be judged of one record on its own, on all cores.

For each record the pipeline's own steps (:mod:`bus.pipeline`), as the consumer runs
them: shape, headers, issuer, key in force at ``ce_time``, the signature (or, under a
cosigned checkpoint, the checkpoint vouching for it), fields; then the contract, the
agreement's permission to publish, and decoding for the lifecycle judge. Where the
consumer stops at the first refusal, the auditor notes every problem of a record that
verified: it is still a leaf of the log.

Records are sent to worker *processes* in chunks (signature checks are CPU-bound,
threads do not help); results come back in order, and at most a few chunks are in
flight, so memory does not grow with the history. A bundle is handed to the workers a
byte range at a time (:mod:`bus.audit.spans`), the same steps judging every line.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from agencies.history import AgreementHistory
from bus.audit.examined import Examined
from bus.audit.spans import SpanSummary, summarise_span
from bus.envelope.headers import CONTENT_TYPE_JSON
from bus.envelope.signature import decode_headers
from bus.errors import RecordRejectedError
from bus.pipeline import (
    VerifiedRecord,
    VerifyPolicy,
    authorise,
    decode,
    event_spec,
    judged,
    parse_seq,
    verify_record,
)
from bus.reasons import Reason
from bus.transport.base import Record
from contracts.base import EventModel

__all__ = ["Examined", "Examiner", "examine"]


def _located(record: Record, problem: tuple[Reason, str], trusted: bool) -> Examined:
    """A refused record, with whatever its (unverified) headers say about where it sits."""
    try:
        attributes, _ = decode_headers(record.headers)
    except RecordRejectedError:
        return Examined(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            problems=(problem,),
            trusted=trusted,
        )
    try:
        seq: int | None = parse_seq(attributes.chainseq)
    except ValueError:
        seq = None
    return Examined(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        chain=attributes.chainid,
        seq=seq,
        prevhash=attributes.prevhash,
        event_id=attributes.id,
        agency=attributes.agency,
        ce_type=attributes.type,
        problems=(problem,),
        trusted=trusted,
    )


def _event_problems(
    verified: VerifiedRecord, agreements: AgreementHistory, policy: VerifyPolicy, decoding: bool
) -> tuple[list[tuple[Reason, str]], EventModel | None]:
    """Steps 8–9 as an auditor takes them: every problem noted, the event if stateful."""
    problems: list[tuple[Reason, str]] = []
    try:
        spec = event_spec(verified)
    except RecordRejectedError as error:
        return [(error.reason, error.detail)], None
    try:
        authorise(agreements, verified, spec)
    except RecordRejectedError as error:
        problems.append((error.reason, error.detail))
    if not decoding or verified.attributes.content_type != CONTENT_TYPE_JSON:
        return problems, None  # a sealed value is for its recipients to judge
    try:
        decoded = decode(
            verified,
            spec,
            federation=agreements.latest.federation_id,
            depth=policy.max_json_depth,
            unseal=None,
        )
    except RecordRejectedError as error:
        problems.append((error.reason, error.detail))
        return problems, None
    return problems, decoded.event if decoded is not None and spec.stateful else None


def examine(
    record: Record,
    agreements: AgreementHistory,
    policy: VerifyPolicy,
    *,
    trusted: bool = False,
    decode: bool = True,
) -> Examined:
    """Judge one record on its own. ``trusted``: it lies under a cosigned checkpoint, whose
    root then vouches for its signature (the replay proves the root)."""
    # 1–6. shape, headers, issuer, key in force at ce_time, signature, fields
    try:
        verified = judged("verify", verify_record, record, agreements, policy, checkpointed=trusted)
    except RecordRejectedError as error:
        return _located(record, (error.reason, error.detail), trusted)
    # 8–9. the contract, the permission in force at ce_time, the value
    problems, event = _event_problems(verified, agreements, policy, decode)
    attributes = verified.attributes
    return Examined(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        chain=attributes.chainid,
        seq=verified.seq,
        prevhash=attributes.prevhash,
        event_id=attributes.id,
        agency=attributes.agency,
        ce_type=attributes.type,
        hash=bytes.fromhex(verified.hash),
        problems=tuple(problems),
        event=event,
        trusted=trusted,
    )


# -- the worker pool ---------------------------------------------------------------------------

_MIN_PARALLEL = 256


@dataclass(frozen=True, slots=True)
class _Judges:
    agreements: AgreementHistory
    policy: VerifyPolicy
    decode: bool

    def one(self, record: Record, trusted: bool) -> Examined:
        return examine(record, self.agreements, self.policy, trusted=trusted, decode=self.decode)


_WORKER: _Judges | None = None


def _init_worker(agreements: AgreementHistory, policy: VerifyPolicy, decode: bool) -> None:
    global _WORKER  # noqa: PLW0603 - per-process state set once by the pool initialiser
    _WORKER = _Judges(agreements, policy, decode)
    gc.freeze()  # what a worker keeps for good (agreements, contracts) is never collected


def _examine_chunk(chunk: Sequence[tuple[Record, bool]]) -> list[Examined]:
    if _WORKER is None:  # pragma: no cover - the pool initialiser always ran
        raise RuntimeError("worker not initialised")
    return [_WORKER.one(r, t) for r, t in chunk]


def _summarise(
    path: str, span: tuple[int, int], text_headers: bool, trusted: bool
) -> SpanSummary | None:
    if _WORKER is None:  # pragma: no cover - the initialiser ran
        raise RuntimeError("worker not initialised")
    return summarise_span(_WORKER.one, path, span, text_headers=text_headers, trusted=trusted)


class Examiner:
    """Examines chunks in order, on ``workers`` processes (1: in this process)."""

    def __init__(
        self,
        agreements: AgreementHistory,
        policy: VerifyPolicy,
        *,
        workers: int | None = None,
        decode: bool = True,
    ) -> None:
        self._agreements, self._policy, self._decode = agreements, policy, decode
        self._judges = _Judges(agreements, policy, decode)
        self.workers = max(1, workers if workers is not None else os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        self._inflight: deque[Future[list[Examined]]] = deque()
        self._max_inflight = 3 * self.workers

    def _start_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the caller may run asyncio/Kafka threads, and fork copies them
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self._agreements, self._policy, self._decode),
            )
        return self._pool

    def submit(self, chunk: Sequence[tuple[Record, bool]]) -> Iterator[Examined]:
        """Hand in a chunk; yields the results of chunks that are done, in order.

        A short history (one chunk, nothing in flight) is examined here, and so is a
        chunk of nothing but trusted records: hashing is cheaper than shipping records to a
        worker and back.
        """
        here = self.workers == 1 or (self._pool is None and len(chunk) < _MIN_PARALLEL)
        if not here and all(t for _, t in chunk):
            yield from self.drain()  # keep the order: earlier chunks first
            here = True
        if here:
            yield from (self._judges.one(r, t) for r, t in chunk)
            return
        pool = self._start_pool()
        self._inflight.append(pool.submit(_examine_chunk, list(chunk)))
        while len(self._inflight) > self._max_inflight or (
            self._inflight and self._inflight[0].done()
        ):
            yield from self._inflight.popleft().result()

    @property
    def busy(self) -> bool:
        """Chunks are in flight: :meth:`drain` before judging anything examined elsewhere."""
        return bool(self._inflight)

    def spans(
        self, path: str, text_headers: bool, spans: Iterable[tuple[int, int]], *, trusted: bool
    ) -> Iterator[tuple[tuple[int, int], SpanSummary | None]]:
        """A bundle, each byte range of record lines summed up (:mod:`bus.audit.spans`).

        The workers read the ranges from the file themselves and examine every record —
        as under a checkpoint when ``trusted`` (checkpoint mode; the caller alone knows
        which records really are, and applies a range only where all are), checking every
        signature otherwise. The caller reads a range again record by record where the
        summary is None or cannot be applied. One worker, or a history of one range, is
        examined here. Results come in order.
        """
        spans = iter(spans)
        ahead = list(itertools.islice(spans, 2))
        if self.workers == 1 or len(ahead) < 2:
            for span in itertools.chain(ahead, spans):
                yield (
                    span,
                    summarise_span(
                        self._judges.one, path, span, text_headers=text_headers, trusted=trusted
                    ),
                )
            return
        pool = self._start_pool()
        pending: deque[tuple[tuple[int, int], Future[SpanSummary | None]]] = deque()
        for span in itertools.chain(ahead, spans):
            pending.append((span, pool.submit(_summarise, path, span, text_headers, trusted)))
            while pending and (len(pending) > self._max_inflight or pending[0][1].done()):
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()

    def drain(self) -> Iterator[Examined]:
        while self._inflight:
            yield from self._inflight.popleft().result()

    def close(self) -> None:
        if self._pool is not None:
            for future in self._inflight:
                future.cancel()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
