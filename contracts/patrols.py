"""治安联防联控 — joint patrols along the border."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from contracts.base import EventModel, Family
from contracts.vocab import AgencyCode, DivisionCode, EntityId, Handling, Text, Timestamp

__all__ = ["PatrolPlanned", "PatrolReported"]


class _PatrolEvent(EventModel):
    family: ClassVar[Family] = Family.PATROL
    key_field: ClassVar[str] = "patrol_id"
    expects_receipts: ClassVar[bool] = True

    patrol_id: EntityId = Field(description="巡逻编号 / patrol id")


class PatrolPlanned(_PatrolEvent):
    """A joint patrol is planned (联合巡逻计划)."""

    event_type: ClassVar[str] = "patrol.planned"
    opens_entity: ClassVar[bool] = True

    agencies: tuple[AgencyCode, ...] = Field(
        min_length=1, description="参加单位 / agencies taking part"
    )
    area: tuple[DivisionCode, ...] = Field(
        min_length=1, description="巡逻区域（行政区划） / area as division codes"
    )
    route: Text = Field(description="巡逻路线 / route")
    starts_at: Timestamp = Field(description="开始时间 / start")
    ends_at: Timestamp = Field(description="结束时间 / end")
    handling: Handling = Field(description="处理代码与TLP标签 / handling code and TLP label")

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class PatrolReported(_PatrolEvent):
    """A participant reports how the patrol went (巡逻报告)."""

    event_type: ClassVar[str] = "patrol.reported"

    started_at: Timestamp = Field(description="实际开始时间 / actual start")
    ended_at: Timestamp = Field(description="实际结束时间 / actual end")
    officers: PositiveInt = Field(description="出动警力（人） / officers on patrol")
    incidents: NonNegativeInt = Field(description="发现处置事件数 / incidents handled")
    summary: Text = Field(description="巡逻情况 / summary")

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.ended_at <= self.started_at:
            raise ValueError("ended_at must be after started_at")
        return self
