"""案件联查联办 — joint cases: opened by one agency, worked by the members it invites."""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from contracts.base import EventModel, Family
from contracts.vocab import (
    AgencyCode,
    BilingualName,
    EntityId,
    Handling,
    InformationAccuracy,
    Sha256Hex,
    SourceReliability,
    Text,
    Timestamp,
)

__all__ = [
    "CaseCategory",
    "CaseClosed",
    "CaseEvidenceShared",
    "CaseLeadShared",
    "CaseMemberInvited",
    "CaseMemberJoined",
    "CaseMemberLeft",
    "CaseNote",
    "CaseOpened",
    "CaseOutcome",
    "CaseTaskAssigned",
    "CaseTaskCompleted",
]


class CaseCategory(StrEnum):
    """Kind of offence a joint case is about."""

    FRAUD = "fraud"
    THEFT = "theft"
    ROBBERY = "robbery"
    DRUGS = "drugs"
    TRAFFICKING = "trafficking"
    SMUGGLING = "smuggling"
    GAMBLING = "gambling"
    CYBERCRIME = "cybercrime"
    VIOLENT = "violent"
    ENVIRONMENTAL = "environmental"
    OTHER = "other"


class CaseOutcome(StrEnum):
    """How a joint case ends."""

    SOLVED = "solved"
    TRANSFERRED = "transferred"
    SUSPENDED = "suspended"
    UNFOUNDED = "unfounded"


class _CaseEvent(EventModel):
    family: ClassVar[Family] = Family.CASE
    key_field: ClassVar[str] = "case_id"
    expects_receipts: ClassVar[bool] = True

    case_id: EntityId = Field(description="案件编号（亦用于主题名） / case id (also in its topic)")

    def addressees(
        self, *, members: Collection[str], case_members: Collection[str]
    ) -> frozenset[str]:
        """A case's events are for its members only (the lead, who joined, who is invited)."""
        del members
        return frozenset(case_members)


class CaseOpened(_CaseEvent):
    """An agency opens a joint case and invites neighbours (立案协查)."""

    event_type: ClassVar[str] = "case.opened"
    opens_entity: ClassVar[bool] = True
    opens_topic: ClassVar[bool] = True

    lead_agency: AgencyCode = Field(description="主办单位 / lead agency")
    title: BilingualName = Field(description="案件名称 / case title")
    category: CaseCategory = Field(description="案件类别 / case category")
    handling: Handling = Field(description="处理代码与TLP标签 / handling code and TLP label")
    invited: tuple[AgencyCode, ...] = Field(
        default=(), description="受邀协办单位 / agencies invited to join"
    )
    summary: Text = Field(description="简要案情 / summary of the case")

    def addressees(
        self, *, members: Collection[str], case_members: Collection[str]
    ) -> frozenset[str]:
        """The agencies the lead invites: the case has no other members yet."""
        del members, case_members
        return frozenset(self.invited)


class CaseMemberInvited(_CaseEvent):
    """The lead invites another agency (邀请协办)."""

    event_type: ClassVar[str] = "case.member_invited"

    agency: AgencyCode = Field(description="受邀单位 / agency invited")
    note: Text | None = Field(default=None, description="邀请说明 / note")

    def addressees(
        self, *, members: Collection[str], case_members: Collection[str]
    ) -> frozenset[str]:
        """The case's members, and the agency invited (not a member yet)."""
        del members
        return frozenset({*case_members, self.agency})


class CaseMemberJoined(_CaseEvent):
    """An invited agency joins; published by that agency (加入协办)."""

    event_type: ClassVar[str] = "case.member_joined"

    agency: AgencyCode = Field(description="加入单位 / agency joining")
    contact: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="联络人 / liaison officer for the case"
    )


class CaseMemberLeft(_CaseEvent):
    """A member leaves, or the lead removes it (退出协办)."""

    event_type: ClassVar[str] = "case.member_left"

    agency: AgencyCode = Field(description="退出单位 / agency leaving")
    reason: Text = Field(description="退出原因 / reason")


class CaseLeadShared(_CaseEvent):
    """A member shares a lead (线索共享)."""

    event_type: ClassVar[str] = "case.lead_shared"

    lead_id: EntityId = Field(description="线索编号 / lead id")
    summary: Text = Field(description="线索内容 / the lead")
    source_reliability: SourceReliability = Field(
        description="来源可靠性 A–F / source reliability A–F"
    )
    information_accuracy: InformationAccuracy = Field(
        description="信息准确性 1–6 / information accuracy 1–6"
    )
    handling: Handling | None = Field(
        default=None,
        description="线索的处理代码（缺省同案件） / handling, if stricter than the case",
    )


class CaseEvidenceShared(_CaseEvent):
    """A member shares a reference to evidence — never the evidence bytes (证据共享)."""

    event_type: ClassVar[str] = "case.evidence_shared"

    evidence_id: EntityId = Field(description="证据编号 / evidence id")
    reference: Annotated[str, StringConstraints(min_length=1, max_length=1000)] = Field(
        description="证据存放位置（引用） / where the evidence is kept (a reference, not bytes)"
    )
    sha256: Sha256Hex = Field(description="证据SHA-256摘要 / SHA-256 of the evidence bytes")
    custody_note: Text = Field(description="保管链说明 / chain-of-custody note")


class CaseTaskAssigned(_CaseEvent):
    """A member assigns a task to a member (任务指派)."""

    event_type: ClassVar[str] = "case.task_assigned"

    task_id: EntityId = Field(description="任务编号 / task id")
    assignee: AgencyCode = Field(description="承办单位 / agency the task is assigned to")
    description: Text = Field(description="任务内容 / what is to be done")
    due_at: Timestamp | None = Field(default=None, description="完成期限 / due time")


class CaseTaskCompleted(_CaseEvent):
    """The assignee reports a task done (任务完成)."""

    event_type: ClassVar[str] = "case.task_completed"

    task_id: EntityId = Field(description="任务编号 / task id")
    result: Text = Field(description="完成情况 / result")


class CaseNote(_CaseEvent):
    """A member posts a note to the case (案件备注)."""

    event_type: ClassVar[str] = "case.note"

    note_id: EntityId = Field(description="备注编号 / note id")
    text: Text = Field(description="备注内容 / note text")


class CaseClosed(_CaseEvent):
    """The lead closes the case (结案)."""

    event_type: ClassVar[str] = "case.closed"

    outcome: CaseOutcome = Field(description="结案结果 / outcome")
    summary: Text = Field(description="结案说明 / closing summary")
