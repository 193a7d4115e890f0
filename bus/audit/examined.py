"""Stage 1's verdict on one record (:class:`Examined`), as it travels between processes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from bus.audit.anomaly import Anomaly
from bus.reasons import Reason
from contracts.base import EventModel

__all__ = ["Examined"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Examined:
    """Stage 1's verdict on one record; ``hash`` is set only when the record verified.

    ``event`` is the decoded value when the lifecycle judge keeps state for it.
    """

    topic: str
    partition: int
    offset: int
    chain: str | None = None
    seq: int | None = None
    prevhash: str | None = None
    event_id: str | None = None
    agency: str | None = None
    ce_type: str | None = None
    hash: bytes | None = None
    problems: tuple[tuple[Reason, str], ...] = ()
    event: EventModel | None = None
    trusted: bool = False

    def anomaly(self, kind: Reason, detail: str) -> Anomaly:
        """An anomaly located at this record."""
        return Anomaly(
            kind=kind,
            detail=detail,
            topic=self.topic,
            partition=self.partition,
            offset=self.offset,
            chain=self.chain,
            seq=self.seq,
            event_id=self.event_id,
            agency=self.agency,
        )

    def __reduce__(self) -> tuple[Callable[..., Examined], tuple[object, ...]]:
        # A plain tuple pickles several times faster than the dataclass state (workers).
        return _examined, tuple(getattr(self, name) for name in _FIELDS)


_FIELDS = tuple(f.name for f in dataclasses.fields(Examined))


def _examined(*values: object) -> Examined:
    return Examined(**dict(zip(_FIELDS, values, strict=True)))  # type: ignore[arg-type]
