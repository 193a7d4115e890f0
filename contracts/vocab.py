"""Shared vocabulary of every contract: codes, handling, priority, grading, names.

Pure data. Patterns live in the annotated types so that the exported JSON Schemas carry
the same rules the Python validators enforce.
"""

from __future__ import annotations

from datetime import timedelta, timezone
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "AGENCY_URN_PATTERN",
    "AGENCY_URN_PREFIX",
    "CE_TYPE_PATTERN",
    "EVENT_ID_PATTERN",
    "FEDERATION_TZ",
    "PROVINCE_PREFIXES",
    "AgencyCode",
    "BilingualName",
    "DivisionCode",
    "EntityId",
    "FederationId",
    "Handling",
    "HandlingCode",
    "InformationAccuracy",
    "Place",
    "Priority",
    "Sha256Hex",
    "SourceReliability",
    "Text",
    "Timestamp",
    "Tlp",
    "ValueModel",
    "WarningMarker",
    "response_deadline",
]

FEDERATION_TZ = timezone(timedelta(hours=8), "CST")
"""Times as officers read them: the border area's (Asia/Shanghai, no daylight saving), +08:00."""

# GB/T 2260 province-level prefixes (incl. Taiwan 71, Hong Kong 81, Macao 82).
PROVINCE_PREFIXES: tuple[str, ...] = (
    "11", "12", "13", "14", "15",
    "21", "22", "23",
    "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46",
    "50", "51", "52", "53", "54",
    "61", "62", "63", "64", "65",
    "71", "81", "82",
)  # fmt: skip
_PROVINCE = "(?:" + "|".join(PROVINCE_PREFIXES) + ")"

# The CloudEvents attributes every silian record carries, as receipts name them and as the
# consumer checks them on the wire (one pattern each, here).
AGENCY_URN_PREFIX = "urn:silian:agency:"
AGENCY_URN_PATTERN = r"^urn:silian:agency:[0-9]{12}$"
"""``ce_source``: the URN of the issuing agency's 12-digit code."""
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
"""``ce_id``: a UUIDv7 as silian makes them, or any id of this shape another issuer uses."""
CE_TYPE_PATTERN = r"^cn\.silian\.[a-z]+\.[a-z_]+\.v[1-9][0-9]*$"
"""``ce_type``: ``cn.silian.<family>.<event>.v<major>``."""

DivisionCode = Annotated[
    str,
    StringConstraints(pattern=rf"^{_PROVINCE}[0-9]{{4}}$"),
    Field(description="行政区划代码（GB/T 2260，6位） / administrative division code (GB/T 2260)"),
]
"""Six digits, starting with a known province prefix, e.g. ``330881`` (Jiangshan)."""

AgencyCode = Annotated[
    str,
    StringConstraints(pattern=rf"^{_PROVINCE}[0-9]{{10}}$"),
    Field(
        description="机构代码（12位，前6位为行政区划代码） / "
        "agency code: 12 digits, the first 6 a GB/T 2260 division code"
    ),
]
"""Twelve digits; the first six are the division code of the agency's place."""

EntityId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$"),
    Field(description="实体标识 / entity id (usable in Kafka topic names)"),
]
"""Ids of alerts, cases, disputes, ...: safe inside a Kafka topic name."""

FederationId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,31}$"),
    Field(description="联盟标识 / federation id (lowercase, used in topic names)"),
]

Sha256Hex = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{64}$"),
    Field(description="SHA-256 摘要（64位小写十六进制） / SHA-256 digest, 64 lowercase hex"),
]

Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
"""Free text: never empty, bounded."""

Timestamp = Annotated[
    AwareDatetime,
    Field(description="带时区的时间（RFC 3339） / timezone-aware time (RFC 3339 with offset)"),
]


class ValueModel(BaseModel):
    """Base of the frozen value objects nested inside events."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class HandlingCode(StrEnum):
    """SIENA-style handling codes, from least to most restricted."""

    H0 = "H0"  # no restriction beyond the agreement
    H1 = "H1"  # not for use in judicial proceedings without the owner's permission
    H2 = "H2"  # not to be passed on without the owner's permission
    H3 = "H3"  # owner-set restrictions; most restricted


class Tlp(StrEnum):
    """Traffic Light Protocol 2.0 labels."""

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER+STRICT"
    RED = "RED"


class Handling(ValueModel):
    """How an event may be handled: a SIENA-style code plus a TLP 2.0 label."""

    code: HandlingCode = Field(description="处理代码 H0–H3 / handling code H0–H3 (SIENA-style)")
    tlp: Tlp = Field(description="交通灯协议标签 / TLP 2.0 label")

    @property
    def confidential(self) -> bool:
        """True when the event must be sealed for its recipients."""
        return self.code in (HandlingCode.H2, HandlingCode.H3) or self.tlp in (
            Tlp.AMBER_STRICT,
            Tlp.RED,
        )


_DEFAULT_DEADLINES: dict[str, timedelta] = {
    "urgent": timedelta(minutes=15),
    "routine": timedelta(hours=24),
    "info": timedelta(hours=72),
}


class Priority(StrEnum):
    """Priority of a request; each has a default response deadline."""

    URGENT = "urgent"
    ROUTINE = "routine"
    INFO = "info"

    @property
    def default_deadline(self) -> timedelta:
        """Default time to answer (urgent 15 min, routine 24 h, info 72 h)."""
        return _DEFAULT_DEADLINES[self.value]


def response_deadline(
    priority: Priority, overrides: dict[Priority, timedelta] | None = None
) -> timedelta:
    """The deadline of ``priority``: the agreement's override if any, else the default."""
    if overrides and priority in overrides:
        return overrides[priority]
    return priority.default_deadline


class SourceReliability(StrEnum):
    """Reliability of the source (6x6 grading, A best … F cannot be judged)."""

    A = "A"  # completely reliable
    B = "B"  # usually reliable
    C = "C"  # fairly reliable
    D = "D"  # not usually reliable
    E = "E"  # unreliable
    F = "F"  # reliability cannot be judged


class InformationAccuracy(StrEnum):
    """Accuracy of the information (6x6 grading, 1 confirmed … 6 cannot be judged)."""

    CONFIRMED = "1"
    PROBABLY_TRUE = "2"
    POSSIBLY_TRUE = "3"
    DOUBTFUL = "4"
    IMPROBABLE = "5"
    CANNOT_BE_JUDGED = "6"


class WarningMarker(StrEnum):
    """Officer-safety and care markers attached to a subject."""

    ARMED = "armed"
    VIOLENT = "violent"
    ESCAPE_RISK = "escape_risk"
    SELF_HARM = "self_harm"
    DRUGS = "drugs"
    CONTAGIOUS = "contagious"
    MENTAL_HEALTH = "mental_health"
    EXPLOSIVES = "explosives"
    VULNERABLE = "vulnerable"


class BilingualName(ValueModel):
    """A name in Chinese (authoritative) and English (display)."""

    zh: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="中文名称 / Chinese name (authoritative)"
    )
    en: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="英文名称 / English name (for display)"
    )


class Place(ValueModel):
    """A place: its division code and words a local officer understands."""

    division: DivisionCode = Field(description="所在行政区划 / division code of the place")
    description: Text = Field(description="地点描述 / description of the place")
