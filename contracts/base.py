"""The base of every event model: frozen, strict about unknown fields, self-describing."""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from contracts.vocab import Handling

__all__ = ["EventModel", "Family"]


class Family(StrEnum):
    """Event families; each maps to one kind of topic."""

    ALERT = "alert"
    CASE = "case"
    DISPUTE = "dispute"
    PATROL = "patrol"
    LIAISON = "liaison"
    RECEIPT = "receipt"


class EventModel(BaseModel):
    """Base of every event's data.

    Concrete models set ``event_type`` (``"alert.issued"``), ``version`` (major, 1…),
    ``family`` and ``key_field`` — the name of the field holding the id of the entity the
    event is about, which is also its Kafka record key.

    A family's behaviour on the bus is declared here too, once (the registry's
    :class:`~contracts.registry.EventSpec` hands it on): ``expects_receipts``,
    ``opens_entity``, ``opens_topic`` and :meth:`addressees`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)

    event_type: ClassVar[str]
    version: ClassVar[int] = 1
    family: ClassVar[Family]
    key_field: ClassVar[str]
    key_path: ClassVar[str | None] = None  # set when the key is nested in key_field
    # Every addressee answers it with signed receipts (事事有回音).
    expects_receipts: ClassVar[bool] = False
    # It creates its entity (an alert issued, a case opened, …): a handling it declares is
    # the entity's, for every later event of the entity.
    opens_entity: ClassVar[bool] = False
    # Its entity gets a topic of its own as it opens (a joint case: case members only).
    opens_topic: ClassVar[bool] = False

    def addressees(
        self, *, members: Collection[str], case_members: Collection[str]
    ) -> frozenset[str]:
        """Who the event is addressed to (who must answer it, when it expects receipts):
        by default every member of the agreement in force; ``case_members`` are the
        lead, members and invitees of the event's case, when it belongs to one. The bus
        keeps those the agreement lets read it, and never the issuer."""
        del case_members
        return frozenset(members)

    def entity_id(self) -> str:
        """The id of the entity this event is about (alert id, case id, ...)."""
        value = getattr(self, self.key_field)
        if not isinstance(value, str):  # pragma: no cover - guarded by registry tests
            raise TypeError(f"{type(self).__name__}.{self.key_field} is not a string id")
        return value

    def declared_handling(self) -> Handling | None:
        """The handling this event declares itself, if it has a ``handling`` field."""
        if "handling" not in type(self).model_fields:
            return None  # asked of every record: no failed attribute lookup (pydantic's is slow)
        value = getattr(self, "handling")  # noqa: B009 - not every event has the field
        return value if isinstance(value, Handling) else None
