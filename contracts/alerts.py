"""情报信息预警 — alerts: wanted/missing persons, vehicles, objects, fraud patterns."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

from contracts.base import EventModel, Family
from contracts.vocab import (
    BilingualName,
    DivisionCode,
    EntityId,
    Handling,
    InformationAccuracy,
    Place,
    Priority,
    SourceReliability,
    Text,
    Timestamp,
    ValueModel,
    WarningMarker,
)

__all__ = [
    "AlertCancelled",
    "AlertExtended",
    "AlertHit",
    "AlertIssued",
    "AlertSubject",
    "AlertUpdated",
    "CancelReason",
    "ObjectSubject",
    "PatternSubject",
    "PersonSubject",
    "VehicleSubject",
]

_Short = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class PersonSubject(ValueModel):
    """A wanted or missing person."""

    kind: Literal["person"] = Field(description="对象类型：人员 / subject kind: person")
    name: BilingualName = Field(description="姓名 / name")
    id_number: _Short | None = Field(
        default=None, description="证件号码 / identity document number, if known"
    )
    description: Text = Field(description="体貌特征 / physical description")


class VehicleSubject(ValueModel):
    """A vehicle, identified by its plate."""

    kind: Literal["vehicle"] = Field(description="对象类型：车辆 / subject kind: vehicle")
    plate: _Short = Field(description="号牌号码 / licence plate, e.g. 浙H·12345")
    description: Text = Field(description="车辆特征（品牌、颜色） / make, colour, features")


class ObjectSubject(ValueModel):
    """An object: stolen goods, a weapon, a phone."""

    kind: Literal["object"] = Field(description="对象类型：物品 / subject kind: object")
    description: Text = Field(description="物品描述 / description of the object")
    serial: _Short | None = Field(default=None, description="序列号 / serial number, if any")


class PatternSubject(ValueModel):
    """A modus operandi: a fraud script, a burglary pattern."""

    kind: Literal["pattern"] = Field(description="对象类型：作案手法 / subject kind: pattern")
    description: Text = Field(description="手法描述 / description of the pattern")


AlertSubject = Annotated[
    PersonSubject | VehicleSubject | ObjectSubject | PatternSubject,
    Field(discriminator="kind"),
]


class CancelReason(StrEnum):
    """Why an alert ends."""

    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class _AlertEvent(EventModel):
    family: ClassVar[Family] = Family.ALERT
    key_field: ClassVar[str] = "alert_id"
    expects_receipts: ClassVar[bool] = True

    alert_id: EntityId = Field(description="预警编号 / alert id")


class AlertIssued(_AlertEvent):
    """An agency issues an alert to its neighbours (预警发布)."""

    opens_entity: ClassVar[bool] = True

    event_type: ClassVar[str] = "alert.issued"

    subject: AlertSubject = Field(description="预警对象 / subject of the alert")
    reason: Text = Field(description="预警事由 / why the subject is sought")
    warning_markers: tuple[WarningMarker, ...] = Field(
        default=(), description="警示标记 / officer-safety warning markers"
    )
    action_on_hit: Text = Field(description="发现后请求采取的措施 / action requested on a hit")
    priority: Priority = Field(description="优先级 / priority (sets the response deadline)")
    handling: Handling = Field(description="处理代码与TLP标签 / handling code and TLP label")
    area: tuple[DivisionCode, ...] = Field(
        min_length=1, description="预警范围（行政区划） / area as division codes"
    )
    review_at: Timestamp = Field(description="复核或到期时间 / review or expiry time")


class AlertUpdated(_AlertEvent):
    """The issuer changes an alert; fields left out stay as they were (预警更新)."""

    event_type: ClassVar[str] = "alert.updated"

    summary: Text = Field(description="更新说明 / what changed and why")
    reason: Text | None = Field(default=None, description="新的预警事由 / new reason")
    warning_markers: tuple[WarningMarker, ...] | None = Field(
        default=None, description="新的警示标记 / new warning markers"
    )
    action_on_hit: Text | None = Field(default=None, description="新的处置要求 / new action")
    priority: Priority | None = Field(default=None, description="新的优先级 / new priority")
    handling: Handling | None = Field(default=None, description="新的处理代码 / new handling")


class AlertHit(_AlertEvent):
    """A sighting or positive match reported back to the issuer (预警命中)."""

    event_type: ClassVar[str] = "alert.hit"

    hit_id: EntityId = Field(description="命中编号 / hit id")
    seen_at: Timestamp = Field(description="发现时间 / when the subject was seen")
    place: Place = Field(description="发现地点 / where the subject was seen")
    action_taken: Text = Field(description="已采取的措施 / action taken")
    source_reliability: SourceReliability = Field(
        description="来源可靠性 A–F / source reliability A–F"
    )
    information_accuracy: InformationAccuracy = Field(
        description="信息准确性 1–6 / information accuracy 1–6"
    )


class AlertExtended(_AlertEvent):
    """The issuer keeps an alert in force past its review date (预警延期)."""

    event_type: ClassVar[str] = "alert.extended"

    review_at: Timestamp = Field(description="新的复核或到期时间 / new review or expiry time")
    reason: Text = Field(description="延期理由 / why the alert is extended")


class AlertCancelled(_AlertEvent):
    """The issuer ends an alert (预警撤销)."""

    event_type: ClassVar[str] = "alert.cancelled"

    reason: CancelReason = Field(description="撤销原因 / resolved, withdrawn or expired")
    note: Text | None = Field(default=None, description="说明 / note")
