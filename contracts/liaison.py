"""联谊 — liaison: regular meetings and the contact list of liaison officers."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from contracts.base import EventModel, Family
from contracts.vocab import AgencyCode, BilingualName, EntityId, Place, Text, Timestamp

__all__ = ["LiaisonContactUpdated", "LiaisonMeeting"]

_Short = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class LiaisonMeeting(EventModel):
    """A liaison meeting between agencies took place (联席会议)."""

    event_type: ClassVar[str] = "liaison.meeting"
    family: ClassVar[Family] = Family.LIAISON
    key_field: ClassVar[str] = "meeting_id"

    meeting_id: EntityId = Field(description="会议编号 / meeting id")
    held_at: Timestamp = Field(description="会议时间 / when")
    place: Place = Field(description="会议地点 / where")
    agencies: tuple[AgencyCode, ...] = Field(min_length=1, description="参会单位 / agencies")
    topics: tuple[_Short, ...] = Field(min_length=1, description="议题 / topics")
    summary: Text = Field(description="会议纪要 / minutes")


class LiaisonContactUpdated(EventModel):
    """An agency names or changes a liaison officer (联络员变更)."""

    event_type: ClassVar[str] = "liaison.contact_updated"
    family: ClassVar[Family] = Family.LIAISON
    key_field: ClassVar[str] = "contact_id"

    contact_id: EntityId = Field(description="联络人编号 / contact id")
    agency: AgencyCode = Field(description="所属单位 / agency")
    name: BilingualName = Field(description="姓名 / name")
    role: _Short = Field(description="职务 / role")
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 -]{4,19}$")] = Field(
        description="联系电话 / phone number"
    )
    valid_from: Timestamp = Field(description="生效时间 / from when")
