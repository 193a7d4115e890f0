from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from contracts.registry import REGISTRY
from contracts.vocab import (
    AgencyCode,
    BilingualName,
    DivisionCode,
    EntityId,
    Handling,
    HandlingCode,
    InformationAccuracy,
    Priority,
    SourceReliability,
    Timestamp,
    Tlp,
    response_deadline,
)

AGENCY = TypeAdapter(AgencyCode)
DIVISION = TypeAdapter(DivisionCode)
ENTITY = TypeAdapter(EntityId)
TIME = TypeAdapter(Timestamp)


@pytest.mark.parametrize("code", ["330881000000", "350722000000", "361103000000", "110000000001"])
def test_agency_code_accepts_known_division_prefix(code: str) -> None:
    assert AGENCY.validate_python(code) == code


@pytest.mark.parametrize(
    "code",
    ["33088100000", "3308810000000", "990881000000", "00088100000X", " 330881000000", ""],
)
def test_agency_code_rejects_bad_codes(code: str) -> None:
    with pytest.raises(ValidationError):
        AGENCY.validate_python(code)


def test_agency_code_rejects_int() -> None:
    with pytest.raises(ValidationError):
        AGENCY.validate_python(330881000000)


@pytest.mark.parametrize("code", ["330881", "350722", "361103", "330822", "361123", "810000"])
def test_division_code_accepts(code: str) -> None:
    assert DIVISION.validate_python(code) == code


@pytest.mark.parametrize("code", ["33088", "3308811", "990881", "000000", "33O881"])
def test_division_code_rejects(code: str) -> None:
    with pytest.raises(ValidationError):
        DIVISION.validate_python(code)


@pytest.mark.parametrize("value", ["JS-CASE-2024-031", "abc", "a.b_c-9"])
def test_entity_id_accepts_topic_safe_ids(value: str) -> None:
    assert ENTITY.validate_python(value) == value


@pytest.mark.parametrize("value", ["ab", "-abc", "a b c", "案件001", "a/bc", "x" * 65])
def test_entity_id_rejects_ids_unsafe_in_topic_names(value: str) -> None:
    with pytest.raises(ValidationError):
        ENTITY.validate_python(value)


def test_timestamp_requires_an_offset() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        TIME.validate_python("2024-05-06T09:00:00")
    with pytest.raises(ValidationError):
        TIME.validate_python(datetime(2024, 5, 6, 9, 0))
    aware = TIME.validate_python("2024-05-06T09:00:00+08:00")
    assert aware.utcoffset() == timedelta(hours=8)
    assert TIME.validate_python(datetime(2024, 5, 6, tzinfo=UTC)).tzinfo is UTC


@pytest.mark.parametrize(
    ("code", "tlp", "sealed"),
    [
        ("H0", "CLEAR", False),
        ("H1", "GREEN", False),
        ("H1", "AMBER", False),
        ("H2", "GREEN", True),
        ("H3", "CLEAR", True),
        ("H0", "AMBER+STRICT", True),
        ("H1", "RED", True),
    ],
)
def test_handling_confidential(code: str, tlp: str, sealed: bool) -> None:
    assert Handling(code=HandlingCode(code), tlp=Tlp(tlp)).confidential is sealed


def test_handling_rejects_unknown_codes_and_is_frozen() -> None:
    with pytest.raises(ValidationError):
        Handling.model_validate({"code": "H4", "tlp": "RED"})
    with pytest.raises(ValidationError):
        Handling.model_validate({"code": "H1", "tlp": "WHITE"})  # TLP 1.0 label, gone in 2.0
    handling = Handling(code=HandlingCode.H0, tlp=Tlp.CLEAR)
    with pytest.raises(ValidationError):
        handling.code = HandlingCode.H3  # type: ignore[misc]


def test_priority_default_deadlines_and_override() -> None:
    assert Priority.URGENT.default_deadline == timedelta(minutes=15)
    assert Priority.ROUTINE.default_deadline == timedelta(hours=24)
    assert Priority.INFO.default_deadline == timedelta(hours=72)
    overrides = {Priority.URGENT: timedelta(minutes=5)}
    assert response_deadline(Priority.URGENT, overrides) == timedelta(minutes=5)
    assert response_deadline(Priority.ROUTINE, overrides) == timedelta(hours=24)


def test_six_by_six_grading() -> None:
    assert [g.value for g in SourceReliability] == list("ABCDEF")
    assert [g.value for g in InformationAccuracy] == list("123456")


def test_bilingual_name_needs_both() -> None:
    assert BilingualName(zh="江山市公安局", en="Jiangshan PSB").zh == "江山市公安局"
    with pytest.raises(ValidationError):
        BilingualName.model_validate({"zh": "江山市公安局"})
    with pytest.raises(ValidationError):
        BilingualName.model_validate({"zh": "", "en": "x"})


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        for arg in _walk(field.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                _models(arg, seen)


def _walk(annotation: object) -> list[object]:
    out = [annotation]
    for arg in getattr(annotation, "__args__", ()):
        out.extend(_walk(arg))
    return out


def test_every_field_is_documented_in_chinese_and_english() -> None:
    seen: set[type[BaseModel]] = set()
    for spec in REGISTRY.specs():
        _models(spec.model, seen)
    assert len(seen) > len(REGISTRY)  # nested value models were found too
    undocumented = []
    for model in seen:
        for name, field in model.model_fields.items():
            text = field.description or ""
            has_chinese = any("\u4e00" <= ch <= "\u9fff" for ch in text)
            if " / " not in text or not has_chinese:
                undocumented.append(f"{model.__name__}.{name}")
    assert undocumented == []


def test_fixed_offset_example_is_shanghai_time() -> None:
    tz = timezone(timedelta(hours=8))
    assert TIME.validate_python(datetime(2024, 5, 6, tzinfo=tz)).utcoffset() == timedelta(hours=8)
