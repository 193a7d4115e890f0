"""Why a record is refused: one reason code per failed step, with words a person can act on.

Every refused record goes to the consuming agency's quarantine topic with its reason code,
the detail and the original bytes (see :mod:`bus.quarantine`).
"""

from __future__ import annotations

from enum import StrEnum

from bus.errors import BusError

__all__ = ["Reason", "RecordRejectedError"]


class Reason(StrEnum):
    """The step of verify → authorise → decode → deduplicate that refused a record."""

    NO_VALUE = "no-value"  # a tombstone: there is nothing to verify
    UNTRUSTED_TIME = "untrusted-time"  # the producer, not the broker, stamped the time
    MALFORMED_HEADERS = "malformed-headers"
    OVERSIZED = "oversized"
    TOO_DEEP = "too-deep"  # JSON nested deeper than the limit
    UNKNOWN_TYPE = "unknown-type"
    UNKNOWN_KEY = "unknown-key"
    KEY_REVOKED = "key-revoked"
    KEY_OUT_OF_WINDOW = "key-out-of-window"
    BAD_SIGNATURE = "bad-signature"
    TIME_SKEW = "time-skew"
    SEQUENCE_GAP = "sequence-gap"
    CHAIN_FORK = "chain-fork"
    CHAIN_MISPLACED = "chain-misplaced"  # a chain id of another agency or partition
    DUPLICATE = "duplicate"
    NOT_PERMITTED = "not-permitted"
    NOT_A_MEMBER = "not-a-member"
    NOT_JSON = "not-json"
    SCHEMA_INVALID = "schema-invalid"
    LIFECYCLE = "lifecycle"
    SEALED_NOT_FOR_US = "sealed-not-for-us"
    HANDLER_FAILED = "handler-failed"
    UNPROCESSABLE = "unprocessable"  # a step failed on the record in a way not foreseen
    MALFORMED_NOTE = "malformed-note"  # on the checkpoints topic: not a note the keeper signed


class RecordRejectedError(BusError):
    """A record failed one step of the consumer pipeline; ``reason`` says which.

    ``signer`` is the agency whose signature on the record verified, when the step that
    refused it came after the signature check: a validly signed record that is malformed
    all the same is that agency's doing, and the quarantine and the audit say so.
    """

    def __init__(self, reason: Reason, detail: str, *, signer: str | None = None) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.signer = signer
