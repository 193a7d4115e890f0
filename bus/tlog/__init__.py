"""The transparency log: RFC 9162 Merkle trees over accepted records, C2SP checkpoints
signed by the log keeper and cosigned by witnesses.

The book an auditor keeps of the checkpoints is :class:`bus.audit.checkpoints.CheckpointBook`.

The proof functions follow RFC 9162 and are public API:
``verify_inclusion(leaf_hash, index, tree_size, proof, root)`` and
``verify_consistency(size1, size2, root1, root2, proof)``. The services that keep the log
and witness it run in an agency's node (:mod:`bus.node.keeper`, :mod:`bus.node.witnessing`).
"""

from __future__ import annotations

from bus.tlog.checkpoint import (
    Checkpoint,
    Cosignature,
    CosignatureVerifier,
    Cosigner,
    NoteSigner,
    NoteVerifier,
    SignedNote,
    open_checkpoint,
)
from bus.tlog.log import MerkleLog, log_origin
from bus.tlog.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from bus.tlog.messages import (
    NoteKind,
    NoteMessage,
    checkpoint_message,
    cosigned_message,
    note_origin,
    read_message,
    refusal_message,
)
from bus.tlog.trust import log_keys_of, parse_origin
from bus.tlog.witness import Witness, witness_name

__all__ = [
    "EMPTY_ROOT",
    "Checkpoint",
    "CompactRange",
    "Cosignature",
    "CosignatureVerifier",
    "Cosigner",
    "MerkleLog",
    "NoteKind",
    "NoteMessage",
    "NoteSigner",
    "NoteVerifier",
    "SignedNote",
    "Witness",
    "checkpoint_message",
    "consistency_proof",
    "cosigned_message",
    "inclusion_proof",
    "leaf_hash",
    "log_keys_of",
    "log_origin",
    "node_hash",
    "note_origin",
    "open_checkpoint",
    "parse_origin",
    "read_message",
    "refusal_message",
    "verify_consistency",
    "verify_inclusion",
    "witness_name",
]
