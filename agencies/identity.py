"""Who takes part: agency identities and the directory of known agencies.

An agency code is twelve digits; the first six are the GB/T 2260 division code of the
place the agency serves (Jiangshan 330881, Pucheng 350722, Guangfeng District 361103,
Changshan 330822, Yushan 361123).

The directory is data, not code. Every division below a province in
``agencies/data/divisions.csv`` (the real codes and names of Zhejiang, Fujian and Jiangxi:
:mod:`agencies.divisions`) has its public security bureau, code ``<division>000000``:
常山县公安局 for Changshan County and 江山市公安局 for the county-level city of Jiangshan;
a district's bureau is a branch of its city's, 上饶市公安局广丰分局; a prefecture-level
city's is 衢州市公安局.
``agencies/data/agencies.toml`` adds the police stations and partner bodies of the 三山
centre (their six-digit suffixes are illustrative: real deployments take them from the
agencies' own registers) and says who takes part in which mechanism.

:data:`KNOWN_AGENCIES` and :func:`agency` are that shipped directory. An agreement may
declare members it does not know, a station with its own code and names:
:meth:`Directory.with_members` is the shipped directory with an agreement's members,
named as the agreement names them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Annotated, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from agencies.divisions import DIVISIONS, Division, DivisionLevel
from agencies.errors import UnknownAgencyError

__all__ = [
    "DIRECTORY",
    "KNOWN_AGENCIES",
    "Agency",
    "AgencyCodeStr",
    "AgencyKind",
    "Directory",
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


class _Declared(Protocol):
    """What an agreement says of a member (:class:`agencies.agreement.Member`)."""

    @property
    def code(self) -> str: ...
    @property
    def name_zh(self) -> str: ...
    @property
    def name_en(self) -> str: ...
    @property
    def kind(self) -> AgencyKind: ...


class Directory:
    """Agencies by code, read-only; :class:`UnknownAgencyError` for any other code."""

    def __init__(self, agencies: Iterable[Agency]) -> None:
        self._by_code = MappingProxyType({a.code: a for a in agencies})

    @property
    def agencies(self) -> MappingProxyType[str, Agency]:
        return self._by_code

    def get(self, code: str) -> Agency | None:
        return self._by_code.get(code)

    def agency(self, code: str) -> Agency:
        """The agency with this code; :class:`UnknownAgencyError` saying what is known."""
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownAgencyError(_unknown(code)) from None

    def name(self, code: str) -> str:
        """江山市公安局 for a known code, the code itself otherwise."""
        known = self._by_code.get(code)
        return known.name_zh if known else code

    def with_members(self, members: Iterable[_Declared]) -> Directory:
        """This directory with every member declared, named and of the kind its declaration
        says (the last one of a code wins: pass versions oldest first); a member known here
        keeps its mechanisms."""
        merged = dict(self._by_code)
        for member in members:
            known = merged.get(member.code)
            merged[member.code] = Agency(
                code=member.code,
                name_zh=member.name_zh,
                name_en=member.name_en,
                kind=member.kind,
                division_code=member.code[:6],
                mechanisms=known.mechanisms if known else (),
            )
        return Directory(merged.values())


def _unknown(code: str) -> str:
    place = DIVISIONS.get(code[:6]) if len(code) == 12 else None
    where = f" (in {place.name_zh} {place.code})" if place else ""
    return (
        f"unknown agency code {code!r}{where}: silian knows the public security bureaus of "
        "the divisions of Zhejiang, Fujian and Jiangxi (<division code>000000), the 三山 "
        "stations and partner bodies, and the members an agreement declares"
    )


def _bureau(division: Division) -> Agency | None:
    """A division's public security bureau; none for a province (its police is a 公安厅)."""
    if division.level is DivisionLevel.PROVINCE:
        return None
    name_zh, name_en = f"{division.name_zh}公安局", f"{division.name_en} Public Security Bureau"
    if division.level is DivisionLevel.DISTRICT:
        city = DIVISIONS[division.prefecture_code]
        short_en = division.name_en.removesuffix(" District")
        name_zh = f"{city.name_zh}公安局{division.short_zh}分局"
        name_en = f"{city.name_en} Public Security Bureau {short_en} Branch"
    return Agency(
        code=division.code + "000000",
        name_zh=name_zh,
        name_en=name_en,
        kind=AgencyKind.POLICE,
        division_code=division.code,
    )


class _Listed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: AgencyCodeStr
    name_zh: str
    name_en: str
    kind: AgencyKind


class _Shipped(BaseModel):
    """``agencies/data/agencies.toml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mechanisms: dict[Mechanism, frozenset[AgencyCodeStr]]
    agencies: tuple[_Listed, ...]


def _shipped() -> Directory:
    found = {a.code: a for a in map(_bureau, DIVISIONS.values()) if a is not None}
    text = resources.files("agencies").joinpath("data/agencies.toml").read_text("utf-8")
    listed = _Shipped.model_validate(tomllib.loads(text))
    for entry in listed.agencies:
        if entry.code in found:
            raise ValueError(f"agencies.toml lists {entry.code}, already {found[entry.code]}")
        found[entry.code] = Agency(**entry.model_dump(), division_code=entry.code[:6])
    unknown = {c for codes in listed.mechanisms.values() for c in codes} - found.keys()
    if unknown:
        raise ValueError(f"agencies.toml names unknown members of mechanisms: {sorted(unknown)}")
    members = {m: listed.mechanisms.get(m, frozenset()) for m in Mechanism}
    return Directory(
        a.model_copy(update={"mechanisms": tuple(m for m in Mechanism if a.code in members[m])})
        for a in found.values()
    )


DIRECTORY: Directory = _shipped()
"""The shipped directory: every division's bureau and the agencies of agencies.toml."""

KNOWN_AGENCIES: MappingProxyType[str, Agency] = DIRECTORY.agencies
"""Every agency silian knows by code, read-only."""


def agency(code: str) -> Agency:
    """The known agency with this code; :class:`UnknownAgencyError` if there is none."""
    return DIRECTORY.agency(code)
