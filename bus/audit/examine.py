"""Stage 1 of a replay: what can be judged of one record on its own, on all cores.

For each record: verification as the consumer does it (:func:`bus.verify.verify_record`:
headers, key window and revocation at ``ce_time``, the Ed25519 signature over the exact
bytes), then the agreement's permission in force at that time, then decoding the value
for the lifecycle judge. Records are sent to worker *processes* in chunks (signature
checks are CPU-bound, threads do not help); results come back in order, and at most a
few chunks are in flight, so memory does not grow with the history.

In checkpoint mode a record covered by a cosigned checkpoint is examined with the
signature step trusted: everything else runs, the record is hashed, and the replay then
proves the hashes reproduce the checkpoint's root (see :mod:`bus.audit.replay`).
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from agencies.errors import PermissionDeniedError, UnknownAgencyError, VerificationError
from agencies.history import AgreementHistory
from agencies.keys import VerifyKey
from bus.audit.anomaly import Anomaly, Kind, kind_for_reason
from bus.audit.spans import SpanSummary, summarise_span
from bus.context import parse_handling
from bus.envelope.headers import CONTENT_TYPE_JSON
from bus.envelope.signature import decode_headers
from bus.rejections import RecordRejectedError
from bus.transport.base import Record
from bus.verify import VerifyPolicy, check_json_depth, parse_seq, verify_record
from contracts.base import EventModel, Family
from contracts.errors import ContractError
from contracts.registry import REGISTRY

if TYPE_CHECKING:
    from bus.audit.fast import Headers, Verdict

__all__ = [
    "Examined",
    "Examiner",
    "FastFactory",
    "FastPath",
    "examine",
    "for_lifecycle",
]

# The event families whose events the lifecycle judge keeps state for (LifecycleTracker in
# contracts.lifecycle); it lets every other event pass untouched, so their decoded events
# are validated but not kept: shipping them between processes would cost for nothing.
# tests/unit/audit/test_fast.py checks this against the tracker.
STATEFUL_FAMILIES = frozenset({"alert", "case", "dispute", "patrol", "receipt"})


def for_lifecycle(event: EventModel) -> EventModel | None:
    """The event if the lifecycle judge has a rule for its family, else None."""
    return event if event.event_type.partition(".")[0] in STATEFUL_FAMILIES else None


@dataclass(frozen=True, kw_only=True, slots=True)
class Examined:
    """Stage 1's verdict on one record; ``hash`` is set only when the record verified.

    ``event`` is the decoded value when the lifecycle judge needs it (:func:`for_lifecycle`).
    """

    topic: str
    partition: int
    offset: int
    chain: str | None = None
    seq: int | None = None
    prevhash: str | None = None
    event_id: str | None = None
    agency: str | None = None
    ce_type: str | None = None
    hash: bytes | None = None
    problems: tuple[tuple[Kind, str], ...] = ()
    event: EventModel | None = None
    trusted: bool = False

    def anomaly(self, kind: Kind, detail: str) -> Anomaly:
        """An anomaly located at this record."""
        return Anomaly(
            kind=kind,
            detail=detail,
            topic=self.topic,
            partition=self.partition,
            offset=self.offset,
            chain=self.chain,
            seq=self.seq,
            event_id=self.event_id,
            agency=self.agency,
        )

    def __reduce__(self) -> tuple[Callable[..., Examined], tuple[object, ...]]:
        # A plain tuple pickles several times faster than the dataclass state (workers).
        return _examined, tuple(getattr(self, name) for name in _FIELDS)


_FIELDS = tuple(f.name for f in dataclasses.fields(Examined))


def _examined(*values: object) -> Examined:
    return Examined(**dict(zip(_FIELDS, values, strict=True)))  # type: ignore[arg-type]


class _AcceptingKey(VerifyKey):
    """A real agreement key whose signature check is skipped (checkpoint mode only)."""

    __slots__ = ()

    def verify(self, signature: bytes, message: bytes) -> None:
        return None


class _SignaturesTrusted(AgreementHistory):
    """The agreement's judgement of keys, with the Ed25519 check left to the checkpoint."""

    def __init__(self, inner: AgreementHistory) -> None:
        super().__init__()
        self._inner = inner
        self._keys: dict[bytes, VerifyKey] = {}

    @property
    def wraps(self) -> AgreementHistory:
        return self._inner

    def signing_key(self, key_id: str, at: datetime) -> VerifyKey:
        raw = self._inner.signing_key(key_id, at).public_bytes_raw()  # window, revocation
        if raw not in self._keys:
            self._keys[raw] = _AcceptingKey.from_public_bytes(raw)
        return self._keys[raw]


