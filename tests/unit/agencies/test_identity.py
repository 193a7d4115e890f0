from __future__ import annotations

import pytest
from pydantic import ValidationError

from agencies import KNOWN_AGENCIES, Agency, AgencyKind, UnknownAgencyError, agency


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


def test_unknown_code_is_refused_by_name():
    with pytest.raises(UnknownAgencyError, match="999999000000"):
        agency("999999000000")
    with pytest.raises(LookupError):
        agency("nope")


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
