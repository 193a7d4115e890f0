"""Event ids (UUIDv7, RFC 9562 §5.7) and RFC 3339 times in the federation's zone."""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import datetime

from contracts.vocab import FEDERATION_TZ

__all__ = ["FEDERATION_TZ", "format_time", "new_event_id", "now", "parse_time"]


def new_event_id() -> str:
    """A UUIDv7: 48-bit Unix milliseconds, version 7, 74 random bits; sorts by time."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def now() -> datetime:
    return datetime.now(FEDERATION_TZ)


def format_time(moment: datetime) -> str:
    """RFC 3339 with offset and millisecond precision, e.g. 2026-11-26T11:30:00.000+08:00."""
    if moment.tzinfo is None:
        raise ValueError("a time without an offset cannot go on the wire")
    return moment.isoformat(timespec="milliseconds")


# RFC 3339 §5.6 date-time: full date, "T", time with optional fraction, "Z" or an offset.
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.ASCII
)


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 date-time with an offset (``Z`` or ``±HH:MM``); ValueError otherwise.

    Only RFC 3339's form: Python's ``fromisoformat`` alone would also take ISO 8601's
    others (``20261126T113000``, a date alone, a time without offset).
    """
    found = _RFC3339.fullmatch(text)
    if found is None:
        raise ValueError(f"time {text[:40]!r} is not RFC 3339 with an offset")
    whole, fraction, offset = found.groups()
    fraction = (fraction or "")[:7]  # datetime keeps microseconds: finer digits are dropped
    try:
        return datetime.fromisoformat(whole + fraction + ("+00:00" if offset == "Z" else offset))
    except ValueError:
        raise ValueError(f"time {text[:40]!r} is not a valid date and time") from None
