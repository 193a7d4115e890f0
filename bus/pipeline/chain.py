"""Step 7 of the pipeline: a record's place in its chain — one rule, one genesis.

A chain is ``(chain id, seq, prev-hash)``: the records one publishing process writes to
one topic partition, seq contiguous from 1, prev-hash the hash of the record before it
(:data:`GENESIS` for seq 1). The chain id is its issuer's and its partition's
(``<agency>.<publisher>.<id>.p<partition>``). The consumer keeps each chain's head in its
local store and the auditor in memory; both judge a record's place with :func:`place`.
"""

from __future__ import annotations

import enum

from bus.envelope.headers import GENESIS
from bus.errors import RecordRejectedError
from bus.reasons import Reason

__all__ = ["GENESIS", "Place", "check_placement", "place"]


def check_placement(chain_id: str, *, agency: str | None, partition: int) -> None:
    """The chain id is ``agency``'s and this partition's; else ``chain-misplaced`` (the
    refusal names ``agency`` as the signer: the consumer checks verified records only).

    Without it one member could name another's chain and advance it at every consumer,
    so that the other's next honest record looked like a fork. ``agency`` None: whose it
    is, is not known (an auditor's unverified hint): the partition alone is judged.
    """
    if agency is not None and not chain_id.startswith(f"{agency}."):
        raise RecordRejectedError(
            Reason.CHAIN_MISPLACED,
            f"chain {chain_id[:80]} is not {agency}'s",
            signer=agency,
        )
    if not chain_id.endswith(f".p{partition}"):
        raise RecordRejectedError(
            Reason.CHAIN_MISPLACED,
            f"chain {chain_id[:80]} belongs to another partition than {partition}",
            signer=agency,
        )


class Place(enum.Enum):
    """Where a record stands against its chain's head."""

    NEXT = "next"  # seq follows the head and names it: the chain goes on
    FORKED = "forked"  # seq follows the head but names another record before it
    AHEAD = "ahead"  # seq skips over records: a gap (or, later, a reorder)
    BEHIND = "behind"  # seq at or before the head: a replay, a duplicate or a fork


def place(head_seq: int, head_hash: str | None, seq: int, prevhash: str) -> Place:
    """The place of a record with ``seq`` and ``prevhash`` after the chain's head.

    ``head_seq`` 0 with :data:`GENESIS` is a chain not seen yet; ``head_hash`` None is a
    head whose record did not verify (its hash unknown: the prev-hash is not judged).
    """
    if seq == head_seq + 1:
        return Place.NEXT if head_hash is None or prevhash == head_hash else Place.FORKED
    if seq > head_seq + 1:
        return Place.AHEAD
    return Place.BEHIND
