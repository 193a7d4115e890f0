"""A bundle replayed a byte range at a time: the per-record work in the workers.

A worker reads a range of record lines straight from the bundle file, examines each
record on the fast path (:class:`bus.audit.fast.FastJudge`: in checkpoint mode
everything but the signature, in full mode the signature too) and sums the range up
(:class:`SpanSummary`): per partition the Merkle leaves in order, per chain the run of
records it saw — contiguous seqs, each naming the one before — and the
decoded events the lifecycle judge needs. The replay then applies a whole range at once
(:meth:`bus.audit.replay.Replayer.feed_bundle`): a few operations per chain and a hash
per leaf, instead of judging record by record.

A summary is only made of a plainly clean range: the first record that is not well
formed, has a problem, or breaks its chain inside the range makes the worker give up
(None), and the replay reads that range again record by record, which finds and words
every anomaly exactly as it would have without this shortcut.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import json.scanner
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bus.audit.bundle import RECORD_LINE, header_bytes
from bus.envelope.headers import SIGNED_ATTRIBUTES

if TYPE_CHECKING:  # examine imports this module: the worker side needs no more at runtime
    from bus.audit.examine import Examined, FastPath
    from bus.audit.fast import Headers, Verdict

__all__ = ["ChainRun", "PartitionRun", "SpanSummary", "summarise_span"]

_sha256 = hashlib.sha256
_a2b = binascii.a2b_base64
_scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type] # C, bare
# a record with just the signed attributes and the signature: the fast path checks those
_ONLY_SIGNED = len(SIGNED_ATTRIBUTES) + 1
_I_CHAIN = SIGNED_ATTRIBUTES.index("ce_chainid")
_I_PREV = SIGNED_ATTRIBUTES.index("ce_prevhash")
_INT32, _INT64 = 2**31 - 1, 2**63 - 1  # a partition number, an offset or a time in ms


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


@dataclass(slots=True)
class SpanSummary:
    lines: int
    partitions: list[PartitionRun]
    chains: list[ChainRun]
    events: list[Examined]  # records whose decoded event the lifecycle judge needs, in order


def _v1_headers(stored: list[list[str]]) -> Headers:
    """A v1 bundle's headers (every value base64) as :data:`bus.audit.fast.Headers`."""
    return {name: _a2b(value, strict_mode=True).decode("latin-1") for name, value in stored}


def _well_formed(named: dict[str, object], text_headers: bool) -> bool:
    """Whether every header is well formed as the careful reading judges it (raises if a
    ``{"base64": …}`` one is not): names text; v2 values ASCII text or base64."""
    try:
        if not "".join(named).isascii():
            return False  # the careful reading decides on such a name
        if not text_headers:
            return True  # v1: every value was base64, decoded already
        return "".join(named.values()).isascii()  # type: ignore[arg-type]
    except TypeError:  # a name that is not text, or a value stored as {"base64": …}
        if not text_headers or not all(type(name) is str for name in named):
            return False
    for value in named.values():
        if type(value) is str:
            if not value.isascii():
                return False
        else:
            header_bytes(value, True)
    return True


def _read(judge: FastPath, line: bytes, text_headers: bool) -> tuple[str, int, int, Verdict] | None:
    """(topic, partition, offset, verdict) of a plainly clean record line, else None."""
    if not line.startswith(RECORD_LINE):
        return None
    try:
        decoded = line.decode("utf-8")
        item, stop = _scan(decoded, 0)
        topic, number, offset = item["topic"], item["partition"], item["offset"]
        moment = item["timestamp_ms"]
        if (
            stop != len(decoded)  # trailing bytes
            or item["kind"] != "record"
            or type(moment) is not int
            or type(topic) is not str
            or type(number) is not int
            or type(offset) is not int
            or not (0 <= number <= _INT32 and 0 <= offset <= _INT64 and 0 <= moment <= _INT64)
            or "timestamp_type" in item  # the producer's time: the careful reading refuses it
        ):
            return None
        stored = item["headers"]
        named = dict(stored) if text_headers else _v1_headers(stored)
        if len(named) != len(stored) or (
            len(named) != _ONLY_SIGNED and not _well_formed(named, text_headers)
        ):
            return None  # a name twice, or a header beyond the signed ones gone wrong
        key = item["key"]
        verdict = judge.verdict(
            topic,
            moment,
            None if key is None else _a2b(key, strict_mode=True),
            _a2b(item["value"], strict_mode=True),
            named,
        )
    except Exception:  # noqa: BLE001 - anything odd: the careful reading says what
        return None
    if verdict is None or verdict[4]:  # not plainly well formed, or a problem
        return None
    return topic, number, offset, verdict


def summarise_span(
    judge: FastPath, path: str, start: int, end: int, text_headers: bool
) -> SpanSummary | None:
    """The summary of the record lines in bytes ``[start, end)``; None if not plainly clean."""
    with open(path, "rb") as source:
        source.seek(start)
        data = source.read(end - start)
    lines = data.split(b"\n")
    if lines[-1]:
        return None  # the range does not end at a line end
    del lines[-1]
    partitions: dict[tuple[str, int], tuple[PartitionRun, bytearray]] = {}
    chains: dict[tuple[str, str], tuple[ChainRun, list[int]]] = {}  # + [last seq]
    events: list[Examined] = []
    sha256 = _sha256
    for line in lines:
        read = _read(judge, line, text_headers)
        if read is None:
            return None
        topic, number, offset, verdict = read
        text, agency, seq, record_hash, _, event = verdict
        place = partitions.get((topic, number))
        if place is None:
            place = partitions[(topic, number)] = (PartitionRun(topic, number), bytearray())
        place[1].extend(sha256(b"\x00" + record_hash).digest())  # merkle.leaf_hash
        place[0].offsets.append(offset)
        hex_hash = record_hash.hex()
        found = chains.get((text[_I_CHAIN], topic))
        if found is None:
            first = judge.examined(topic, number, offset, verdict)
            chains[(text[_I_CHAIN], topic)] = (ChainRun(first, [hex_hash], [offset]), [seq])
        else:
            chain, last = found
            first = chain.first
            if (
                seq != last[0] + 1
                or text[_I_PREV] != chain.hashes[-1]
                or number != first.partition
                or agency != first.agency
            ):
                return None  # a break inside the range: judged record by record
            chain.hashes.append(hex_hash)
            chain.offsets.append(offset)
            last[0] = seq
        if event is not None:
            events.append(judge.examined(topic, number, offset, verdict))
    for run, leaves in partitions.values():
        run.leaves = bytes(leaves)
    return SpanSummary(
        lines=len(lines),
        partitions=[run for run, _ in partitions.values()],
        chains=[chain for chain, _ in chains.values()],
        events=events,
    )
