"""The properties every fuzzed record must keep, and the run-level ones (alive, memory).

Per record: a record no real publisher would make is QUARANTINED with a
:class:`~bus.rejections.Reason` the pipeline foresaw (not ``unprocessable``: that reason
means a step raised something unforeseen — a defect the fuzz found), its handler never
runs, and its quarantine record carries the same reason and either the original bytes or
a reference with their digests; a refusal names as signer only an agency whose key
really signed. A valid record is DELIVERED and handled exactly once.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import json
import sys
import types
from dataclasses import dataclass

from bus.envelope.signature import decode_headers
from bus.errors import RecordRejectedError
from bus.node.quarantine import REFERENCE_FORMAT
from bus.node.results import Outcome
from bus.reasons import Reason
from bus.transport.base import Record
from contracts import examples
from contracts.alerts import AlertIssued
from tests.fuzz.world import CONSUMER, Judged, RecordWorld, Run, rss_bytes

__all__ = [
    "MemoryWatch",
    "assert_alive",
    "assert_delivered",
    "assert_refused",
    "retained_bytes",
    "roots_of",
    "signer_of",
]


def roots_of(world: RecordWorld) -> list[object]:
    """Where the pipeline's state hangs: the buses, the fuzzed subscription, the transport."""
    return [world.buses, world.subscription, world.transport]


def signer_of(record: Record) -> str | None:
    """The agency a record's headers name, if they can be read at all."""
    try:
        attributes, _ = decode_headers(record.headers)
    except RecordRejectedError:
        return None
    return attributes.agency


def _describe(judged: Judged) -> str:
    r = judged.result
    return (
        f"{r.outcome.value} {r.reason.value if r.reason else ''} {r.detail or ''} "
        f"at {judged.coordinates}"
    )


def assert_refused(
    judged: Judged, *, signers: frozenset[str] = frozenset(), own_replay: bool = False
) -> Reason | None:
    """``judged`` was quarantined with a foreseen reason, never handled, kept with why.

    ``signers``: who may be named as the record's signer (whose real key signed it).
    ``own_replay``: the record may verify as the consumer's own (a copy of one of its
    records): then it is its own, never handled, and needs no quarantine.
    """
    result = judged.result
    if own_replay and result.outcome is Outcome.OWN and result.source == CONSUMER:
        assert judged.handled == 0, _describe(judged)
        return None
    assert result.outcome is Outcome.QUARANTINED, _describe(judged)
    assert isinstance(result.reason, Reason), _describe(judged)
    assert judged.handled == 0, f"an invalid record was handled: {_describe(judged)}"
    assert result.reason is not Reason.UNPROCESSABLE, (
        f"a pipeline step failed in a way not foreseen (a defect): {result.detail}"
    )
    kept = judged.kept
    assert kept is not None, f"no quarantine record for {_describe(judged)}"
    assert kept.reason is result.reason
    assert kept.signer is None or kept.signer in signers, (
        f"refusal attributed to {kept.signer}, which did not sign: {_describe(judged)}"
    )
    assert judged.quarantined is not None
    assert judged.sent is not None
    sent, copy = judged.sent, judged.quarantined
    if kept.copy:
        assert (copy.key, copy.value) == (sent.key, sent.value)
        assert copy.headers[: len(sent.headers)] == sent.headers
    else:
        reference = json.loads(copy.value or b"")
        assert reference["format"] == REFERENCE_FORMAT
        digest = None if sent.value is None else hashlib.sha256(sent.value).hexdigest()
        assert reference["value_sha256"] == digest
        assert (reference["topic"], reference["offset"]) == (
            judged.coordinates.topic,
            judged.coordinates.offset,
        )
    return result.reason


def assert_delivered(judged: Judged) -> None:
    result = judged.result
    assert result.outcome is Outcome.DELIVERED, f"a valid record was refused: {_describe(judged)}"
    assert judged.handled == 1, f"handled {judged.handled} times: {_describe(judged)}"
    assert judged.kept is None


async def _publish_and_judge(world: RecordWorld, number: int) -> Judged:
    alert = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    event = alert.model_copy(update={"alert_id": f"FZ-ALIVE-{number}"})
    published = await world.buses[examples.JIANGSHAN].publish(event)
    return await world.judge_published(published.coordinates)


