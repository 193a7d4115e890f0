"""Chain continuity per (chain id, topic): gaps, reorders, replays and forks.

A chain is ``(chain id, seq, prev-hash)``: seq contiguous from 1, prev-hash the hash of the
previous record of the same (chain id, topic), genesis 64 zeros. Per chain only the head
and a bounded window of recent records are kept, so memory depends on the number of
chains, not on the length of the history.

* seq ahead of the head → a **gap**; the skipped seqs are remembered (bounded): if one
  turns up later it is a **reorder**, if none does by the end they were **deleted**;
* seq behind the head, the same record hash as before → a **replay** (duplicate);
* seq behind or at the head, another hash → a **fork** (two records claim one place);
* seq at the head + 1 but prev-hash naming another record → a **fork** too.

A record that did not verify (``hash`` None) and claims a place behind the head is not
judged here: its chain attributes are unsigned hints, and its own anomaly says why.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from bus.audit.anomaly import Anomaly
from bus.audit.examined import Examined
from bus.errors import RecordRejectedError
from bus.pipeline.chain import GENESIS, Place, check_placement, place
from bus.reasons import Reason

__all__ = ["ChainJudge"]

_WINDOW = 4096  # recent (seq → hash, offset) kept per chain to explain replays and forks
_MAX_MISSING = 10_000


@dataclass(slots=True)
class _Chain:
    head: int = 0
    hash: str | None = GENESIS  # None: the head record did not verify, its hash is unknown
    recent: OrderedDict[int, tuple[str | None, int]] = field(default_factory=OrderedDict)
    missing: dict[int, int] = field(default_factory=dict)  # seq → offset where the gap showed
    partition: int | None = None


class ChainJudge:
    """Judges each record's place in its chain, in the order records were stored."""

    def __init__(self, *, from_start: bool = True) -> None:
        # from_start: the history begins at each partition's first record, so every chain
        # must begin at seq 1; otherwise a chain may begin anywhere in the range.
        self._from_start = from_start
        self._chains: dict[tuple[str, str], _Chain] = {}
        self._placed: set[tuple[str, str | None, int]] = (
            set()
        )  # (chain, agency, partition) seen fine

    @property
    def count(self) -> int:
        return len(self._chains)

    def judge(self, item: Examined) -> tuple[list[Anomaly], bool]:
        """Anomalies of this record's place, and whether it is a repeat (replay/fork/old)."""
        if item.chain is None or item.seq is None:
            return [], False
        found: list[Anomaly] = []
        self._check_placement(item, found)
        key = (item.chain, item.topic)
        chain = self._chains.get(key)
        if chain is None:
            chain = self._chains[key] = _Chain()
            if not self._from_start and item.seq > 1:
                chain.head, chain.hash = item.seq - 1, item.prevhash
        seq, record_hash = item.seq, None if item.hash is None else item.hash.hex()
        repeat = False
        placed = place(chain.head, chain.hash, seq, item.prevhash or "")
        if placed in (Place.NEXT, Place.FORKED):
            if placed is Place.FORKED:
                found.append(
                    item.anomaly(
                        Reason.CHAIN_FORK,
                        f"seq {seq} names previous record {_short(item.prevhash)}, but the "
                        f"record seen as seq {seq - 1} is {_short(chain.hash)}: the chain forks "
                        "or its previous record was replaced",
                    )
                )
            self._advance(chain, seq, record_hash, item.offset)
        elif placed is Place.AHEAD:
            # Reported at the end: a skipped seq that turns up later is a reorder instead.
            chain.partition = item.partition
            for missing in range(chain.head + 1, min(seq, chain.head + 1 + _MAX_MISSING)):
                chain.missing[missing] = item.offset
            self._advance(chain, seq, record_hash, item.offset)
        elif record_hash is None:
            # Behind the head and not verified: its chain claims are unsigned hints, and its
            # signature or key anomaly already says what is wrong with it.
            repeat = True
        else:
            repeat = True
            found.append(self._behind(chain, item, record_hash))
        return found, repeat

    def continues(self, first: Examined) -> bool:
        """Whether a clean run of records starting at ``first`` follows its chain's head.

        True only where :meth:`judge` would find nothing wrong with ``first`` (its seq
        next, its prev-hash the head's, its chain placed right); :meth:`advance_run` then
        takes the whole run at once.
        """
        chain = self._chains.get((first.chain or "", first.topic))
        head_hash: str | None
        if chain is None:
            if not self._from_start:
                return False  # where such a chain begins is judged record by record
            head, head_hash = 0, GENESIS
        else:
            head, head_hash = chain.head, chain.hash
        if (
            first.seq is None
            or head_hash is None
            or place(head, head_hash, first.seq, first.prevhash or "") is not Place.NEXT
        ):
            return False
        placed = (first.chain or "", first.agency, first.partition)
        if placed not in self._placed:
            found: list[Anomaly] = []
            self._judge_placement(first, found)
            if found:
                return False
            self._placed.add(placed)
        return True

    def advance_run(self, first: Examined, hashes: list[str], offsets: list[int]) -> None:
        """Take a run :meth:`continues` accepted: seqs ``first.seq`` on, these hashes."""
        key = (first.chain or "", first.topic)
        chain = self._chains.get(key)
        if chain is None:
            chain = self._chains[key] = _Chain()
        seq, count = first.seq or 0, len(hashes)
        chain.head, chain.hash = seq + count - 1, hashes[-1]
        skip = max(0, count - _WINDOW)
        recent = chain.recent
        places = zip(hashes[skip:], offsets[skip:], strict=True)
        recent.update(zip(range(seq + skip, seq + count), places, strict=True))
        while len(recent) > _WINDOW:
            recent.popitem(last=False)

    def _behind(self, chain: _Chain, item: Examined, record_hash: str | None) -> Anomaly:
        seq = item.seq or 0
        if seq in chain.missing:
            gap_at = chain.missing.pop(seq)
            chain.recent[seq] = (record_hash, item.offset)
            return item.anomaly(
                Reason.REORDERED,
                f"seq {seq} arrives after seq {chain.head} (it was missing at offset {gap_at}): "
                "records of this chain were swapped or reordered",
            )
        seen = chain.recent.get(seq)
        if seen is not None and seen[0] is not None and seen[0] == record_hash:
            return item.anomaly(
                Reason.DUPLICATE,
                f"the record with seq {seq} was already stored at offset {seen[1]}; this is "
                "a replay of the same signed record",
            )
        if seen is not None:
            return item.anomaly(
                Reason.CHAIN_FORK,
                f"a different record with seq {seq} was already stored at offset {seen[1]}: "
                "two records claim the same place in the chain",
            )
        return item.anomaly(
            Reason.DUPLICATE,
            f"seq {seq} is behind the chain's head {chain.head}: a replay or a fork of an "
            "old record",
        )

    def _advance(self, chain: _Chain, seq: int, record_hash: str | None, offset: int) -> None:
        chain.head, chain.hash = seq, record_hash
        chain.recent[seq] = (record_hash, offset)
        while len(chain.recent) > _WINDOW:
            chain.recent.popitem(last=False)

    def _check_placement(self, item: Examined, found: list[Anomaly]) -> None:
        placed = (item.chain or "", item.agency, item.partition)
        if placed in self._placed:
            return
        before = len(found)
        self._judge_placement(item, found)
        if len(found) == before:
            self._placed.add(placed)  # as many as there are chains

    def _judge_placement(self, item: Examined, found: list[Anomaly]) -> None:
        try:
            check_placement(item.chain or "", agency=item.agency, partition=item.partition)
        except RecordRejectedError as error:
            found.append(item.anomaly(Reason.CHAIN_MISPLACED, error.detail))

    def finish(self) -> list[Anomaly]:
        """Seqs that went missing and never turned up: deleted or withheld, one per run."""
        found = []
        for (chain_id, topic), chain in self._chains.items():
            runs: list[list[int]] = []
            for seq in sorted(chain.missing):
                if runs and runs[-1][-1] == seq - 1:
                    runs[-1].append(seq)
                else:
                    runs.append([seq])
            for run in runs:
                span = f"seq {run[0]}" if len(run) == 1 else f"seqs {run[0]}–{run[-1]}"
                found.append(
                    Anomaly(
                        kind=Reason.SEQUENCE_GAP,
                        detail=f"{span} of this chain never appeared: the chain jumps over "
                        f"{'it' if len(run) == 1 else 'them'} just before offset "
                        f"{chain.missing[run[0]]}; deleted or withheld",
                        topic=topic,
                        partition=chain.partition,
                        offset=chain.missing[run[0]],
                        chain=chain_id,
                        seq=run[0],
                    )
                )
        return found


def _short(value: str | None) -> str:
    return "unknown" if value is None else f"{value[:16]}…"
