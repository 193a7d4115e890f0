"""A bundle replayed a byte range at a time: the per-record work in the workers.

A worker reads a range of record lines straight from the bundle file, judges each record
with the pipeline's steps (:func:`bus.audit.examine.examine`: in checkpoint mode under
the checkpoint's trust, in full mode with its signature checked) and sums the range up
(:class:`SpanSummary`): per partition the Merkle leaves in order, per chain the run of
records it saw — contiguous seqs, each naming the one before (:func:`bus.pipeline.place`)
— and the records the lifecycle judge and the receipts' judge need. The replay then
applies a whole range at once (:meth:`bus.audit.replay.Replayer.feed_bundle`): a few
operations per chain and a hash per leaf, instead of judging record by record.

A summary is only made of a plainly clean range: the first line that is not a plainly
well-formed record, a record with a problem, or a break in a chain inside the range makes
the worker give up (None), and the replay reads that range again record by record — the
same steps, and the careful reading of the bundle to word a malformed line.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from bus.audit.answers import concerns
from bus.audit.bundle import record_of_line
from bus.audit.examined import Examined
from bus.pipeline.chain import Place, place
from bus.transport.base import Record

__all__ = ["ChainRun", "PartitionRun", "SpanSummary", "summarise_span"]

_sha256 = hashlib.sha256

Judge = Callable[[Record, bool], Examined]
"""Stage 1 on one record (:func:`bus.audit.examine.examine`, trusted or not)."""


@dataclass(slots=True)
class PartitionRun:
    """One partition's records in a range: their leaf hashes (32 bytes each) and offsets."""

    topic: str
    partition: int
    leaves: bytes = b""
    offsets: list[int] = field(default_factory=list)


@dataclass(slots=True)
class ChainRun:
    """One chain's records in a range: seqs ``first.seq`` on, each naming the one before."""

    first: Examined  # the first record (its place: seq, prev-hash, agency, partition)
    hashes: list[str] = field(default_factory=list)  # record hashes (hex), in seq order
    offsets: list[int] = field(default_factory=list)
    last_seq: int = 0


@dataclass(slots=True)
class SpanSummary:
    lines: int
    partitions: list[PartitionRun]
    chains: list[ChainRun]
    # Records whose decoded event the lifecycle judge needs, or that the receipts' judge
    # keeps (bus.audit.answers.concerns), in order.
    events: list[Examined]


def summarise_span(
    judge: Judge, path: str, span: tuple[int, int], *, text_headers: bool, trusted: bool
) -> SpanSummary | None:
    """The summary of the record lines in bytes ``[start, end)``; None if not plainly clean.

    The cycle collector waits while a range is read: what the range makes lives until its
    summary is handed back and holds no cycle to find, and a collection every few hundred
    records would walk all of it again and again (about a tenth of the time).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _summarise(judge, path, span, text_headers=text_headers, trusted=trusted)
    finally:
        if collecting:
            gc.enable()


def _summarise(
    judge: Judge, path: str, span: tuple[int, int], *, text_headers: bool, trusted: bool
) -> SpanSummary | None:
    start, end = span
    with open(path, "rb") as source:
        source.seek(start)
        data = source.read(end - start)
    lines = data.split(b"\n")
    if lines[-1]:
        return None  # the range does not end at a line end
    del lines[-1]
    partitions: dict[tuple[str, int], tuple[PartitionRun, bytearray]] = {}
    chains: dict[tuple[str, str], ChainRun] = {}
    events: list[Examined] = []
    for line in lines:
        record = record_of_line(line, text_headers)
        if record is None:
            return None  # not plainly a record line: the careful reading says what
        item = judge(record, trusted)
        if item.hash is None or item.problems or item.chain is None or item.seq is None:
            return None  # refused, or a problem: judged and worded record by record
        where = (item.topic, item.partition)
        run = partitions.get(where)
        if run is None:
            run = partitions[where] = (PartitionRun(item.topic, item.partition), bytearray())
        run[1].extend(_sha256(b"\x00" + item.hash).digest())  # merkle.leaf_hash
        run[0].offsets.append(item.offset)
        hex_hash = item.hash.hex()
        chain = chains.get((item.chain, item.topic))
        if chain is None:
            chains[(item.chain, item.topic)] = ChainRun(item, [hex_hash], [item.offset], item.seq)
        else:
            if (
                place(chain.last_seq, chain.hashes[-1], item.seq, item.prevhash or "")
                is not Place.NEXT
                or item.partition != chain.first.partition
                or item.agency != chain.first.agency
            ):
                return None  # a break inside the range: judged record by record
            chain.hashes.append(hex_hash)
            chain.offsets.append(item.offset)
            chain.last_seq = item.seq
        if item.event is not None or concerns(item):
            events.append(item)
    for partition, leaves in partitions.values():
        partition.leaves = bytes(leaves)
    return SpanSummary(
        lines=len(lines),
        partitions=[run for run, _ in partitions.values()],
        chains=list(chains.values()),
        events=events,
    )
