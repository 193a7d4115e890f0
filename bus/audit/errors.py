"""The errors of the audit package, under :class:`bus.errors.BusError`.

::

    BusError
    └── AuditError
        ├── ProofError (VerificationError)              an inclusion/consistency proof fails
        ├── CheckpointError (VerificationError)         a note/checkpoint is malformed or unsigned
        │   ├── InconsistentCheckpointError             not an append-only extension of the last
        │   └── SplitViewError                          same size, different root: two histories
        └── BundleError (ValueError)                    an audit bundle cannot be read
"""

from __future__ import annotations

from agencies.errors import VerificationError
from bus.errors import BusError

__all__ = [
    "AuditError",
    "BundleError",
    "CheckpointError",
    "InconsistentCheckpointError",
    "ProofError",
    "SplitViewError",
]


class AuditError(BusError):
    """Base of the audit package's errors."""


class ProofError(AuditError, VerificationError):
    """A Merkle inclusion or consistency proof does not verify."""


class CheckpointError(AuditError, VerificationError):
    """A signed note or checkpoint is malformed, or not signed by the expected key."""


class InconsistentCheckpointError(CheckpointError):
    """A checkpoint is not an append-only extension of the last one seen (or rolls back)."""


class SplitViewError(InconsistentCheckpointError):
    """Two checkpoints of one log with the same size and different roots: a split view."""


class BundleError(AuditError, ValueError):
    """An audit bundle is malformed, truncated or not a silian bundle."""
