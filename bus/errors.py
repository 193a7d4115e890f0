"""Every error silian raises on purpose, in one tree.

::

    SilianError                       contracts.errors
    ├── ContractError (ValueError)    contracts.errors   event does not match its contract
    │   └── LifecycleError            contracts.errors   event breaks a lifecycle rule (.rule)
    ├── AgencyError                   agencies.errors
    │   ├── UnknownAgencyError (LookupError)
    │   ├── KeyStoreError                                key file missing/unsafe/wrong passphrase
    │   ├── KeyFormatError (ValueError)                  key bytes of the wrong length/type
    │   ├── PermissionDeniedError                        the agreement does not allow it
    │   └── AgreementError                               agreement malformed or not in force
    │       └── AgreementVerificationError               (also a VerificationError; .member, .field)
    ├── VerificationError             agencies.errors    signature/key window/chain fails (.kind)
    └── BusError                      bus.errors
        ├── ConfigError (ValueError)                     bad configuration or CLI input
        ├── SilianEnvironmentError                   java/mvn missing, port taken, ...
        │   └── KafkaStartError                          a node did not come up (.log_path)
        ├── TransportError                               broker/transport failure
        ├── RecordRejectedError       bus.rejections     a record failed a pipeline step (.reason)
        ├── AuditError                bus.audit.errors   the auditor's errors
        │   ├── ProofError (VerificationError)           a Merkle proof does not verify
        │   ├── CheckpointError (VerificationError)      a checkpoint note does not verify
        │   │   └── InconsistentCheckpointError          not consistent with the last seen
        │   │       └── SplitViewError                   same size, another root: a split view
        │   └── BundleError (ValueError)                 an export bundle is malformed
        └── NotConnectedError                            used before start()

The CLI turns any ``SilianError`` into one line on stderr and a meaningful exit code.
"""

from __future__ import annotations

from pathlib import Path

from agencies.errors import (
    AgencyError,
    AgreementError,
    AgreementVerificationError,
    KeyFormatError,
    KeyStoreError,
    PermissionDeniedError,
    UnknownAgencyError,
    VerificationError,
)
from contracts.errors import ContractError, LifecycleError, SilianError

__all__ = [
    "AgencyError",
    "AgreementError",
    "AgreementVerificationError",
    "BusError",
    "ConfigError",
    "ContractError",
    "KafkaStartError",
    "KeyFormatError",
    "KeyStoreError",
    "LifecycleError",
    "NotConnectedError",
    "PermissionDeniedError",
    "SilianEnvironmentError",
    "SilianError",
    "TransportError",
    "UnknownAgencyError",
    "VerificationError",
]


class BusError(SilianError):
    """Base of the runtime's errors."""


class ConfigError(BusError, ValueError):
    """Configuration or command-line input that cannot be used as given."""


class SilianEnvironmentError(BusError):
    """Something outside silian is missing or in the way (a tool, a port)."""


class KafkaStartError(SilianEnvironmentError):
    """A local Kafka node did not come up; ``log_path`` says where to look."""

    def __init__(self, message: str, *, log_path: Path | None = None) -> None:
        super().__init__(message if log_path is None else f"{message} (log: {log_path})")
        self.log_path = log_path


class TransportError(BusError):
    """The transport (Kafka or embedded) failed to do what was asked."""


class NotConnectedError(BusError):
    """An object was used before it was started; start it first."""
