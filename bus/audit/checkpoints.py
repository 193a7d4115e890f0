"""The checkpoints an auditor has collected, who signed them, and which it may trust.

The log keeper's checkpoints are signed with its agency's signing key(s) from the
agreement (:func:`bus.tlog.trust.log_keys_of`); witnesses are the other members,
cosigning under :func:`bus.tlog.witness.witness_name`. A checkpoint is *trusted* (lets
checkpoint mode skip signature checks below its size) when at least ``quorum`` witnesses
cosigned it and its log shows no split view. The quorum is the agreement's
(:meth:`agencies.agreement.Agreement.checkpoint_quorum`: a majority of the other members
unless the agreement sets ``witness_quorum``), or the one the auditor asks for.

Each witness publishes its own cosigned copy of a checkpoint; the book gathers them: the
note of a checkpoint (:meth:`CheckpointBook.note`, :meth:`CheckpointBook.notes`) carries
the log's signature and every witness cosignature that verified, one note per
checkpoint, as bundles and proofs hand it on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agencies.errors import VerificationError
from agencies.history import AgreementHistory
from bus.audit.anomaly import Anomaly
from bus.errors import CheckpointError
from bus.reasons import Reason
from bus.tlog.checkpoint import (
    Checkpoint,
    CosignatureVerifier,
    NoteSignature,
    NoteVerifier,
    SignedNote,
    open_checkpoint,
)
from bus.tlog.log import log_origin
from bus.tlog.trust import log_keys_of, parse_origin
from bus.tlog.witness import witness_name

__all__ = ["CheckpointBook"]


@dataclass(slots=True)
class _Head:
    root: bytes
    note: SignedNote  # the log's signature and every verified cosignature, gathered
    witnesses: set[str] = field(default_factory=set)
    notes: int = 1

    def gather(self, signatures: list[NoteSignature]) -> None:
        """Add the signatures of keys the note has none of yet (the first one is kept)."""
        for signature in signatures:
            if not any(_same_key(signature, s) for s in self.note.signatures):
                self.note = self.note.with_signature(signature)


class CheckpointBook:
    """Checkpoints by origin and size; split views are found as checkpoints are added."""

    def __init__(
        self,
        agreements: AgreementHistory,
        *,
        federation: str,
        keeper: str,
        quorum: int | None = None,
    ) -> None:
        """``quorum``: witness cosignatures a checkpoint needs to be trusted (None: the
        latest agreement version's :meth:`~agencies.agreement.Agreement.checkpoint_quorum`)."""
        if quorum is None:
            quorum = agreements.latest.checkpoint_quorum(keeper)
        if quorum < 0:
            raise CheckpointError(f"a witness quorum of {quorum} makes no sense")
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
            kept = self._log_signatures(checkpoint, parsed)
            for verifier in self._witnesses:
                if verifier.find(parsed) is not None:
                    witnesses.add(verifier.name)
                    kept += [s for s in parsed.signatures if _is(s, verifier)]
        except CheckpointError as error:
            return [Anomaly(kind=Reason.CHECKPOINT_INVALID, detail=str(error))]
        self.count += 1
        heads = self._heads.setdefault(checkpoint.origin, {}).setdefault(checkpoint.size, [])
        for head in heads:
            if head.root == checkpoint.root:
                head.witnesses |= witnesses
                head.notes += 1
                head.gather(kept)
                return []
        head = _Head(root=checkpoint.root, note=SignedNote(parsed.text, ()), witnesses=witnesses)
        head.gather(kept)
        heads.append(head)
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

    def _log_signatures(self, checkpoint: Checkpoint, note: SignedNote) -> list[NoteSignature]:
        """The signatures of the log's keys on ``note`` that verify (one did, or it would
        not have opened)."""
        kept = []
        for key in self._log_keys:
            verifier = NoteVerifier(checkpoint.origin, key)
            for signature in note.signatures:
                if verifier.matches(signature):
                    try:
                        key.verify(signature.signature, note.text.encode())
                    except VerificationError:
                        continue
                    kept.append(signature)
        return kept

    def note(self, origin: str, size: int) -> bytes | None:
        """The gathered note of ``origin`` at ``size``; None if there is none, or two (a
        split view: no one note is *the* checkpoint then)."""
        heads = self._heads.get(origin, {}).get(size, [])
        return heads[0].note.to_bytes() if len(heads) == 1 else None

    def notes(self) -> list[bytes]:
        """Every checkpoint's gathered note (both of a split view), by origin and size."""
        return [
            head.note.to_bytes()
            for origin in sorted(self._heads)
            for size in sorted(self._heads[origin])
            for head in self._heads[origin][size]
        ]

    def witnesses_at(self, origin: str, size: int) -> set[str]:
        """The witnesses whose cosignature of ``origin`` at ``size`` verified."""
        heads = self._heads.get(origin, {}).get(size, [])
        return set().union(*(h.witnesses for h in heads)) if heads else set()

    def checkpoints_of(self, origin: str) -> list[tuple[int, bytes, set[str]]]:
        """(size, root, witnesses) of every checkpoint of ``origin``, smallest first."""
        return [
            (size, head.root, set(head.witnesses))
            for size, heads in sorted(self._heads.get(origin, {}).items())
            for head in heads
        ]

    def split(self, origin: str) -> bool:
        """Whether ``origin``'s log showed two roots for one size."""
        return origin in self._split

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


def _same_key(one: NoteSignature, other: NoteSignature) -> bool:
    return (one.name, one.key_id) == (other.name, other.key_id)


def _is(signature: NoteSignature, verifier: CosignatureVerifier) -> bool:
    return (signature.name, signature.key_id) == (verifier.name, verifier.key_id)


def _names(witnesses: set[str]) -> str:
    return ", ".join(sorted(witnesses)) if witnesses else "no witness"
