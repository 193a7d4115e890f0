"""回执 — receipts: every recipient answers (事事有回音, 件件有回应)."""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from contracts.base import EventModel, Family
from contracts.vocab import (
    AGENCY_URN_PATTERN,
    AGENCY_URN_PREFIX,
    CE_TYPE_PATTERN,
    EVENT_ID_PATTERN,
    Text,
    Timestamp,
    ValueModel,
)

__all__ = [
    "EventRef",
    "ReceiptEvent",
    "ReceiptHandled",
    "ReceiptReceived",
    "ReceiptRejected",
    "ReceiptReleased",
    "RejectReason",
]


class EventRef(ValueModel):
    """Names one event exactly: its CloudEvents source, id and type."""

    ce_source: Annotated[str, StringConstraints(pattern=AGENCY_URN_PATTERN)] = Field(
        description="被回复事件的来源 / ce_source of the answered event"
    )
    ce_id: Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)] = Field(
        description="被回复事件的ID / ce_id of the answered event"
    )
    ce_type: Annotated[str, StringConstraints(pattern=CE_TYPE_PATTERN)] = Field(
        description="被回复事件的类型 / ce_type of the answered event"
    )


class RejectReason(StrEnum):
    """Why a recipient refuses an event."""

    NOT_AUTHORISED = "not_authorised"
    NOT_OUR_JURISDICTION = "not_our_jurisdiction"
    MALFORMED = "malformed"
    LIFECYCLE = "lifecycle"
    DUPLICATE = "duplicate"
    OTHER = "other"


class ReceiptEvent(EventModel):
    """What every receipt is: an answer (``answer``) to one event, for its issuer."""

    family: ClassVar[Family] = Family.RECEIPT
    key_field: ClassVar[str] = "answers"
    key_path: ClassVar[str | None] = "answers.ce_id"
    answer: ClassVar[str]  # received, handled or rejected: what the receipt says

    answers: EventRef = Field(description="所回复的事件 / the event answered")

    def entity_id(self) -> str:
        """Receipts of one answered event stay in order: keyed on its ``ce_id``."""
        return self.answers.ce_id

    @property
    def answered_agency(self) -> str:
        """The agency code of the event answered."""
        return self.answers.ce_source.removeprefix(AGENCY_URN_PREFIX)

    def addressees(
        self, *, members: Collection[str], case_members: Collection[str]
    ) -> frozenset[str]:
        """A receipt is for the issuer of the event it answers."""
        del members, case_members
        return frozenset({self.answered_agency})


class ReceiptReceived(ReceiptEvent):
    """The recipient got and verified the event (已签收)."""

    event_type: ClassVar[str] = "receipt.received"
    answer: ClassVar[str] = "received"

    received_at: Timestamp = Field(description="签收时间 / when it was received")


class ReceiptHandled(ReceiptEvent):
    """The recipient acted on the event (已处理)."""

    event_type: ClassVar[str] = "receipt.handled"
    answer: ClassVar[str] = "handled"

    handled_at: Timestamp = Field(description="处理时间 / when it was handled")
    action: Text = Field(description="处理情况 / what was done")


class ReceiptRejected(ReceiptEvent):
    """The recipient refuses the event (拒收)."""

    event_type: ClassVar[str] = "receipt.rejected"
    answer: ClassVar[str] = "rejected"

    rejected_at: Timestamp = Field(description="拒收时间 / when it was rejected")
    reason: RejectReason = Field(description="拒收原因 / reason code")
    detail: Text = Field(description="拒收说明 / explanation")


class ReceiptReleased(ReceiptEvent):
    """The recipient lets through an event it had quarantined, deliberately (放行).

    Its subscription refused the record for a reason about time, order or its own local
    system — never for one about who signed it — and an officer decided to act on it
    anyway: who, why, and exactly which record (its hash and where it was refused) are
    signed here, so the decision is on the record for the issuer and every audit. The
    usual receipts (received, handled) follow it.
    """

    event_type: ClassVar[str] = "receipt.released"
    answer: ClassVar[str] = "released"

    released_at: Timestamp = Field(description="放行时间 / when it was released")
    refused_for: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z-]{1,39}$")] = Field(
        description="原隔离原因 / the reason it had been quarantined for (silian's reason code)"
    )
    origin: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,249}/[0-9]{1,10}/[0-9]{1,20}$")
    ] = Field(description="被拒位置 / where it was refused: topic/partition/offset")
    record_hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] = Field(
        description="被放行记录的哈希 / the SHA-256 record hash of the record released"
    )
    officer: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        description="决定放行的民警 / the officer who decided"
    )
    justification: Text = Field(description="放行理由 / why it was released")
