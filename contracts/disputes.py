"""矛盾纠纷排查化解 — border disputes: reported, mediated jointly, settled, followed up."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from contracts.base import EventModel, Family
from contracts.vocab import (
    AgencyCode,
    BilingualName,
    DivisionCode,
    EntityId,
    Handling,
    Place,
    Sha256Hex,
    Text,
    Timestamp,
    ValueModel,
)

__all__ = [
    "DisputeCategory",
    "DisputeClosed",
    "DisputeEscalated",
    "DisputeFollowedUp",
    "DisputeLeadAgreed",
    "DisputeMediationHeld",
    "DisputeMediationScheduled",
    "DisputeOutcome",
    "DisputeReported",
    "DisputeSettled",
    "EscalationBody",
    "FollowUpResult",
    "MediationOutcome",
    "Party",
]

_Short = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class DisputeCategory(StrEnum):
    """What a dispute is about."""

    LAND = "land"
    WATER = "water"
    BOUNDARY = "boundary"
    FOREST = "forest"
    LABOUR = "labour"
    NEIGHBOURS = "neighbours"
    FAMILY = "family"
    TRAFFIC = "traffic"
    COMMERCIAL = "commercial"
    OTHER = "other"


class MediationOutcome(StrEnum):
    """What a mediation session achieved."""

    AGREEMENT = "agreement"
    PARTIAL = "partial"
    NO_AGREEMENT = "no_agreement"


class FollowUpResult(StrEnum):
    """What a follow-up visit (回访) found."""

    HOLDING = "holding"
    PARTLY_HOLDING = "partly_holding"
    BROKEN = "broken"


class EscalationBody(StrEnum):
    """Where a dispute goes when mediation is not enough."""

    COURT = "court"
    ARBITRATION = "arbitration"
    LABOUR_BUREAU = "labour_bureau"
    MARKET_REGULATION = "market_regulation"
    GOVERNMENT = "government"
    OTHER = "other"


class DisputeOutcome(StrEnum):
    """How a dispute file ends."""

    RESOLVED = "resolved"
    ESCALATED = "escalated"
    WITHDRAWN = "withdrawn"
    UNRESOLVED = "unresolved"


class Party(ValueModel):
    """A party to a dispute."""

    name: BilingualName = Field(description="当事人姓名或名称 / party's name")
    division: DivisionCode = Field(description="当事人所在行政区划 / where the party lives")
    role: _Short = Field(description="当事人身份（如村民、企业） / role, e.g. villager, company")


class _DisputeEvent(EventModel):
    family: ClassVar[Family] = Family.DISPUTE
    key_field: ClassVar[str] = "dispute_id"
    expects_receipts: ClassVar[bool] = True

    dispute_id: EntityId = Field(description="纠纷编号 / dispute id")


class DisputeReported(_DisputeEvent):
    """A border dispute or hazard is reported (纠纷上报)."""

    event_type: ClassVar[str] = "dispute.reported"
    opens_entity: ClassVar[bool] = True

    category: DisputeCategory = Field(description="纠纷类别 / category")
    parties: tuple[Party, ...] = Field(min_length=1, description="当事人 / parties")
    place: Place = Field(description="纠纷地点 / place")
    summary: Text = Field(description="纠纷概况 / summary")
    handling: Handling = Field(description="处理代码与TLP标签 / handling code and TLP label")


class DisputeLeadAgreed(_DisputeEvent):
    """The agencies agree who leads the mediation (确定牵头单位)."""

    event_type: ClassVar[str] = "dispute.lead_agreed"

    lead_agency: AgencyCode = Field(description="牵头单位 / lead agency")
    participants: tuple[AgencyCode, ...] = Field(
        default=(), description="参与单位（含非警务单位） / participating bodies, incl. partners"
    )


class DisputeMediationScheduled(_DisputeEvent):
    """A joint mediation session is planned (联合调解安排)."""

    event_type: ClassVar[str] = "dispute.mediation_scheduled"

    mediation_id: EntityId = Field(description="调解场次编号 / mediation session id")
    scheduled_at: Timestamp = Field(description="调解时间 / when")
    place: Place = Field(description="调解地点 / where")
    mediators: tuple[_Short, ...] = Field(min_length=1, description="调解员 / mediators")


class DisputeMediationHeld(_DisputeEvent):
    """A joint mediation session took place (联合调解)."""

    event_type: ClassVar[str] = "dispute.mediation_held"

    mediation_id: EntityId = Field(description="调解场次编号 / mediation session id")
    held_at: Timestamp = Field(description="调解时间 / when it was held")
    outcome: MediationOutcome = Field(description="调解结果 / outcome")
    summary: Text = Field(description="调解记录摘要 / summary of the session")


class DisputeSettled(_DisputeEvent):
    """The parties signed a written settlement (调解协议签订)."""

    event_type: ClassVar[str] = "dispute.settled"

    agreement_text: Text = Field(description="调解协议内容 / text of the settlement")
    paper_record_sha256: Sha256Hex = Field(
        description="双方签字纸质协议扫描件的SHA-256 / SHA-256 of the signed paper record"
    )
    judicial_confirmation_requested: bool = Field(
        description="是否申请司法确认 / whether judicial confirmation was requested"
    )
    settled_at: Timestamp = Field(description="签订时间 / when it was signed")


class DisputeFollowedUp(_DisputeEvent):
    """A follow-up visit checks that the settlement holds (回访)."""

    event_type: ClassVar[str] = "dispute.followed_up"

    visited_at: Timestamp = Field(description="回访时间 / when the visit took place")
    result: FollowUpResult = Field(description="回访结果 / result")
    note: Text | None = Field(default=None, description="回访记录 / note")


class DisputeEscalated(_DisputeEvent):
    """The dispute goes to a court or another body (移交)."""

    event_type: ClassVar[str] = "dispute.escalated"

    to_body: EscalationBody = Field(description="移交机构类别 / kind of body")
    body_name: BilingualName = Field(description="移交机构名称 / name of the body")
    reason: Text = Field(description="移交理由 / reason")


class DisputeClosed(_DisputeEvent):
    """The dispute file is closed (结案)."""

    event_type: ClassVar[str] = "dispute.closed"

    outcome: DisputeOutcome = Field(description="结案结果 / outcome")
    summary: Text = Field(description="结案说明 / summary")
