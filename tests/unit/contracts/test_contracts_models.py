"""Every event model: a good example validates; wrong input is refused naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts.base import EventModel, Family
from contracts.errors import ContractError
from contracts.examples import example_events
from contracts.receipts import ReceiptReceived, ReceiptReceivedV2
from contracts.registry import REGISTRY, decode, encode, spec_for_model

from .conftest import examples_by_type

EXAMPLES = examples_by_type()
TYPES = sorted(EXAMPLES)
ISSUE_3_TYPES = {
    "alert.issued", "alert.updated", "alert.hit", "alert.extended", "alert.cancelled",
    "case.opened", "case.member_invited", "case.member_joined", "case.member_left",
    "case.lead_shared", "case.evidence_shared", "case.task_assigned", "case.task_completed",
    "case.note", "case.closed",
    "dispute.reported", "dispute.lead_agreed", "dispute.mediation_scheduled",
    "dispute.mediation_held", "dispute.settled", "dispute.followed_up", "dispute.escalated",
    "dispute.closed",
    "patrol.planned", "patrol.reported",
    "liaison.meeting", "liaison.contact_updated",
    "receipt.received", "receipt.handled", "receipt.rejected",
}  # fmt: skip
# Added since: a deliberate release of a quarantined record (issue 12).
LATER_TYPES = {"receipt.released"}


def _data(event_type: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(encode(EXAMPLES[event_type]))
    return result


def _decode(event_type: str, data: dict[str, Any]) -> EventModel:
    ce_type = spec_for_model(EXAMPLES[event_type]).ce_type
    return decode(ce_type, json.dumps(data, ensure_ascii=False).encode())


def _paths(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], Any]]:
    found: list[tuple[tuple[str | int, ...], Any]] = [(path, value)]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*path, index)))
    return found


def _replace(data: Any, path: tuple[str | int, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(data))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copy


def _loc(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path)


def test_every_issue_3_event_has_a_model_and_an_example() -> None:
    registered = {spec.event_type for spec in REGISTRY.specs()}
    assert registered == ISSUE_3_TYPES | LATER_TYPES
    assert set(EXAMPLES) == ISSUE_3_TYPES | LATER_TYPES


def test_every_version_still_read_has_an_example_that_round_trips() -> None:
    """v1 receipts stay readable beside v2: each registered type at each version has an
    example, decoded back to itself under its own ce_type."""
    by_ce_type = {spec_for_model(e).ce_type: e for e in reversed(example_events())}
    assert set(by_ce_type) == set(REGISTRY)
    for ce_type, event in by_ce_type.items():
        assert decode(ce_type, encode(event)) == event


@pytest.mark.parametrize("event_type", TYPES)
def test_good_example_round_trips(event_type: str) -> None:
    event = EXAMPLES[event_type]
    assert _decode(event_type, _data(event_type)) == event
    assert event.event_type == event_type
    # The first example of a type is of its newest version: what publishers write.
    assert event.version == max(s.version for s in REGISTRY.specs() if s.event_type == event_type)
    assert event.family is Family(event_type.split(".", maxsplit=1)[0])


@pytest.mark.parametrize("event_type", TYPES)
def test_unknown_field_is_refused(event_type: str) -> None:
    data = {**_data(event_type), "smuggled": "x"}
    with pytest.raises(ContractError, match="smuggled"):
        _decode(event_type, data)


@pytest.mark.parametrize("event_type", TYPES)
def test_wrong_type_for_the_key_field_is_refused(event_type: str) -> None:
    key = type(EXAMPLES[event_type]).key_field
    data = {**_data(event_type), key: 12345}
    with pytest.raises(ContractError, match=key):
        _decode(event_type, data)


@pytest.mark.parametrize("event_type", TYPES)
def test_missing_required_field_is_refused(event_type: str) -> None:
    key = type(EXAMPLES[event_type]).key_field
    data = _data(event_type)
    del data[key]
    with pytest.raises(ContractError, match=f"field '{key}'"):
        _decode(event_type, data)


@pytest.mark.parametrize("event_type", TYPES)
def test_events_are_frozen(event_type: str) -> None:
    event = EXAMPLES[event_type]
    key = type(event).key_field
    with pytest.raises(ValueError, match="frozen"):
        setattr(event, key, "other-id")


def _time_paths(event_type: str) -> list[tuple[str | int, ...]]:
    return [
        path
        for path, value in _paths(_data(event_type))
        if isinstance(value, str) and len(value) >= 25 and value[10:11] == "T"
    ]


TIMED = [t for t in TYPES if _time_paths(t)]


def test_most_events_carry_times() -> None:
    assert len(TIMED) >= 15
    assert "alert.issued" in TIMED


@pytest.mark.parametrize("event_type", TIMED)
def test_naive_datetime_is_refused(event_type: str) -> None:
    for path in _time_paths(event_type):
        naive = _replace(_data(event_type), path, "2024-05-06T09:00:00")
        with pytest.raises(ContractError, match=f"field '{_loc(path)}'.*timezone"):
            _decode(event_type, naive)


def _code_paths(event_type: str, length: int) -> list[tuple[str | int, ...]]:
    return [
        path
        for path, value in _paths(_data(event_type))
        if isinstance(value, str) and value.isdigit() and len(value) == length and path
    ]


AGENCY_TYPES = [t for t in TYPES if _code_paths(t, 12)]
DIVISION_TYPES = [t for t in TYPES if _code_paths(t, 6)]


@pytest.mark.parametrize("event_type", AGENCY_TYPES)
def test_bad_agency_code_is_refused(event_type: str) -> None:
    for path in _code_paths(event_type, 12):
        with pytest.raises(ContractError, match="pattern"):
            _decode(event_type, _replace(_data(event_type), path, "990000000000"))
        with pytest.raises(ContractError):
            _decode(event_type, _replace(_data(event_type), path, "33088100000"))


@pytest.mark.parametrize("event_type", DIVISION_TYPES)
def test_bad_division_code_is_refused(event_type: str) -> None:
    for path in _code_paths(event_type, 6):
        with pytest.raises(ContractError, match="pattern"):
            _decode(event_type, _replace(_data(event_type), path, "999999"))


HANDLED = [t for t in TYPES if "handling" in _data(t) and _data(t)["handling"] is not None]


def test_handling_carriers() -> None:
    assert {"alert.issued", "case.opened", "dispute.reported", "patrol.planned"} <= set(HANDLED)
    assert EXAMPLES["case.opened"].declared_handling() is not None
    assert EXAMPLES["case.note"].declared_handling() is None


@pytest.mark.parametrize("event_type", HANDLED)
def test_bad_handling_code_is_refused(event_type: str) -> None:
    data = _data(event_type)
    with pytest.raises(ContractError, match=r"field 'handling\.code'"):
        _decode(event_type, {**data, "handling": {**data["handling"], "code": "H9"}})
    with pytest.raises(ContractError, match=r"field 'handling\.tlp'"):
        _decode(event_type, {**data, "handling": {**data["handling"], "tlp": "PINK"}})


def test_alert_issued_specifics() -> None:
    data = _data("alert.issued")
    with pytest.raises(ContractError, match="priority"):
        _decode("alert.issued", {**data, "priority": "asap"})
    with pytest.raises(ContractError, match="warning_markers"):
        _decode("alert.issued", {**data, "warning_markers": ["grumpy"]})
    with pytest.raises(ContractError, match="subject"):
        _decode("alert.issued", {**data, "subject": {"kind": "ghost", "description": "x"}})
    with pytest.raises(ContractError, match="area"):
        _decode("alert.issued", {**data, "area": []})
    person = {"kind": "person", "name": {"zh": "张某", "en": "Zhang"}, "description": "男"}
    assert _decode("alert.issued", {**data, "subject": person}).subject.kind == "person"  # type: ignore[attr-defined]


def test_evidence_is_a_reference_with_a_sha256_digest() -> None:
    data = _data("case.evidence_shared")
    with pytest.raises(ContractError, match="sha256"):
        _decode("case.evidence_shared", {**data, "sha256": "ABC"})
    with pytest.raises(ContractError, match="sha256"):
        _decode("case.evidence_shared", {**data, "sha256": data["sha256"].upper()})
    with pytest.raises(ContractError, match="bytes"):
        _decode("case.evidence_shared", {**data, "bytes": "aGVsbG8="})


def test_settlement_needs_paper_record_digest_and_judicial_flag() -> None:
    data = _data("dispute.settled")
    del data["judicial_confirmation_requested"]
    with pytest.raises(ContractError, match="judicial_confirmation_requested"):
        _decode("dispute.settled", data)
    data = _data("dispute.settled")
    with pytest.raises(ContractError, match="paper_record_sha256"):
        _decode("dispute.settled", {**data, "paper_record_sha256": "00"})


def test_patrol_must_end_after_it_starts() -> None:
    data = _data("patrol.planned")
    with pytest.raises(ContractError, match="ends_at must be after starts_at"):
        _decode("patrol.planned", {**data, "ends_at": data["starts_at"]})
    data = _data("patrol.reported")
    with pytest.raises(ContractError, match="ended_at must be after started_at"):
        _decode("patrol.reported", {**data, "ended_at": data["started_at"]})


@pytest.mark.parametrize("event_type", ["receipt.received", "receipt.handled", "receipt.rejected"])
def test_receipts_name_the_answered_record(event_type: str) -> None:
    data = _data(event_type)
    answers = data["answers"]
    assert set(answers) == {"ce_source", "ce_id", "ce_type", "record_hash"}
    for field, bad in [
        ("ce_source", "urn:silian:agency:123"),
        ("ce_type", "alert.issued"),
        ("ce_id", ""),
        ("record_hash", "AB" * 32),  # lowercase hex, as the chain names it
        ("record_hash", "ab" * 31),
    ]:
        with pytest.raises(ContractError, match=f"answers.{field}"):
            _decode(event_type, {**data, "answers": {**answers, field: bad}})


def test_v1_receipts_are_still_read_and_name_no_record() -> None:
    v2 = EXAMPLES["receipt.received"]
    assert isinstance(v2, ReceiptReceivedV2)
    answers = v2.answers.model_dump(mode="json")
    del answers["record_hash"]
    data = {"answers": answers, "received_at": "2024-05-06T09:06:00+08:00"}
    v1 = decode("cn.silian.receipt.received.v1", json.dumps(data).encode())
    assert type(v1) is ReceiptReceived
    assert v1.answered_hash is None
    assert v2.answered_hash == v2.answers.record_hash
    with pytest.raises(ContractError, match="record_hash"):
        decode("cn.silian.receipt.received.v2", json.dumps(data).encode())
    with pytest.raises(ContractError, match="record_hash"):  # v1 is untouched: no hash field
        decode(
            "cn.silian.receipt.received.v1",
            json.dumps({**data, "answers": v2.answers.model_dump(mode="json")}).encode(),
        )


def test_rejected_receipt_has_a_reason() -> None:
    data = _data("receipt.rejected")
    with pytest.raises(ContractError, match="reason"):
        _decode("receipt.rejected", {**data, "reason": "bored"})
