"""Proofs for auditors: a record lies under a cosigned checkpoint; a log only grew.

:class:`ProofLogs` rebuilds the Merkle logs of a history (a bundle, or the topics on a
transport) by the log keeper's own rule (:mod:`bus.node.keeper`: every record that
verifies is the next leaf of its partition's log, its leaf data the record hash), in a
:class:`~bus.tlog.log.MerkleLog` on disk, and files the checkpoint notes in a
:class:`~bus.audit.checkpoints.CheckpointBook`, which gathers the witnesses' cosignatures
into one note per checkpoint. From them:

* :meth:`ProofLogs.inclusion` — an :class:`InclusionProof`, printed as a C2SP
  ``tlog-proof`` (``c2sp.org/tlog-proof@v1``): the index, the RFC 6962 audit path and the
  gathered checkpoint note it leads to, the record hash as ``extra``;
* :meth:`ProofLogs.consistency` — a :class:`ConsistencyProof`, printed in the same shape
  (``silian/tlog-consistency@v1``, docs/audit.md "Proofs"): the old size and root, the
  RFC 6962 consistency proof and the gathered note of the newer checkpoint.

A proof leads only to a checkpoint cosigned by the quorum, in a log with no split view,
whose root the history here reproduces — otherwise :class:`~bus.errors.ProofError`
says why. A question about something the history does not hold (a leaf beyond the log,
an unknown event id, ``from`` after ``to``) is a :class:`~bus.errors.ConfigError`.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agencies.history import AgreementHistory
from bus.audit.checkpoints import CheckpointBook
from bus.audit.proof_text import ConsistencyProof, InclusionProof, LeafPlace
from bus.errors import ConfigError, ProofError, RecordRejectedError
from bus.pipeline import VerifyPolicy, verify_record
from bus.tlog.log import MerkleLog, log_origin
from bus.tlog.trust import parse_origin
from bus.transport.base import Record

__all__ = ["ProofLogs"]

_CHUNK = 4096  # leaves appended to a log in one transaction


@dataclass(slots=True)
class _Log:
    merkle: MerkleLog
    offsets: array[int] = field(default_factory=lambda: array("q"))  # offset of each leaf
    hashes: bytearray = field(default_factory=bytearray)  # each leaf's record hash, joined
    pending: list[bytes] = field(default_factory=list)
    last_offset: int = -1


class ProofLogs:
    """The logs of one history, rebuilt as the log keeper builds them, and its checkpoints.

    ``path``: an SQLite file of the caller's (a temporary one); ``watch``: event ids whose
    places to remember (every accepted record's place is kept by offset anyway).
    """

    def __init__(
        self,
        path: Path,
        agreements: AgreementHistory,
        *,
        federation: str,
        keeper: str,
        quorum: int | None = None,
        watch: frozenset[str] = frozenset(),
    ) -> None:
        self._path, self._agreements = path, agreements
        self._policy = VerifyPolicy()  # the keeper's (and the auditor's stage 1) rule
        self.book = CheckpointBook(agreements, federation=federation, keeper=keeper, quorum=quorum)
        self._logs: dict[str, _Log] = {}
        self._watch = watch
        self.found: dict[str, list[LeafPlace]] = {}  # watched event id -> its leaves
        self.refused: dict[str, list[tuple[Record, str]]] = {}  # watched id -> not a leaf

    @property
    def quorum(self) -> int:
        return self.book.quorum

    def close(self) -> None:
        for log in self._logs.values():
            log.merkle.close()

    def __enter__(self) -> ProofLogs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_checkpoint(self, note: bytes) -> None:
        self.book.add(note)  # a note that does not verify is passed over: it proves nothing

    def feed(self, record: Record) -> None:
        """One record of the history, in stored order per partition."""
        origin = log_origin(record.topic, record.partition)
        log = self._logs.get(origin)
        if log is None:
            log = self._logs[origin] = _Log(MerkleLog(self._path, origin))
        if record.offset <= log.last_offset:
            return  # read again: already a leaf, or already refused
        log.last_offset = record.offset
        try:
            verified = verify_record(record, self._agreements, self._policy)
        except RecordRejectedError as error:
            watched = _event_id(record)
            if watched in self._watch:
                self.refused.setdefault(watched, []).append((record, str(error)))
            return
        record_hash = bytes.fromhex(verified.hash)
        index = len(log.offsets)
        log.offsets.append(record.offset)
        log.hashes += record_hash
        log.pending.append(record_hash)
        if verified.attributes.id in self._watch:
            self.found.setdefault(verified.attributes.id, []).append(
                LeafPlace(
                    origin=origin,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    index=index,
                    record_hash=record_hash,
                    event_id=verified.attributes.id,
                )
            )
        if len(log.pending) >= _CHUNK:
            self._flush(log)

    def _flush(self, log: _Log) -> None:
        if log.pending:
            log.merkle.append(log.pending)
            log.pending = []

    def origins(self) -> list[str]:
        """Every log the history holds, and every log a checkpoint names."""
        return sorted(set(self._logs) | set(self.book.origins()))

    def size(self, origin: str) -> int:
        log = self._logs.get(origin)
        return 0 if log is None else len(log.offsets)

    def _log(self, origin: str) -> MerkleLog:
        log = self._logs.get(origin)
        if log is None:
            raise ConfigError(f"{origin}: no record of this log in the history")
        self._flush(log)
        return log.merkle

    def place(self, origin: str, index: int) -> LeafPlace:
        """Leaf ``index`` of ``origin``; ConfigError if the log holds no such leaf."""
        size = self.size(origin)
        if not 0 <= index < size:
            holds = f"0 to {size - 1}" if size else "none"
            raise ConfigError(
                f"leaf {index} is beyond the log {origin}: it holds {size} leaves ({holds})"
            )
        log = self._logs[origin]
        topic, partition = parse_origin(origin) or (origin, 0)
        return LeafPlace(
            origin=origin,
            topic=topic,
            partition=partition,
            offset=log.offsets[index],
            index=index,
            record_hash=bytes(log.hashes[32 * index : 32 * index + 32]),
        )

    def event(self, event_id: str) -> LeafPlace:
        """The leaf of the accepted record with ``event_id`` (a watched id)."""
        places = self.found.get(event_id, [])
        if len(places) == 1:
            return places[0]
        if len(places) > 1:
            where = ", ".join(f"{p.origin} leaf {p.index} (offset {p.offset})" for p in places)
            raise ConfigError(
                f"event {event_id} is at {len(places)} leaves: {where}; name one with --index"
            )
        refused = self.refused.get(event_id, [])
        if refused:
            record, why = refused[0]
            raise ConfigError(
                f"event {event_id} ({record.topic} partition {record.partition} offset "
                f"{record.offset}) is no leaf of the log: it does not verify ({why})"
            )
        raise ConfigError(f"no record with event id {event_id} in the history")

    def inclusion(self, place: LeafPlace) -> InclusionProof:
        """The proof of ``place`` against the largest trusted checkpoint covering it."""
        size, witnesses = self._trusted(
            place.origin, lambda s: s > place.index, f"that covers leaf {place.index}"
        )
        log = self._log(place.origin)
        root = self._reproduced(place.origin, size)
        note = self.book.note(place.origin, size)
        assert note is not None  # noqa: S101 - a trusted size has exactly one root
        return InclusionProof(
            place=place,
            size=size,
            root=root,
            hashes=tuple(log.inclusion_proof(place.index, size)),
            note=note,
            witnesses=witnesses,
            quorum=self.quorum,
        )

    def consistency(self, origin: str, old_size: int, size: int | None) -> ConsistencyProof:
        """From the tree of ``old_size`` to the checkpoint of ``size`` (None: the largest
        trusted one)."""
        held = self.size(origin)
        if size is not None:
            if size > held:
                raise ConfigError(f"size {size} is beyond the log {origin}: it holds {held} leaves")
            if old_size > size:
                raise ConfigError(
                    f"--from {old_size} is after --to {size}: a log only grows, "
                    "a proof runs from the smaller tree to the larger"
                )
            if size not in {s for s, _, _ in self.book.checkpoints_of(origin)}:
                sizes = ", ".join(str(s) for s, _, _ in self.book.checkpoints_of(origin))
                raise ConfigError(
                    f"{origin} has no checkpoint of size {size} to prove against "
                    f"(its checkpoints: {sizes or 'none'})"
                )
        if old_size > held:
            raise ConfigError(f"size {old_size} is beyond the log {origin}: it holds {held} leaves")
        wanted = (lambda s: s == size) if size is not None else (lambda s: s >= old_size)
        what = f"of size {size}" if size is not None else f"of size {old_size} or more"
        new_size, witnesses = self._trusted(origin, wanted, what)
        if old_size > new_size:
            raise ConfigError(
                f"--from {old_size} is after the largest trusted checkpoint of {origin} "
                f"(size {new_size}): a proof runs from the smaller tree to the larger"
            )
        log = self._log(origin)
        root = self._reproduced(origin, new_size)
        old_root = log.root(old_size)
        old_note = self.book.note(origin, old_size) if old_size else None
        if old_note is not None:
            old_root = self._reproduced(origin, old_size)
        note = self.book.note(origin, new_size)
        assert note is not None  # noqa: S101 - a trusted size has exactly one root
        return ConsistencyProof(
            origin=origin,
            old_size=old_size,
            old_root=old_root,
            size=new_size,
            root=root,
            hashes=tuple(log.consistency_proof(old_size, new_size)),
            note=note,
            witnesses=witnesses,
            quorum=self.quorum,
            old_note=old_note,
        )

    def bundle_proofs(self) -> Iterator[ConsistencyProof | InclusionProof]:
        """What a bundle carries, per log whose largest trusted checkpoint the history
        reproduces: a consistency proof from each smaller checkpoint to it, then the
        inclusion proof of every leaf under it."""
        for origin in self.origins():
            try:
                latest, _ = self._trusted(origin, lambda s: s > 0, "")
                self._reproduced(origin, latest)
            except ProofError:
                continue  # nothing trusted to lead to: the replay says why
            for size, _, _ in self.book.checkpoints_of(origin):
                if 0 < size < latest:
                    try:
                        yield self.consistency(origin, size, latest)
                    except ProofError:
                        continue  # that checkpoint does not reproduce: no link from it
            for index in range(latest):
                yield self.inclusion(self.place(origin, index))

    def _trusted(self, origin: str, wanted: Any, what: str) -> tuple[int, tuple[str, ...]]:
        """The largest checkpoint size ``wanted`` accepts that a quorum cosigned; ``what``
        the checkpoint wanted, as the error says it (``that covers leaf 7``)."""
        if self.book.split(origin):
            raise ProofError(
                f"{origin} shows a split view (two roots for one size): none of its "
                "checkpoints can be trusted; run silian audit replay for the evidence"
            )
        candidates = [(s, w) for s, _, w in self.book.checkpoints_of(origin) if wanted(s)]
        trusted = [(s, w) for s, w in candidates if len(w) >= self.quorum]
        if not trusted:
            sizes = [s for s, _, _ in self.book.checkpoints_of(origin)]
            if not candidates:
                largest = f"its largest is of size {max(sizes)}" if sizes else "it has none"
                raise ProofError(f"no checkpoint of {origin} {what} yet ({largest})")
            best = max(candidates, key=lambda c: (len(c[1]), c[0]))
            raise ProofError(
                f"no checkpoint of {origin} {what} is cosigned by a quorum of {self.quorum} "
                f"witnesses (the best: size {best[0]}, cosigned by {len(best[1])})"
            )
        size, witnesses = max(trusted, key=lambda c: c[0])
        return size, tuple(sorted(witnesses))

    def _reproduced(self, origin: str, size: int) -> bytes:
        """The root at ``size``, which must be the checkpoint's (the history is whole)."""
        held = self.size(origin)
        if size > held:
            raise ProofError(
                f"the checkpoint of {origin} at size {size} covers more than the {held} "
                "accepted records the history holds: records were deleted or withheld"
            )
        root = self._log(origin).root(size)
        signed = [r for s, r, _ in self.book.checkpoints_of(origin) if s == size]
        if signed and signed[0] != root:
            raise ProofError(
                f"the history does not reproduce the checkpoint of {origin} at size {size}: "
                f"its root is {signed[0].hex()[:16]}…, the records give {root.hex()[:16]}… "
                "(run silian audit replay for where they differ)"
            )
        return root


def _event_id(record: Record) -> str | None:
    """The ``ce_id`` header of a record that did not verify (as text, if it is)."""
    for name, value in record.headers:
        if name == "ce_id" and value is not None:
            return value.decode("utf-8", "replace")
    return None