_TRUSTING: dict[int, _SignaturesTrusted] = {}


def _trusting(agreements: AgreementHistory) -> _SignaturesTrusted:
    """One trusting view per history (it caches keys)."""
    view = _TRUSTING.get(id(agreements))
    if view is None or view.wraps is not agreements:
        view = _TRUSTING[id(agreements)] = _SignaturesTrusted(agreements)
    return view


def _located(record: Record, problem: tuple[Kind, str], trusted: bool) -> Examined:
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


def examine(
    record: Record,
    agreements: AgreementHistory,
    policy: VerifyPolicy,
    *,
    trusted: bool = False,
    decode: bool = True,
) -> Examined:
    """Judge one record on its own. ``agreements`` is the real history (trust is applied here)."""
    judge = _trusting(agreements) if trusted else agreements
    # 1-6. shape, headers, issuer, key in force at ce_time, signature, fields (bus.verify)
    try:
        verified = verify_record(record, judge, policy)
    except RecordRejectedError as error:
        return _located(record, (kind_for_reason(error.reason), error.detail), trusted)
    except Exception as error:  # noqa: BLE001 - total: a defect is reported, not a stop
        detail = f"verification failed on this record: {type(error).__name__}: {error}"
        return _located(record, (Kind.UNPROCESSABLE, detail[:400]), trusted)
    attributes = verified.attributes
    problems: list[tuple[Kind, str]] = []
    event: EventModel | None = None
    # 6. the agreement in force at ce_time lets the issuer publish this family and handling
    try:
        spec = REGISTRY.spec_for_type(attributes.type)
    except ContractError:
        problems.append(
            (Kind.UNKNOWN_TYPE, f"event type {attributes.type} is not in the contracts")
        )
    else:
        try:
            handling = parse_handling(attributes.handling)
            agreements.check_publish(
                attributes.agency, Family(spec.family), handling.code, at=verified.time
            )
        except ValueError:
            problems.append((Kind.MALFORMED, f"ce_handling {attributes.handling!r} is not valid"))
        except UnknownAgencyError as error:
            problems.append((Kind.NOT_A_MEMBER, str(error)))
        except (PermissionDeniedError, VerificationError) as error:
            problems.append((Kind.NOT_PERMITTED, str(error)))
        # 7. the value, for the lifecycle judge (sealed values are judged by recipients only)
        if decode and attributes.content_type == CONTENT_TYPE_JSON:
            try:
                check_json_depth(verified.value, policy.max_json_depth)
                event = for_lifecycle(REGISTRY.decode(attributes.type, verified.value))
            except RecordRejectedError as error:
                problems.append((kind_for_reason(error.reason), error.detail))
            except ContractError as error:
                problems.append((Kind.SCHEMA_INVALID, str(error)))
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


class FastPath(Protocol):
    """The replay's shortcut (:class:`bus.audit.fast.FastJudge`): for trusted records in
    checkpoint mode, for every record when it ``verifies`` signatures itself (full mode)."""

    verifies: bool

    def examine(self, record: Record) -> Examined | None: ...

    def verdict(
        self, topic: str, timestamp_ms: int, key: bytes | None, value: bytes, named: Headers
    ) -> Verdict | None: ...

    def examined(self, topic: str, partition: int, offset: int, verdict: Verdict) -> Examined: ...


FastFactory = Callable[[AgreementHistory, VerifyPolicy, bool], FastPath]


