"""Audit: replay the signed history, a Merkle log with witnessed checkpoints, bundles.

See docs/audit.md. The proof functions follow RFC 9162 and are public API:
``verify_inclusion(leaf_hash, index, tree_size, proof, root)`` and
``verify_consistency(size1, size2, root1, root2, proof)``.
"""

from __future__ import annotations

from bus.audit.anomaly import Anomaly
from bus.audit.bundle import BUNDLE_FORMAT, Bundle, BundleWriter, open_bundle
from bus.audit.checkpoint import (
    Checkpoint,
    Cosignature,
    CosignatureVerifier,
    Cosigner,
    NoteSigner,
    NoteVerifier,
    SignedNote,
    open_checkpoint,
)
from bus.audit.log import MerkleLog, log_origin
from bus.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from bus.audit.replay import AuditReport, Mode, Replayer, ReplayOptions, replay
from bus.audit.report import render_html, render_json, render_text
from bus.audit.runner import export_bundle, replay_bundle, replay_transport
from bus.audit.source import RecordRange
from bus.audit.trust import CheckpointBook
from bus.audit.witness import Witness, witness_name
from bus.errors import (
    AuditError,
    BundleError,
    CheckpointError,
    InconsistentCheckpointError,
    ProofError,
    SplitViewError,
)

__all__ = [
    "BUNDLE_FORMAT",
    "EMPTY_ROOT",
    "Anomaly",
    "AuditError",
    "AuditReport",
    "Bundle",
    "BundleError",
    "BundleWriter",
    "Checkpoint",
    "CheckpointBook",
    "CheckpointError",
    "CompactRange",
    "Cosignature",
    "CosignatureVerifier",
    "Cosigner",
    "InconsistentCheckpointError",
    "MerkleLog",
    "Mode",
    "NoteSigner",
    "NoteVerifier",
    "ProofError",
    "RecordRange",
    "ReplayOptions",
    "Replayer",
    "SignedNote",
    "SplitViewError",
    "Witness",
    "consistency_proof",
    "export_bundle",
    "inclusion_proof",
    "leaf_hash",
    "log_origin",
    "node_hash",
    "open_bundle",
    "open_checkpoint",
    "render_html",
    "render_json",
    "render_text",
    "replay",
    "replay_bundle",
    "replay_transport",
    "verify_consistency",
    "verify_inclusion",
    "witness_name",
]
