"""Every error silian raises on purpose, in one tree.

::

    SilianError                       contracts.errors
    ├── ContractError (ValueError)    contracts.errors   event does not match its contract
    │   └── LifecycleError            contracts.errors   event breaks a lifecycle rule (.rule)
    ├── AgencyError                   agencies.errors
    │   ├── UnknownAgencyError (LookupError)
    │   ├── KeyStoreError                                key file missing/unsafe/wrong passphrase
    │   │   └── PassphraseError                          encrypted: no passphrase, or a wrong one
    │   ├── KeyFormatError (ValueError)                  key bytes of the wrong length/type
    │   ├── PermissionDeniedError                        the agreement does not allow it
    │   └── AgreementError                               agreement malformed or not in force
    │       └── AgreementVerificationError               (also a VerificationError; .member, .field)
    ├── VerificationError             agencies.errors    signature/key window fails (.kind)
    └── BusError                      bus.errors
        ├── ConfigError (ValueError)                     bad configuration or CLI input
        ├── SilianEnvironmentError                   java/mvn missing, port taken, ...
        │   ├── KafkaStartError                          a node did not come up (.log_path)
        │   └── StateInUseError                          a process has the state's databases open
        ├── TransportError                               broker/transport failure
        │   └── BrokerUnreachableError (also SilianEnvironmentError)  no broker answered
        ├── NotConnectedError                            used before start()
        ├── BackupError                                  a state backup damaged, altered, not one
        ├── RecordRejectedError                          a record failed a pipeline step (.reason)
        ├── RedeliveryError                              the same record at the same offset again
        ├── EventRejectedError                           a local system refuses an event (.reason)
        ├── RedeliverError                               a handler cannot take an event now
        │   └── StoppingError         adapters._inbound  … the adapter stops meanwhile
        ├── LocalUnavailableError     adapters.base      the local system cannot be reached
        ├── BadLocalDataError         adapters.base      a local record cannot become an event
        ├── ReleaseRefusedError                          a quarantined record cannot be released
        └── AuditError                                   the auditor's errors
            ├── ProofError (VerificationError)           a Merkle proof does not verify
            ├── CheckpointError (VerificationError)      a checkpoint note does not verify
            │   └── InconsistentCheckpointError          not consistent with the last seen
            │       └── SplitViewError                   same size, another root: a split view
            └── BundleError (ValueError)                 an export bundle is malformed

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
    PassphraseError,
    PermissionDeniedError,
    UnknownAgencyError,
    VerificationError,
)
from bus.reasons import Reason
from contracts.errors import ContractError, LifecycleError, SilianError
from contracts.receipts import RejectReason

__all__ = [
    "AgencyError",
    "AgreementError",
    "AgreementVerificationError",
    "AuditError",
    "BackupError",
    "BrokerUnreachableError",
    "BundleError",
    "BusError",
    "CheckpointError",
    "ConfigError",
    "ContractError",
    "EventRejectedError",
    "InconsistentCheckpointError",
    "KafkaStartError",
    "KeyFormatError",
    "KeyStoreError",
    "LifecycleError",
    "NotConnectedError",
    "PassphraseError",
    "PermissionDeniedError",
    "ProofError",
    "RecordRejectedError",
    "RedeliverError",
    "RedeliveryError",
    "ReleaseRefusedError",
    "SilianEnvironmentError",
    "SilianError",
    "SplitViewError",
    "StateInUseError",
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


class StateInUseError(SilianEnvironmentError):
    """A state folder cannot be replaced: a process (``silian serve``, an adapter) has one
    of its databases open. Stop it first (exit 3: something in the way)."""


class BackupError(BusError):
    """A state backup cannot be used: damaged or altered (a file's size or SHA-256 is not
    the manifest's), or not a silian state backup at all. Nothing was restored."""


class TransportError(BusError):
    """The transport (Kafka or embedded) failed to do what was asked."""


class BrokerUnreachableError(TransportError, SilianEnvironmentError):
    """No Kafka broker answered at the bootstrap addresses: something outside silian is in
    the way (exit 3), not a failure of what was asked."""


class NotConnectedError(BusError):
    """An object was used before it was started; start it first."""


class RecordRejectedError(BusError):
    """A record failed one step of the pipeline; ``reason`` says which.

    ``signer`` is the agency whose signature on the record verified, when the step that
    refused it came after the signature check: a validly signed record that is malformed
    all the same is that agency's doing, and the quarantine and the audit say so.
    """

    def __init__(self, reason: Reason, detail: str, *, signer: str | None = None) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.signer = signer


class RedeliveryError(BusError):
    """The same record at the same offset again (a consumer restarted): already dealt with.

    ``outcome`` and ``detail`` say how: a record quarantined before may need its
    quarantine copy again (the copy's acknowledgement may never have come).
    """

    def __init__(self, outcome: str, detail: str | None = None) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.detail = detail

    @property
    def quarantined(self) -> Reason | None:
        """The reason it was quarantined with, if it was."""
        kept = self.outcome.removeprefix("quarantined:")
        return Reason(kept) if kept != self.outcome else None


class EventRejectedError(BusError):
    """A local system refuses an event that verified: answered with ``receipt.rejected``
    carrying ``reason`` (the receipt's vocabulary) and ``detail``, and quarantined."""

    def __init__(self, detail: str, *, reason: RejectReason = RejectReason.OTHER) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class RedeliverError(BusError):
    """Raised by a handler that cannot take an event *now* (shutting down while its local
    system is away): nothing is committed past the record, which is read again later."""


class ReleaseRefusedError(BusError):
    """A quarantined record cannot be released (``silian quarantine release``): refused for
    a reason no officer may waive, not verifying, already dealt with. Nothing was sent."""


class AuditError(BusError):
    """Base of the auditor's errors."""


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
