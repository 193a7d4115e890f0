from __future__ import annotations

import pytest
from pydantic import ValidationError

from agencies import (
    DIRECTORY,
    KNOWN_AGENCIES,
    Agency,
    AgencyKind,
    KeyStore,
    Mechanism,
    Member,
    UnknownAgencyError,
    agency,
)
from agencies.divisions import DIVISIONS, DivisionLevel
from tests.unit.agencies.conftest import T0

STATION = "330822510001"  # a station no shipped file knows


@pytest.mark.parametrize(
    ("code", "name_zh", "division"),
    [
        ("330881000000", "江山市公安局", "330881"),
        ("350722000000", "浦城县公安局", "350722"),
        ("361103000000", "上饶市公安局广丰分局", "361103"),
        ("330881510000", "江山市公安局坛石派出所", "330881"),
        ("330822510000", "常山县公安局新都派出所", "330822"),
        ("361123510000", "玉山县公安局岩瑞派出所", "361123"),
    ],
)
def test_police_bodies_are_known_with_their_division(code: str, name_zh: str, division: str):
    found = agency(code)
    assert found.name_zh == name_zh
    assert found.division_code == division
    assert found.kind is AgencyKind.POLICE
    assert found.display == f"{name_zh} ({code})"


def test_sanshan_partners_are_partners():
    partners = {a.name_zh for a in KNOWN_AGENCIES.values() if a.kind is AgencyKind.PARTNER}
    assert partners == {
        "江山市人民法院坛石人民法庭",
        "江山市坛石司法所",
        "江山市综合行政执法局坛石中队",
    }


@pytest.mark.parametrize(
    ("code", "name_zh", "name_en"),
    [
        ("330881000000", "江山市公安局", "Jiangshan Public Security Bureau"),
        ("350722000000", "浦城县公安局", "Pucheng County Public Security Bureau"),
        (
            "361103000000",
            "上饶市公安局广丰分局",
            "Shangrao Public Security Bureau Guangfeng Branch",
        ),
        ("330822000000", "常山县公安局", "Changshan County Public Security Bureau"),
        ("361123000000", "玉山县公安局", "Yushan County Public Security Bureau"),
        ("330802000000", "衢州市公安局柯城分局", "Quzhou Public Security Bureau Kecheng Branch"),
        ("361124000000", "铅山县公安局", "Yanshan County Public Security Bureau"),
        ("330800000000", "衢州市公安局", "Quzhou Public Security Bureau"),
        (
            "331127000000",
            "景宁畲族自治县公安局",
            "Jingning She Autonomous County Public Security Bureau",
        ),
    ],
)
def test_each_division_has_its_bureau(code: str, name_zh: str, name_en: str):
    found = agency(code)
    assert (found.name_zh, found.name_en) == (name_zh, name_en)
    assert found.kind is AgencyKind.POLICE
    assert found.division_code == code[:6]


def test_every_county_level_division_and_city_has_a_bureau_and_a_province_none():
    for division in DIVISIONS.values():
        code = division.code + "000000"
        if division.level is DivisionLevel.PROVINCE:
            assert code not in KNOWN_AGENCIES
        elif division.level is DivisionLevel.DISTRICT:
            city = DIVISIONS[division.prefecture_code]
            assert agency(code).name_zh == f"{city.name_zh}公安局{division.short_zh}分局"
        else:
            assert agency(code).name_zh == f"{division.name_zh}公安局"


def test_who_takes_part_in_which_mechanism():
    def members(mechanism: Mechanism) -> set[str]:
        return {a.code for a in KNOWN_AGENCIES.values() if mechanism in a.mechanisms}

    assert members(Mechanism.SILIAN) == {"330881000000", "350722000000", "361103000000"}
    assert len(members(Mechanism.SANSHAN)) == 6
    assert agency("330822000000").mechanisms == ()


def test_unknown_code_is_refused_by_name():
    with pytest.raises(UnknownAgencyError, match="999999000000"):
        agency("999999000000")
    with pytest.raises(LookupError):
        agency("nope")
    # Beijing's Dongcheng District is a real division, but not one silian ships.
    with pytest.raises(UnknownAgencyError, match="'110101000000': silian knows the public"):
        agency("110101000000")
    with pytest.raises(UnknownAgencyError, match=r"'330822510001' \(in 常山县 330822\)"):
        agency(STATION)


def _member(keystore: KeyStore, code: str, name_zh: str, name_en: str) -> Member:
    keystore.new(code, now=T0)
    return Member(
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        kind=AgencyKind.POLICE,
        keys=keystore.records(code),
    )


def test_a_station_an_agreement_declares_is_named_from_the_agreement(keystore: KeyStore):
    station = _member(keystore, STATION, "常山县公安局测试派出所", "Changshan County PSB Test")
    merged = DIRECTORY.with_members([station])
    found = merged.agency(STATION)
    assert (found.name_zh, found.name_en, found.kind) == (
        "常山县公安局测试派出所",
        "Changshan County PSB Test",
        AgencyKind.POLICE,
    )
    assert found.division_code == "330822"
    assert merged.name(STATION) == "常山县公安局测试派出所"
    assert merged.agency("330822000000").name_zh == "常山县公安局"  # the shipped ones stay
    assert STATION not in KNOWN_AGENCIES  # the shipped directory is unchanged
    assert DIRECTORY.name(STATION) == STATION


def test_an_agreement_names_its_members_its_own_way(keystore: KeyStore):
    first = _member(keystore, "330881000000", "江山市公安局（旧称）", "Jiangshan PSB, old name")
    renamed = first.model_copy(update={"name_zh": "江山市公安局（新称）"})
    found = DIRECTORY.with_members([first, renamed]).agency("330881000000")
    assert found.name_zh == "江山市公安局（新称）"  # the last declaration wins
    assert found.mechanisms == (Mechanism.SILIAN,)  # what the shipped data says is kept


def test_code_must_start_with_its_division_code():
    with pytest.raises(ValidationError, match="does not start with its division code"):
        Agency(
            code="330881000000",
            name_zh="某局",
            name_en="Some bureau",
            kind=AgencyKind.POLICE,
            division_code="350722",
        )


def test_agency_is_frozen_and_directory_read_only():
    found = agency("330881000000")
    with pytest.raises(ValidationError):
        found.name_zh = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        KNOWN_AGENCIES["1"] = found  # type: ignore[index]
