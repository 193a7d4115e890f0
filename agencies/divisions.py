"""The GB/T 2260 administrative divisions silian ships (``agencies/data/divisions.csv``).

Zhejiang, Fujian and Jiangxi: the provinces, their prefecture-level cities and every
county-level division (区, 县, 县级市), with the real codes and names. The file is data,
made by ``scripts/divisions.py``; ``agencies/data/README.md`` says from what and how it
was checked. :mod:`agencies.identity` derives each division's public security bureau.
"""

from __future__ import annotations

import csv
import io
from enum import StrEnum
from importlib import resources
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DIVISIONS", "Division", "DivisionLevel", "load_divisions"]


class DivisionLevel(StrEnum):
    PROVINCE = "province"  # 省
    PREFECTURE = "prefecture"  # 地级市
    DISTRICT = "district"  # 市辖区
    COUNTY = "county"  # 县, 自治县
    COUNTY_CITY = "county-city"  # 县级市


class Division(BaseModel):
    """One row of the file: ``330822,常山县,Changshan County,county``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[1-8][0-9]{5}$")
    name_zh: str = Field(min_length=2, max_length=30)
    name_en: str = Field(min_length=2, max_length=60)
    level: DivisionLevel

    @property
    def prefecture_code(self) -> str:
        """``330800`` for Changshan (330822): the prefecture-level city above it."""
        return self.code[:4] + "00"

    @property
    def short_zh(self) -> str:
        """广丰区 → 广丰 (as in 上饶市公安局广丰分局); a one-character place keeps 区."""
        short = self.name_zh.removesuffix("区")
        return short if len(short) >= 2 else self.name_zh


def load_divisions(text: str) -> MappingProxyType[str, Division]:
    """The divisions of a ``code,name_zh,name_en,level`` CSV, by code; a code twice fails."""
    found: dict[str, Division] = {}
    for row in csv.DictReader(io.StringIO(text)):
        division = Division.model_validate(row)
        if division.code in found:
            raise ValueError(f"division {division.code} is listed twice")
        found[division.code] = division
    return MappingProxyType(found)


DIVISIONS: MappingProxyType[str, Division] = load_divisions(
    resources.files("agencies").joinpath("data/divisions.csv").read_text(encoding="utf-8")
)
"""Every shipped division by its six-digit code, read-only."""
