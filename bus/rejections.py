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

    MALFORMED_HEADERS = "malformed-headers"
    OVERSIZED = "oversized"
    UNKNOWN_TYPE = "unknown-type"
    UNKNOWN_KEY = "unknown-key"
    KEY_REVOKED = "key-revoked"
    KEY_OUT_OF_WINDOW = "key-out-of-window"
    BAD_SIGNATURE = "bad-signature"
    TIME_SKEW = "time-skew"
    SEQUENCE_GAP = "sequence-gap"
    CHAIN_FORK = "chain-fork"
    DUPLICATE = "duplicate"
    NOT_PERMITTED = "not-permitted"
    NOT_A_MEMBER = "not-a-member"
    NOT_JSON = "not-json"
    SCHEMA_INVALID = "schema-invalid"
    LIFECYCLE = "lifecycle"
    SEALED_NOT_FOR_US = "sealed-not-for-us"
    HANDLER_FAILED = "handler-failed"


class RecordRejectedError(BusError):
    """A record failed one step of the consumer pipeline; ``reason`` says which."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
