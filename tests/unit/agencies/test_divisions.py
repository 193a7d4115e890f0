"""agencies.divisions: the shipped GB/T 2260 divisions of Zhejiang, Fujian and Jiangxi."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from pydantic import ValidationError

from agencies.divisions import DIVISIONS, DivisionLevel, load_divisions

_COUNTY_LEVEL = {DivisionLevel.DISTRICT, DivisionLevel.COUNTY, DivisionLevel.COUNTY_CITY}


@pytest.mark.parametrize(
    ("code", "name_zh", "name_en", "level"),
    [
        ("330881", "江山市", "Jiangshan", DivisionLevel.COUNTY_CITY),
        ("330822", "常山县", "Changshan County", DivisionLevel.COUNTY),
        ("350722", "浦城县", "Pucheng County", DivisionLevel.COUNTY),
        ("361103", "广丰区", "Guangfeng District", DivisionLevel.DISTRICT),
        ("361123", "玉山县", "Yushan County", DivisionLevel.COUNTY),
        ("330800", "衢州市", "Quzhou", DivisionLevel.PREFECTURE),
        ("361100", "上饶市", "Shangrao", DivisionLevel.PREFECTURE),
        ("350000", "福建省", "Fujian", DivisionLevel.PROVINCE),
    ],
)
def test_the_known_divisions(code: str, name_zh: str, name_en: str, level: DivisionLevel):
    division = DIVISIONS[code]
    assert (division.name_zh, division.name_en, division.level) == (name_zh, name_en, level)


def test_every_county_level_division_of_the_three_provinces() -> None:
    """Zhejiang 90, Fujian 84, Jiangxi 100 county-level divisions; 11, 9, 11 cities."""
    county_level = Counter(d.code[:2] for d in DIVISIONS.values() if d.level in _COUNTY_LEVEL)
    assert county_level == {"33": 90, "35": 84, "36": 100}
    cities = Counter(d.code[:2] for d in DIVISIONS.values() if d.level is DivisionLevel.PREFECTURE)
    assert cities == {"33": 11, "35": 9, "36": 11}
    assert {DIVISIONS[p].name_zh for p in ("330000", "350000", "360000")} == {
        "浙江省",
        "福建省",
        "江西省",
    }


def test_codes_are_well_formed_and_each_has_its_city_and_province() -> None:
    for code, division in DIVISIONS.items():
        assert re.fullmatch(r"3[356][0-9]{4}", code), code
        assert division.code == code
        province = DIVISIONS[code[:2] + "0000"]
        assert province.level is DivisionLevel.PROVINCE
        if division.level is DivisionLevel.PROVINCE:
            assert code.endswith("0000")
        elif division.level is DivisionLevel.PREFECTURE:
            assert code.endswith("00")
            assert not code.endswith("0000")
        else:
            assert not code.endswith("00"), code
            assert DIVISIONS[division.prefecture_code].level is DivisionLevel.PREFECTURE
    names = Counter((d.prefecture_code, d.name_zh) for d in DIVISIONS.values())
    assert max(names.values()) == 1  # no name twice in one city


def test_a_code_twice_or_a_bad_row_is_refused() -> None:
    header = "code,name_zh,name_en,level\n"
    row = "330822,常山县,Changshan County,county\n"
    assert list(load_divisions(header + row)) == ["330822"]
    with pytest.raises(ValueError, match="330822 is listed twice"):
        load_divisions(header + row + row)
    with pytest.raises(ValidationError):
        load_divisions(header + "33082,常山县,Changshan County,county\n")
    with pytest.raises(ValidationError):
        load_divisions(header + "330822,常山县,Changshan County,township\n")


def test_the_divisions_are_read_only() -> None:
    with pytest.raises(TypeError):
        DIVISIONS["330822"] = DIVISIONS["330881"]  # type: ignore[index]