def assert_alive(world: RecordWorld, run: Run, number: int) -> None:
    """After everything the examples sent, a real publisher's record is still delivered,
    and nothing but the consumer's own receipts came back on the side."""
    judged = run(_publish_and_judge(world, number))
    assert_delivered(judged)
    strays = [r for r in world.others if not (r.outcome is Outcome.OWN and r.source == CONSUMER)]
    assert not strays, f"results for records nobody sent here: {strays[:3]}"


_PROJECT = ("bus", "contracts", "agencies", "adapters")
_OPAQUE = (
    types.ModuleType,
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
)


def _ours(name: object) -> bool:
    return isinstance(name, str) and name.split(".", 1)[0] in _PROJECT


def _project_objects() -> int:
    """Live objects of the project's own classes (records, results, events, keys …)."""
    gc.collect()
    return sum(1 for obj in gc.get_objects() if _ours(getattr(type(obj), "__module__", None)))


def _trimmed_rss() -> int:
    """RSS once the C allocator gave back what is free: glibc keeps freed blocks of the
    worker threads' arenas (SQLite reads megabytes there) until trimmed, which is not use."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: RSS as it is
        ctypes.CDLL(None).malloc_trim(0)
    return rss_bytes()


def _client_library(item: object) -> bool:
    """aiokafka's own objects: its fetch buffers and batches follow its own settings
    (``fetch_max_bytes``, ``max_batch_size``), not what the pipeline keeps."""
    module = getattr(type(item), "__module__", None)
    return isinstance(module, str) and module.startswith("aiokafka")


def retained_bytes(roots: list[object]) -> int:
    """What the pipeline holds: the size of everything reachable from ``roots`` and from
    the project's module globals (caches), not going through code, classes, modules or
    the Kafka client library's objects."""
    stack: list[object] = list(roots)
    for name, module in list(sys.modules.items()):
        if _ours(name):
            stack += [v for v in vars(module).values() if not isinstance(v, _OPAQUE)]
    seen: set[int] = set()
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, _OPAQUE) or _client_library(item):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        stack += gc.get_referents(item)
    return total


@dataclass
class MemoryWatch:
    """The pipeline's memory after the warm-up examples against at the end.

    The first examples fill what then stays (SQLite page caches, key and agreement caches);
    after them the pipeline must hold no more for what it *refused*. Two measures, both
    blind to hypothesis' own bookkeeping — it keeps every example's choices, 0–30 KB an
    example (tracemalloc shows all of a random run's RSS growth there), which would hide
    a pipeline leak in RSS:

    * live objects of the project's classes (records, results, verified headers, events);
    * bytes reachable from the world's buses, subscription and transports and from the
      project's module globals (caches): a value kept per record would show here even as
      plain ``bytes`` in a builtin dict.

    What is *accepted* legitimately stays — each delivered event's lifecycle state and
    entity handling, at most ``per_delivery`` objects and ``per_delivery_bytes`` bytes.
    """

    warmup: int
    roots: list[object]
    rss_bound: int | None = None  # RSS may grow this much too (where hypothesis keeps little)
    per_delivery: int = 20
    per_delivery_bytes: int = 4096
    seen: int = 0
    delivered: int = 0  # after the warm-up
    objects: int | None = None
    held: int | None = None
    rss: int = 0

    def tick(self, *, delivered: bool = False) -> None:
        self.seen += 1
        if self.seen == self.warmup:
            self.objects = _project_objects()
            self.held = retained_bytes(self.roots)
            self.rss = _trimmed_rss()
        elif self.seen > self.warmup and delivered:
            self.delivered += 1

    def check(self) -> tuple[int, int]:
        """(objects grown, bytes grown), each asserted within its bound."""
        assert self.objects is not None, "the warm-up never ended"
        assert self.held is not None
        objects = _project_objects() - self.objects
        held = retained_bytes(self.roots) - self.held
        after = self.seen - self.warmup
        allowed = 100 + self.per_delivery * self.delivered
        allowed_bytes = 64 * 1024 + self.per_delivery_bytes * self.delivered
        assert objects <= allowed, (
            f"{objects} more live project objects after {after} examples "
            f"({self.delivered} delivered): at most {allowed}"
        )
        assert held <= allowed_bytes, (
            f"the pipeline holds {held} bytes more after {after} examples "
            f"({self.delivered} delivered): at most {allowed_bytes}"
        )
        if self.rss_bound is not None:
            grown = _trimmed_rss() - self.rss
            assert grown <= self.rss_bound, (
                f"RSS grew {grown / 1e6:.1f} MB after {after} examples: "
                f"at most {self.rss_bound / 1e6:.0f} MB"
            )
        return objects, held
