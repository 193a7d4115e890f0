"""What a proof says, and how it is printed: a C2SP ``tlog-proof`` for inclusion, the same
shape for consistency (``silian/tlog-consistency@v1``), JSON for programs, and the lines of
a bundle (docs/audit.md "Proofs"). Made by :class:`bus.audit.proofs.ProofLogs`."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from bus.tlog.merkle import leaf_hash

__all__ = [
    "CONSISTENCY_FORMAT",
    "INCLUSION_FORMAT",
    "ConsistencyProof",
    "InclusionProof",
    "LeafPlace",
]

INCLUSION_FORMAT = "c2sp.org/tlog-proof@v1"
CONSISTENCY_FORMAT = "silian/tlog-consistency@v1"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True, kw_only=True, slots=True)
class LeafPlace:
    """Where an accepted record is: its partition, offset and leaf index."""

    origin: str
    topic: str
    partition: int
    offset: int
    index: int
    record_hash: bytes
    event_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class InclusionProof:
    """Leaf ``index`` of ``origin`` lies in the tree of the cosigned ``note``."""

    place: LeafPlace
    size: int
    root: bytes
    hashes: tuple[bytes, ...]
    note: bytes  # the gathered checkpoint note: the log's signature and the cosignatures
    witnesses: tuple[str, ...]
    quorum: int

    def text(self) -> str:
        """The C2SP tlog-proof: ``extra`` is the record hash (the leaf's data)."""
        lines = [
            INCLUSION_FORMAT,
            f"extra {_b64(self.place.record_hash)}",
            f"index {self.place.index}",
            *(_b64(h) for h in self.hashes),
        ]
        return "".join(line + "\n" for line in lines) + "\n" + self.note.decode("utf-8")

    def json(self) -> dict[str, Any]:
        place = self.place
        return {
            "format": INCLUSION_FORMAT,
            "origin": place.origin,
            "topic": place.topic,
            "partition": place.partition,
            "offset": place.offset,
            "event_id": place.event_id,
            "index": place.index,
            "record_hash": place.record_hash.hex(),
            "leaf_hash": leaf_hash(place.record_hash).hex(),
            "tree_size": self.size,
            "root": _b64(self.root),
            "hashes": [_b64(h) for h in self.hashes],
            "checkpoint": self.note.decode("utf-8"),
            "witnesses": list(self.witnesses),
            "quorum": self.quorum,
            "proof": self.text(),
        }

    def bundle_line(self) -> dict[str, Any]:
        """The fields of its bundle line; the note is the bundle's checkpoint line of
        (``origin``, ``tree_size``)."""
        place = self.place
        return {
            "type": "inclusion",
            "origin": place.origin,
            "topic": place.topic,
            "partition": place.partition,
            "offset": place.offset,
            "index": place.index,
            "record_hash": place.record_hash.hex(),
            "tree_size": self.size,
            "hashes": [_b64(h) for h in self.hashes],
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsistencyProof:
    """The tree of ``size`` (the cosigned ``note``) extends the tree of ``old_size``."""

    origin: str
    old_size: int
    old_root: bytes
    size: int
    root: bytes
    hashes: tuple[bytes, ...]
    note: bytes
    witnesses: tuple[str, ...]
    quorum: int
    old_note: bytes | None = None  # the gathered note at old_size, if it is a checkpoint

    def text(self) -> str:
        lines = [
            CONSISTENCY_FORMAT,
            f"old {self.old_size} {_b64(self.old_root)}",
            *(_b64(h) for h in self.hashes),
        ]
        return "".join(line + "\n" for line in lines) + "\n" + self.note.decode("utf-8")

    def json(self) -> dict[str, Any]:
        return {
            "format": CONSISTENCY_FORMAT,
            "origin": self.origin,
            "old_size": self.old_size,
            "old_root": _b64(self.old_root),
            "tree_size": self.size,
            "root": _b64(self.root),
            "hashes": [_b64(h) for h in self.hashes],
            "checkpoint": self.note.decode("utf-8"),
            "old_checkpoint": None if self.old_note is None else self.old_note.decode("utf-8"),
            "witnesses": list(self.witnesses),
            "quorum": self.quorum,
            "proof": self.text(),
        }

    def bundle_line(self) -> dict[str, Any]:
        return {
            "type": "consistency",
            "origin": self.origin,
            "old_size": self.old_size,
            "tree_size": self.size,
            "hashes": [_b64(h) for h in self.hashes],
        }
