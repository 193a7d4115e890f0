"""What every adapter of a local system provides, and what the runner gives it.

An adapter connects one agency's local system (REST API, relational database, file-drop
folder) to the bus in both directions. The runner (:mod:`adapters.runner`) owns the bus,
the durable outbox (store-and-forward) and the mapping; an adapter only talks to its
local system:

* outbound: :meth:`LocalSystem.fetch_outbound` returns new or changed local records, in
  the local system's order, each with a stable ``local_id``; once the runner has stored a
  record durably in its own outbox it calls :meth:`LocalSystem.confirm_outbound`, so a
  crash between the two re-delivers the record (the runner deduplicates on ``local_id``,
  and answers a record it set aside with :meth:`LocalSystem.set_aside` again); a record
  handed out and neither confirmed nor set aside is handed out again by the next fetch;
* inbound: :meth:`LocalSystem.write_inbound` writes one verified event into the local
  system, idempotently (keyed on ``event_id``); it raises
  :class:`bus.errors.EventRejectedError` when the local system refuses it — one refusal,
  from the local system to the signed ``receipt.rejected`` the runner answers with.

Local records are plain mappings of field name to value (already decoded text); the
declarative mapping (:mod:`adapters.mapping`, a TOML file per agency) turns them into
contract events and back.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bus.errors import BusError

# How deeply arrays and objects may nest in a local system's JSON (a database payload, a
# REST answer) unless ``[local] max_json_depth`` says otherwise: far more than a record
# needs, far less than a parser's recursion can take. Checked before parsing.
DEFAULT_MAX_JSON_DEPTH = 64
MAX_JSON_DEPTH_LIMIT = 500  # the most a setting may allow: the parser recurses per level

__all__ = [
    "DEFAULT_MAX_JSON_DEPTH",
    "MAX_JSON_DEPTH_LIMIT",
    "BadLocalDataError",
    "InboundEvent",
    "LocalRecord",
    "LocalSystem",
    "LocalUnavailableError",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalRecord:
    """One record of the local system, on its way out.

    ``kind`` names the mapping to use (e.g. ``"alert"``, ``"hit"``, ``"dispute_settled"``);
    ``where`` says where it came from in words a person can find it by (file and row,
    table and id, URL) for error messages.
    """

    local_id: str
    kind: str
    fields: Mapping[str, Any]
    where: str
    # Why the record cannot even be read (a change without a cursor, data nested too
    # deep), when the adapter must still hand it over in its place in the local system's
    # order: the runner sets it aside with this reason instead of mapping it.
    unreadable: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class InboundEvent:
    """A verified event for the local system, already mapped to local fields."""

    event_id: str
    source: str  # issuing agency code
    ce_type: str
    kind: str  # the mapping's name for it
    fields: Mapping[str, Any]
    extra: Mapping[str, Any] = field(default_factory=dict)


class LocalUnavailableError(BusError):
    """The local system cannot be reached right now (connection refused, folder gone).

    Not a refusal: the runner keeps the event and tries again later, with a back-off,
    and answers nothing until the local system has taken it or refused it.
    """


class BadLocalDataError(BusError):
    """A local record cannot become an event: the message names the file, row or record.

    Such a record is set aside (kept, with the reason), never dropped.
    """

    def __init__(self, message: str, *, where: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


class LocalSystem(abc.ABC):
    """One kind of local system, driven by an agency's configuration."""

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def fetch_outbound(self) -> list[LocalRecord]:
        """New or changed local records since the last confirmed one, oldest first.

        A record the adapter cannot even read (wrong encoding, half-written file) is not
        returned: it raises nothing here but is set aside by the adapter with the reason.
        """

    @abc.abstractmethod
    async def confirm_outbound(self, record: LocalRecord) -> None:
        """The runner holds ``record`` durably: advance the cursor, archive the file, …"""

    @abc.abstractmethod
    async def set_aside(self, record: LocalRecord, reason: str) -> None:
        """Keep a record that could not be mapped, with the reason, out of the way.

        This takes the record out of the outbound stream for good, like a confirmation
        does: the runner does not call :meth:`confirm_outbound` for it as well, and
        :meth:`fetch_outbound` must not return it again.
        """

    @abc.abstractmethod
    async def write_inbound(self, event: InboundEvent) -> None:
        """Write one event into the local system, idempotently by ``event.event_id``.

        Raises :class:`bus.errors.EventRejectedError` when the local system refuses the event (the
        runner answers ``receipt.rejected``) and :class:`LocalUnavailableError` when it
        cannot be reached (the runner retries).
        """

    async def health(self) -> dict[str, Any]:
        """What the local system looks like from here, for the health report."""
        return {}
