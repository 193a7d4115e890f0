"""Who takes part: agency identities and the directory of known agencies.

An agency code is twelve digits; the first six are the GB/T 2260 division code of the
place the agency serves (Jiangshan 330881, Pucheng 350722, Guangfeng District 361103,
Changshan 330822, Yushan 361123). The division codes below are the real ones. The six-digit
*suffixes* of the police stations and of the partner bodies of the 三山 centre are
illustrative: real deployments take them from the agencies' own registers.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from agencies.errors import UnknownAgencyError

__all__ = [
    "KNOWN_AGENCIES",
    "Agency",
    "AgencyCodeStr",
    "AgencyKind",
    "Mechanism",
    "agency",
]

AgencyCodeStr = Annotated[
    str,
    StringConstraints(pattern=r"^[1-8][0-9]{11}$"),
    Field(description="机构代码（12位，前6位为行政区划代码） / agency code, 12 digits"),
]
"""Twelve digits, the first six a GB/T 2260 division code."""


class AgencyKind(StrEnum):
    """Police bodies see what the agreement grants; partners never see criminal intelligence."""

    POLICE = "police"
    PARTNER = "partner"


class Mechanism(StrEnum):
    """The cooperation mechanisms an agency takes part in (DOMAIN.md)."""

    SILIAN = "silian"  # 四联: the three-bureau agreement
    SANSHAN = "sanshan"  # 三山: the three-station border governance centre


class Agency(BaseModel):
    """One police body or partner body, as users know it (Chinese name first)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: AgencyCodeStr
    name_zh: str = Field(min_length=1, max_length=100, description="中文名称")
    name_en: str = Field(min_length=1, max_length=200, description="English name")
    kind: AgencyKind
    division_code: str = Field(pattern=r"^[1-8][0-9]{5}$", description="GB/T 2260 code")
    mechanisms: tuple[Mechanism, ...] = ()

    @model_validator(mode="after")
    def _division_prefixes_code(self) -> Self:
        if not self.code.startswith(self.division_code):
            raise ValueError(
                f"agency code {self.code} does not start with its division code "
                f"{self.division_code}"
            )
        return self

    @property
    def display(self) -> str:
        """``江山市公安局 (330881000000)``: how the CLI names an agency."""
        return f"{self.name_zh} ({self.code})"


def _a(code: str, name_zh: str, name_en: str, kind: AgencyKind, *mechanisms: Mechanism) -> Agency:
    return Agency(
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        kind=kind,
        division_code=code[:6],
        mechanisms=mechanisms,
    )


_P, _X = AgencyKind.POLICE, AgencyKind.PARTNER
_SILIAN, _SANSHAN = Mechanism.SILIAN, Mechanism.SANSHAN

_DIRECTORY: tuple[Agency, ...] = (
    # The three bureaus of the 四联 agreement.
    _a("330881000000", "江山市公安局", "Jiangshan Public Security Bureau", _P, _SILIAN),
    _a("350722000000", "浦城县公安局", "Pucheng County Public Security Bureau", _P, _SILIAN),
    _a(
        "361103000000",
        "上饶市公安局广丰分局",
        "Shangrao Public Security Bureau Guangfeng Branch",
        _P,
        _SILIAN,
    ),
    # The three police stations of 三山 (suffixes illustrative).
    _a("330881510000", "江山市公安局坛石派出所", "Jiangshan PSB Tanshi Station", _P, _SANSHAN),
    _a(
        "330822510000", "常山县公安局新都派出所", "Changshan County PSB Xindu Station", _P, _SANSHAN
    ),
    _a("361123510000", "玉山县公安局岩瑞派出所", "Yushan County PSB Yanrui Station", _P, _SANSHAN),
    # Non-police partner bodies of the 三山 joint centre (suffixes illustrative).
    _a(
        "330881610000",
        "江山市人民法院坛石人民法庭",
        "Jiangshan People's Court Tanshi People's Tribunal",
        _X,
        _SANSHAN,
    ),
    _a("330881620000", "江山市坛石司法所", "Jiangshan Tanshi Judicial Office", _X, _SANSHAN),
    _a(
        "330881630000",
        "江山市综合行政执法局坛石中队",
        "Jiangshan Comprehensive Administrative Law Enforcement Bureau Tanshi Squadron",
        _X,
        _SANSHAN,
    ),
)

KNOWN_AGENCIES: MappingProxyType[str, Agency] = MappingProxyType({a.code: a for a in _DIRECTORY})
"""Every agency silian knows by code, read-only."""


def agency(code: str) -> Agency:
    """The known agency with this code; :class:`UnknownAgencyError` if there is none."""
    try:
        return KNOWN_AGENCIES[code]
    except KeyError:
        raise UnknownAgencyError(f"unknown agency code {code!r}") from None
