"""The checkpoints an auditor has collected, who signed them, and which it may trust.

The log keeper's checkpoints are signed with its agency's signing key(s) from the
agreement (:func:`bus.tlog.trust.log_keys_of`); witnesses are the other members,
cosigning under :func:`bus.tlog.witness.witness_name`. A checkpoint is *trusted* (lets
checkpoint mode skip signature checks below its size) when at least ``quorum`` witnesses
cosigned it and its log shows no split view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agencies.history import AgreementHistory
from bus.audit.anomaly import Anomaly
from bus.errors import CheckpointError
from bus.reasons import Reason
from bus.tlog.checkpoint import Checkpoint, CosignatureVerifier, open_checkpoint
from bus.tlog.log import log_origin
from bus.tlog.trust import log_keys_of, parse_origin
from bus.tlog.witness import witness_name

__all__ = ["CheckpointBook"]


@dataclass(slots=True)
class _Head:
    root: bytes
    witnesses: set[str] = field(default_factory=set)
    notes: int = 1


class CheckpointBook:
    """Checkpoints by origin and size; split views are found as checkpoints are added."""

    def __init__(
        self, agreements: AgreementHistory, *, federation: str, keeper: str, quorum: int = 1
    ) -> None:
        self.keeper, self.quorum = keeper, quorum
        self._log_keys = log_keys_of(agreements, keeper)
        if not self._log_keys:
            raise CheckpointError(f"log keeper {keeper} has no signing key in the agreement")
        members = {m.code for v in agreements.versions for m in v.members} - {keeper}
        self._witnesses = [
            CosignatureVerifier(witness_name(federation, code), key)
            for code in sorted(members)
            for key in log_keys_of(agreements, code)
        ]
        self._heads: dict[str, dict[int, list[_Head]]] = {}
        self._split: set[str] = set()
        self.count = 0

    def add(self, note: bytes) -> list[Anomaly]:
        """File one checkpoint note (log-signed, with any cosignatures); anomalies found."""
        try:
            checkpoint, parsed = open_checkpoint(note, self._log_keys)
            witnesses = set()
            for verifier in self._witnesses:
                if verifier.find(parsed) is not None:
                    witnesses.add(verifier.name)
        except CheckpointError as error:
            return [Anomaly(kind=Reason.CHECKPOINT_INVALID, detail=str(error))]
        self.count += 1
        heads = self._heads.setdefault(checkpoint.origin, {}).setdefault(checkpoint.size, [])
        for head in heads:
            if head.root == checkpoint.root:
                head.witnesses |= witnesses
                head.notes += 1
                return []
        heads.append(_Head(root=checkpoint.root, witnesses=witnesses))
        if len(heads) < 2:
            return []
        self._split.add(checkpoint.origin)
        first = heads[0]
        return [
            self._located(
                checkpoint,
                Reason.SPLIT_VIEW,
                f"the log keeper {self.keeper} signed two different roots for size "
                f"{checkpoint.size} of {checkpoint.origin}: {first.root.hex()[:16]}… "
                f"(cosigned by {_names(first.witnesses)}) and {checkpoint.root.hex()[:16]}… "
                f"(cosigned by {_names(witnesses)}); agencies were shown different histories",
            )
        ]

    def _located(self, checkpoint: Checkpoint, kind: Reason, detail: str) -> Anomaly:
        place = parse_origin(checkpoint.origin)
        return Anomaly(
            kind=kind,
            detail=detail,
            topic=None if place is None else place[0],
            partition=None if place is None else place[1],
        )

    def roots_at(self, topic: str, partition: int, size: int) -> list[tuple[bytes, set[str]]]:
        heads = self._heads.get(log_origin(topic, partition), {}).get(size, [])
        return [(h.root, h.witnesses) for h in heads]

    def sizes(self, topic: str, partition: int) -> frozenset[int]:
        """Every size checkpointed for this partition (roots_at is empty at any other)."""
        return frozenset(self._heads.get(log_origin(topic, partition), ()))

    def trusted_size(self, topic: str, partition: int) -> int:
        """Largest size cosigned by a quorum, 0 if none or if the log shows a split view."""
        origin = log_origin(topic, partition)
        if origin in self._split:
            return 0
        sizes = [
            size
            for size, heads in self._heads.get(origin, {}).items()
            if any(len(h.witnesses) >= self.quorum for h in heads)
        ]
        return max(sizes, default=0)

    def origins(self) -> dict[str, int]:
        """Every origin seen, with the largest size checkpointed."""
        return {origin: max(sizes) for origin, sizes in self._heads.items()}


def _names(witnesses: set[str]) -> str:
    return ", ".join(sorted(witnesses)) if witnesses else "no witness"
