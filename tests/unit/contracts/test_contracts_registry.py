"""The registry: specs, round trips, topics, keys, and v1/v2 side by side."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import Field

from contracts.alerts import AlertIssued
from contracts.base import EventModel, Family
from contracts.errors import ContractError
from contracts.examples import JIANGSHAN, example_events
from contracts.registry import (
    REGISTRY,
    EventRegistry,
    decode,
    encode,
    spec_for_model,
    spec_for_type,
)
from contracts.topics import (
    agreement_topic,
    case_topic,
    checkpoints_topic,
    family_topic,
    family_topics,
    fixed_topics,
    quarantine_topic,
)
from contracts.vocab import EntityId, Text

from .conftest import examples_by_type

EX = examples_by_type()
FED = "silian-tri"


def test_spec_names() -> None:
    spec = spec_for_type("cn.silian.alert.issued.v1")
    assert spec.model is AlertIssued
    assert spec.event_type == "alert.issued"
    assert spec.version == 1
    assert spec.family is Family.ALERT
    assert spec.dataschema == "urn:silian:schema:alert.issued.v1"
    assert spec_for_model(AlertIssued) is spec
    assert spec_for_model(EX["alert.issued"]) is spec
    assert REGISTRY["cn.silian.alert.issued.v1"] is spec
    assert len(REGISTRY) == 34  # 31 types, receipts at v1 and v2
    assert list(REGISTRY) == sorted(REGISTRY)


def test_unknown_type_and_model_are_contract_errors() -> None:
    with pytest.raises(ContractError, match=r"unknown event type 'cn\.silian\.alert\.issued\.v9'"):
        spec_for_type("cn.silian.alert.issued.v9")
    with pytest.raises(ContractError, match="unknown event type"):
        decode("cn.silian.nope.v1", b"{}")

    class Stray(EventModel):
        event_type: ClassVar[str] = "alert.stray"
        family: ClassVar[Family] = Family.ALERT
        key_field: ClassVar[str] = "alert_id"
        alert_id: EntityId = Field(description="编号 / id")

    with pytest.raises(ContractError, match="Stray is not a registered event model"):
        spec_for_model(Stray)


@pytest.mark.parametrize("event", example_events(), ids=lambda e: e.event_type)
def test_encode_decode_round_trip(event: EventModel) -> None:
    spec = spec_for_model(event)
    data = encode(event)
    assert data == event.model_dump_json().encode()
    decoded = decode(spec.ce_type, data)
    assert decoded == event
    assert type(decoded) is type(event)
    assert encode(decoded) == data  # stable bytes


def test_decode_errors_name_the_field_and_hide_pydantic() -> None:
    data = encode(EX["alert.hit"]).replace(b'"350722"', b'"350"')
    with pytest.raises(ContractError, match=r"alert\.hit\.v1: field 'place\.division'"):
        decode("cn.silian.alert.hit.v1", data)
    with pytest.raises(ContractError, match=r"field '\(document\)'"):
        decode("cn.silian.alert.hit.v1", b"not json")
    with pytest.raises(ContractError, match="more"):
        decode("cn.silian.alert.hit.v1", b"{}")


def test_partition_key_is_the_entity_id() -> None:
    keys = {e.event_type: spec_for_model(e).partition_key(e) for e in example_events()}
    assert keys["alert.hit"] == "JS-ALERT-2024-0117"
    assert keys["case.note"] == "JS-CASE-2024-031"
    assert keys["dispute.settled"] == "GF-DSP-2024-012"
    assert keys["patrol.reported"] == "PATROL-2024-W19"
    assert keys["receipt.handled"] == EX["receipt.handled"].answers.ce_id  # type: ignore[attr-defined]
    assert keys["receipt.handled"] == keys["receipt.received"]
    with pytest.raises(ContractError, match="is not a"):
        spec_for_type("cn.silian.alert.hit.v1").partition_key(EX["case.note"])


def test_topics_are_derived() -> None:
    assert spec_for_model(EX["alert.issued"]).topic(FED, EX["alert.issued"]) == (
        "silian.silian-tri.alert.v1"
    )
    assert spec_for_model(EX["case.note"]).topic(FED, EX["case.note"]) == (
        "silian.silian-tri.case.JS-CASE-2024-031"
    )
    assert spec_for_model(EX["receipt.rejected"]).topic(FED, EX["receipt.rejected"]) == (
        "silian.silian-tri.receipt.v1"
    )
    assert agreement_topic(FED) == "silian.silian-tri.agreement"
    assert checkpoints_topic(FED) == "silian.silian-tri.checkpoints"
    assert quarantine_topic(FED, JIANGSHAN) == "silian.silian-tri.quarantine.330881000000"
    assert family_topics(FED) == [
        "silian.silian-tri.alert.v1",
        "silian.silian-tri.dispute.v1",
        "silian.silian-tri.liaison.v1",
        "silian.silian-tri.patrol.v1",
        "silian.silian-tri.receipt.v1",
    ]
    assert set(fixed_topics(FED)) == {
        *family_topics(FED),
        agreement_topic(FED),
        checkpoints_topic(FED),
    }
    assert {spec.topic_pattern for spec in REGISTRY.specs()} >= {
        "silian.{federation}.case.{caseId}",
        "silian.{federation}.alert.v1",
    }


@pytest.mark.parametrize("federation", ["", "A", "Upper", "with.dot", "x" * 40, "-lead"])
def test_bad_federation_is_refused(federation: str) -> None:
    with pytest.raises(ContractError, match="federation"):
        agreement_topic(federation)


def test_bad_topic_parts_are_refused() -> None:
    with pytest.raises(ContractError, match="case id"):
        case_topic(FED, "a/b")
    with pytest.raises(ContractError, match="agency code"):
        quarantine_topic(FED, "3308")
    with pytest.raises(ContractError, match="case_topic"):
        family_topic(FED, Family.CASE)


class AlertIssuedV2(AlertIssued):
    """Throwaway v2: ``reason`` split into a code and free text (incompatible)."""

    version: ClassVar[int] = 2
    reason_code: Text = Field(description="事由代码 / reason code")


def test_v1_and_v2_are_registered_and_readable_side_by_side() -> None:
    registry = EventRegistry([*(spec.model for spec in REGISTRY.specs()), AlertIssuedV2])
    v1 = registry.spec_for_type("cn.silian.alert.issued.v1")
    v2 = registry.spec_for_type("cn.silian.alert.issued.v2")
    assert v1.model is AlertIssued
    assert v2.model is AlertIssuedV2
    assert v2.dataschema == "urn:silian:schema:alert.issued.v2"
    old = EX["alert.issued"]
    new = AlertIssuedV2(**dict(old), reason_code="FRAUD-CASH")
    assert registry.decode(v1.ce_type, encode(old)) == old
    assert registry.decode(v2.ce_type, encode(new)) == new
    with pytest.raises(ContractError, match="reason_code"):
        registry.decode(v2.ce_type, encode(old))  # v1 bytes are not v2
    # both versions share the family topic and key, so one alert stays in order
    assert v2.topic(FED, new) == v1.topic(FED, old)
    assert v2.partition_key(new) == v1.partition_key(old)
    assert "cn.silian.alert.issued.v2" not in REGISTRY  # the default is untouched


def test_registering_twice_or_inconsistently_fails() -> None:
    registry = EventRegistry([AlertIssued])
    with pytest.raises(ContractError, match="already registered"):
        registry.register(AlertIssued)

    class Mislabelled(EventModel):
        event_type: ClassVar[str] = "case.mislabelled"
        family: ClassVar[Family] = Family.ALERT
        key_field: ClassVar[str] = "alert_id"
        alert_id: EntityId = Field(description="编号 / id")

    with pytest.raises(ContractError, match="not of family"):
        registry.register(Mislabelled)

    class NoKey(EventModel):
        event_type: ClassVar[str] = "alert.nokey"
        family: ClassVar[Family] = Family.ALERT
        key_field: ClassVar[str] = "missing"

    with pytest.raises(ContractError, match="key field"):
        registry.register(NoKey)

    class Bare(EventModel):
        pass

    with pytest.raises(ContractError, match="lacks a contract ClassVar"):
        registry.register(Bare)