@dataclass(frozen=True, slots=True)
class _Judges:
    agreements: AgreementHistory
    policy: VerifyPolicy
    decode: bool
    fast: FastPath | None

    def one(self, record: Record, trusted: bool) -> Examined:
        if self.fast is not None and (trusted or self.fast.verifies):
            quick = self.fast.examine(record)
            if quick is not None:
                return quick
        return examine(record, self.agreements, self.policy, trusted=trusted, decode=self.decode)


_WORKER: _Judges | None = None


def _init_worker(
    agreements: AgreementHistory, policy: VerifyPolicy, decode: bool, fast: FastFactory | None
) -> None:
    global _WORKER  # noqa: PLW0603 - per-process state set once by the pool initialiser
    made = None if fast is None else fast(agreements, policy, decode)
    _WORKER = _Judges(agreements, policy, decode, made)


def _examine_chunk(chunk: Sequence[tuple[Record, bool]]) -> list[Examined]:
    if _WORKER is None:  # pragma: no cover - the pool initialiser always ran
        raise RuntimeError("worker not initialised")
    return [_WORKER.one(r, t) for r, t in chunk]


def _summarise(path: str, start: int, end: int, text_headers: bool) -> SpanSummary | None:
    if _WORKER is None or _WORKER.fast is None:  # pragma: no cover - the initialiser ran
        raise RuntimeError("worker not initialised for checkpoint mode")
    return summarise_span(_WORKER.fast, path, start, end, text_headers)


class Examiner:
    """Examines chunks in order, on ``workers`` processes (1: in this process).

    With a ``fast`` factory, records trusted on a checkpoint take the fast path, and a
    chunk of nothing but trusted records is examined right here: hashing is cheaper than
    shipping the records to a worker and back.
    """

    def __init__(
        self,
        agreements: AgreementHistory,
        policy: VerifyPolicy,
        *,
        workers: int | None = None,
        decode: bool = True,
        fast: FastFactory | None = None,
    ) -> None:
        self._agreements, self._policy, self._decode = agreements, policy, decode
        self._fast_factory = fast
        self._judges = _Judges(
            agreements, policy, decode, None if fast is None else fast(agreements, policy, decode)
        )
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
                initargs=(self._agreements, self._policy, self._decode, self._fast_factory),
            )
        return self._pool

    def submit(self, chunk: Sequence[tuple[Record, bool]]) -> Iterator[Examined]:
        """Hand in a chunk; yields the results of chunks that are done, in order.

        A short history (one chunk, nothing in flight) is examined here: starting
        processes would cost more than it saves.
        """
        here = self.workers == 1 or (self._pool is None and len(chunk) < _MIN_PARALLEL)
        if not here and self._judges.fast is not None and all(t for _, t in chunk):
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
        self, path: str, text_headers: bool, spans: Iterable[tuple[int, int]]
    ) -> Iterator[tuple[tuple[int, int], SpanSummary | None]]:
        """A bundle on the fast path: each byte range of record lines, summed up.

        The workers read the ranges from the file themselves and examine every record
        on the fast path (:func:`bus.audit.spans.summarise_span`: as trusted in checkpoint
        mode, the caller alone knowing which records really are; signatures checked in
        full mode); the caller reads a range again record by record where the summary is
        None or cannot be applied. One worker, or a history of one range, is examined
        here. Results come in order.
        """
        fast = self._judges.fast
        if fast is None:
            raise ValueError("summing up ranges needs the fast path")
        spans = iter(spans)
        ahead = list(itertools.islice(spans, 2))
        if self.workers == 1 or len(ahead) < 2:
            for span in itertools.chain(ahead, spans):
                yield span, summarise_span(fast, path, *span, text_headers)
            return
        pool = self._start_pool()
        pending: deque[tuple[tuple[int, int], Future[SpanSummary | None]]] = deque()
        for span in itertools.chain(ahead, spans):
            pending.append((span, pool.submit(_summarise, path, *span, text_headers)))
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
