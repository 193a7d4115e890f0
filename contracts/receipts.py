"""回执 — receipts: every recipient answers (事事有回音, 件件有回应).

Version 2 of each receipt binds the record it answers: ``answers`` is a :class:`RecordRef`,
which adds the answered record's **record hash** (``SHA-256(signature base || signature)``,
docs/wire-format.md) to its source, id and type. An issuer that signed two different
records under one event id then cannot claim a recipient got the other one. Version 1
(:class:`EventRef`, no hash) stays registered and readable; the bus answers with v2.
"""

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
    Sha256Hex,
    Text,
    Timestamp,
    ValueModel,
)

__all__ = [
    "EventRef",
    "ReceiptEvent",
    "ReceiptHandled",
    "ReceiptHandledV2",
    "ReceiptReceived",
    "ReceiptReceivedV2",
    "ReceiptRejected",
    "ReceiptRejectedV2",
    "ReceiptReleased",
    "RecordRef",
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


class RecordRef(EventRef):
    """Names one record exactly: its event's source, id and type, and its record hash."""

    record_hash: Sha256Hex = Field(
        description="被回复记录的记录哈希 / record hash of the answered record: SHA-256 of its "
        "signature base and signature, lowercase hex (docs/wire-format.md)"
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

    @property
    def answered_hash(self) -> str | None:
        """The record hash of the record answered (v2); None for a v1 receipt."""
        answers = self.answers
        return answers.record_hash if isinstance(answers, RecordRef) else None

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


# -- version 2: the answered record's hash (v1 above stays readable) --------------------------


class ReceiptReceivedV2(ReceiptReceived):
    """The recipient got and verified the record (已签收), named by its record hash."""

    version: ClassVar[int] = 2

    answers: RecordRef = Field(description="所回复的记录 / the record answered")


class ReceiptHandledV2(ReceiptHandled):
    """The recipient acted on the record (已处理), named by its record hash."""

    version: ClassVar[int] = 2

    answers: RecordRef = Field(description="所回复的记录 / the record answered")


class ReceiptRejectedV2(ReceiptRejected):
    """The recipient refuses the record (拒收), named by its record hash."""

    version: ClassVar[int] = 2

    answers: RecordRef = Field(description="所回复的记录 / the record answered")


class ReceiptReleased(ReceiptEvent):
    """The recipient lets through an event it had quarantined, deliberately (放行).

    Its subscription refused the record for a reason about time, order or its own local
    system — never for one about who signed it — and an officer decided to act on it
    anyway: who, why, and exactly which record (its record hash, as a v2 receipt names
    it, and where it was refused) are signed here, so the decision is on the record for
    the issuer and every audit. The usual receipts (received, handled) follow it.
    """

    event_type: ClassVar[str] = "receipt.released"
    answer: ClassVar[str] = "released"

    answers: RecordRef = Field(description="被放行的记录 / the record released, by its hash")
    released_at: Timestamp = Field(description="放行时间 / when it was released")
    refused_for: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z-]{1,39}$")] = Field(
        description="原隔离原因 / the reason it had been quarantined for (silian's reason code)"
    )
    origin: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,249}/[0-9]{1,10}/[0-9]{1,20}$")
    ] = Field(description="被拒位置 / where it was refused: topic/partition/offset")
    officer: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        description="决定放行的民警 / the officer who decided"
    )
    justification: Text = Field(description="放行理由 / why it was released")
