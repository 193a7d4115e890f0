"""What a record must keep to be judged at all: the pipeline's limits and clock window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = ["SEQ_MAX", "VerifyPolicy"]

# The largest ce_chainseq: what a signed 64-bit integer (SQLite's, Kafka's) holds.
SEQ_MAX = 2**63 - 1


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifyPolicy:
    """The limits a record must keep before anything of it is parsed, and the clock check."""

    max_value_bytes: int = 512 * 1024
    max_key_bytes: int = 1024
    max_headers: int = 32
    max_header_bytes: int = 4096  # one header: its name and its value
    max_json_depth: int = 32  # arrays and objects inside one another, in a value
    # ce_time may run ahead of the broker's clock by this much (clock skew) …
    max_ahead: timedelta = timedelta(minutes=5)
    # … and behind it by this much (signing happens when a record is sent, so a record is
    # never older than the send; a larger lag means a backdated signature).
    max_behind: timedelta = timedelta(hours=1)
