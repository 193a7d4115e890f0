"""Steps 8–10 of the pipeline, each on its own: the contract and the permission in force
(8), the decoded event that must agree with its signed headers (9), its lifecycle (10)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bus.envelope.headers import CONTENT_TYPE_SEALED
from bus.errors import RecordRejectedError
from bus.pipeline import (
    Decoded,
    VerifiedRecord,
    authorise,
    check_json_depth,
    decode,
    event_spec,
    judge_lifecycle,
    verify_record,
)
from bus.reasons import Reason
from contracts import examples
from contracts.base import EventModel, Family
from contracts.lifecycle import LifecycleTracker
from contracts.registry import REGISTRY, encode, spec_for_model
from contracts.topics import family_topic
from contracts.vocab import Handling, HandlingCode, Tlp
from tests.unit.histories import (
    GUANGFENG,
    JIANGSHAN,
    PUCHENG,
    T_CHANGE,
    Federation,
    build_federation,
)
from tests.unit.records import MEETING, signed

STORY = examples.example_story()
ISSUED = next(e for _, e in STORY if e.event_type == "alert.issued")  # declares H1/TLP:AMBER
HIT = next(e for _, e in STORY if e.event_type == "alert.hit")
DISPUTE = next(e for _, e in STORY if e.event_type == "dispute.reported")
CASE_OPENED = next(e for _, e in STORY if e.event_type == "case.opened")
CASE_NOTE = next(e for _, e in STORY if e.event_type == "case.note")
# the sanshan federation: stations (police) and partner bodies
STATION, COURT, BUREAU = "330881510000", "330881610000", "330881620000"


def _refused(
    reason: Reason, run: Callable[..., object], *args: object, **kwargs: object
) -> RecordRejectedError:
    with pytest.raises(RecordRejectedError) as caught:
        run(*args, **kwargs)
    assert caught.value.reason is reason, caught.value
    return caught.value


def _verified(fed: Federation, event: EventModel | None = None, **kwargs: object) -> VerifiedRecord:
    return verify_record(signed(fed, event, **kwargs), fed.agreements)  # type: ignore[arg-type]


@pytest.fixture
def sanshan(tmp_path: Path) -> Federation:
    return build_federation(tmp_path, template_name="sanshan")


# -- step 8: the contract of ce_type --------------------------------------------------------


def test_the_contract_of_the_records_type(federation: Federation) -> None:
    verified = _verified(federation, ISSUED)
    assert event_spec(verified) is REGISTRY.spec_for_type("cn.silian.alert.issued.v1")


@pytest.mark.parametrize(
    "ce_type",
    ["cn.silian.alert.vanished.v1", "cn.silian.alert.issued.v2", "cn.silian.gossip.said.v1"],
)
def test_a_well_formed_type_the_contracts_do_not_know(federation: Federation, ce_type: str) -> None:
    verified = _verified(federation, ISSUED, type=ce_type)
    error = _refused(Reason.UNKNOWN_TYPE, event_spec, verified)
    assert error.detail == f"event type {ce_type} is not in the contracts"


def test_a_dataschema_of_another_event_is_not_this_event(federation: Federation) -> None:
    # found by tests/fuzz: a signed alert naming another schema was delivered
    verified = _verified(federation, ISSUED, dataschema="urn:silian:schema:alert.hit.v1")
    error = _refused(Reason.SCHEMA_INVALID, event_spec, verified)
    assert error.detail == (
        "ce_dataschema 'urn:silian:schema:alert.hit.v1' is not the schema of "
        "cn.silian.alert.issued.v1 (urn:silian:schema:alert.issued.v1)"
    )


# -- step 8: the permission in force at ce_time ---------------------------------------------


def test_a_member_may_publish_and_another_read(federation: Federation) -> None:
    verified = _verified(federation, ISSUED)
    spec = event_spec(verified)
    handling = authorise(federation.agreements, verified, spec, reader=PUCHENG)
    assert handling == Handling(code=HandlingCode.H1, tlp=Tlp.AMBER)  # ce_handling's
    assert authorise(federation.agreements, verified, spec) == handling  # no reader: audit


def test_a_partner_never_publishes_intelligence(sanshan: Federation) -> None:
    verified = _verified(sanshan, ISSUED, agency=COURT)
    error = _refused(
        Reason.NOT_PERMITTED, authorise, sanshan.agreements, verified, event_spec(verified)
    )
    assert error.detail.startswith("publisher: ")


def test_a_partner_never_reads_intelligence(sanshan: Federation) -> None:
    verified = _verified(sanshan, ISSUED, agency=STATION)
    spec = event_spec(verified)
    assert authorise(sanshan.agreements, verified, spec, reader=STATION)
    error = _refused(
        Reason.NOT_PERMITTED, authorise, sanshan.agreements, verified, spec, reader=COURT
    )
    assert error.detail.startswith("reader: ")


def test_a_partner_publishes_disputes_up_to_its_handling_code(sanshan: Federation) -> None:
    low = _verified(sanshan, DISPUTE, agency=COURT, handling="H1/TLP:GREEN")
    assert (
        authorise(sanshan.agreements, low, event_spec(low), reader=BUREAU).code is HandlingCode.H1
    )
    high = _verified(sanshan, DISPUTE, agency=COURT, handling="H2/TLP:AMBER")
    error = _refused(Reason.NOT_PERMITTED, authorise, sanshan.agreements, high, event_spec(high))
    assert error.detail.startswith("publisher: ")
    # a station may publish it, but a partner may not read it
    station = _verified(sanshan, DISPUTE, agency=STATION, handling="H2/TLP:AMBER")
    spec = event_spec(station)
    _refused(Reason.NOT_PERMITTED, authorise, sanshan.agreements, station, spec, reader=BUREAU)


def test_a_reader_outside_the_agreement_is_not_a_member(sanshan: Federation) -> None:
    verified = _verified(sanshan, MEETING, agency=STATION)
    spec = event_spec(verified)
    _refused(Reason.NOT_A_MEMBER, authorise, sanshan.agreements, verified, spec, reader=GUANGFENG)


def test_the_permission_is_the_one_in_force_at_the_records_time(tmp_path: Path) -> None:
    fed = build_federation(tmp_path, late_member=GUANGFENG)  # joins at T_CHANGE
    before = _verified(fed, MEETING, at=T_CHANGE - timedelta(minutes=1))
    _refused(
        Reason.NOT_A_MEMBER, authorise, fed.agreements, before, event_spec(before), reader=GUANGFENG
    )
    after = _verified(fed, MEETING, at=T_CHANGE + timedelta(minutes=1))
    assert authorise(fed.agreements, after, event_spec(after), reader=GUANGFENG)


# -- step 9: depth, before any parser recurses ----------------------------------------------


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_the_depth_limit_is_inclusive() -> None:
    assert check_json_depth(_nested(32), 32) is None
    assert check_json_depth(b'{"a": [1, {"b": "[[[[[["}]}', 3) is None  # brackets in text
    error = _refused(Reason.TOO_DEEP, check_json_depth, _nested(33), 32)
    assert error.detail == "the value nests arrays and objects deeper than 32 levels"
    error = _refused(Reason.TOO_DEEP, check_json_depth, b'{"a": {"b": []}}', 2, what="it")
    assert error.detail == "it nests arrays and objects deeper than 2 levels"


def test_an_unbalanced_flood_of_brackets_is_too_deep_not_a_crash() -> None:
    _refused(Reason.TOO_DEEP, check_json_depth, b"[" * 1_000_000, 32)


# -- step 9: decode -------------------------------------------------------------------------


def _decoded(verified: VerifiedRecord, *, depth: int = 32, unseal: object = None) -> Decoded | None:
    return decode(
        verified,
        event_spec(verified),
        federation="jpg",
        depth=depth,
        unseal=unseal,  # type: ignore[arg-type]
    )


def _decode(
    verified: VerifiedRecord, *, depth: int = 32, unseal: object = None
) -> EventModel | None:
    decoded = _decoded(verified, depth=depth, unseal=unseal)
    return None if decoded is None else decoded.event


def test_the_event_the_record_carries(federation: Federation) -> None:
    event = _decode(_verified(federation, ISSUED))
    assert event == ISSUED
    assert type(event) is type(ISSUED)


def test_the_events_bytes_are_the_values_own(federation: Federation) -> None:
    value = json.dumps(json.loads(encode(ISSUED)), indent=2).encode()  # not silian's encoding
    decoded = _decoded(_verified(federation, ISSUED, value=value))
    assert decoded is not None
    assert decoded.event == ISSUED
    assert decoded.data == value


@pytest.mark.parametrize(
    ("value", "reason", "words"),
    [
        (b'{"alert_id": ', Reason.NOT_JSON, "the value is not JSON"),
        (b"\xff\xfe", Reason.NOT_JSON, "the value is not JSON"),
        (_nested(33), Reason.TOO_DEEP, "the value nests arrays and objects deeper than 32"),
        (b"[" * 100_000, Reason.TOO_DEEP, "deeper than 32"),
        (b'{"alert_id": "JS-ALERT-2024-0117"}', Reason.SCHEMA_INVALID, ""),
        (b"[]", Reason.SCHEMA_INVALID, ""),
        (b"null", Reason.SCHEMA_INVALID, ""),
    ],
    ids=["cut", "not-utf8", "deep", "flood", "missing-fields", "array", "null"],
)
def test_a_value_that_is_not_the_event(
    federation: Federation, value: bytes, reason: Reason, words: str
) -> None:
    error = _refused(reason, _decode, _verified(federation, ISSUED, value=value))
    assert words in error.detail
    assert error.signer is None  # the caller knows the signer; decode does not guess


def test_the_depth_limit_is_the_callers(federation: Federation) -> None:
    verified = _verified(federation, ISSUED)
    _refused(Reason.TOO_DEEP, _decode, verified, depth=1)
    assert _decode(verified, depth=500) == ISSUED


def test_the_subject_and_the_key_must_be_the_entity(federation: Federation) -> None:
    other = _verified(federation, ISSUED, subject="JS-ALERT-2024-9999")
    error = _refused(Reason.SCHEMA_INVALID, _decode, other)
    assert "must equal the event's entity id JS-ALERT-2024-0117" in error.detail
    keyed = _verified(federation, ISSUED, key=b"JS-ALERT-2024-9999")
    _refused(Reason.SCHEMA_INVALID, _decode, keyed)
    keyless = _verified(federation, ISSUED, key=b"")
    _refused(Reason.SCHEMA_INVALID, _decode, keyless)


def test_the_topic_must_be_the_one_the_contract_derives(federation: Federation) -> None:
    wrong = family_topic("jpg", Family.PATROL)
    error = _refused(Reason.SCHEMA_INVALID, _decode, _verified(federation, ISSUED, topic=wrong))
    right = spec_for_model(ISSUED).topic("jpg", ISSUED)
    assert error.detail == f"cn.silian.alert.issued.v1 belongs on {right}, not {wrong}"
    # another federation's topic: the record cannot be moved between federations
    elsewhere = right.replace(".jpg.", ".sanshan.")
    _refused(Reason.SCHEMA_INVALID, _decode, _verified(federation, ISSUED, topic=elsewhere))


def test_a_declared_handling_must_equal_the_signed_one(federation: Federation) -> None:
    relabelled = _verified(federation, ISSUED, handling="H1/TLP:GREEN")  # it declares AMBER
    error = _refused(Reason.SCHEMA_INVALID, _decode, relabelled)
    assert error.detail == "ce_handling differs from the event's own handling"
    # an event that declares none takes the signed one as it is
    assert HIT.declared_handling() is None
    assert _decode(_verified(federation, HIT, agency=PUCHENG, handling="H2/TLP:RED")) == HIT


# -- step 9: a sealed value ------------------------------------------------------------------


def _sealed(fed: Federation) -> VerifiedRecord:
    return _verified(
        fed,
        ISSUED,
        content_type=CONTENT_TYPE_SEALED,
        value=b'{"v": 1, "opaque": "to anyone without a key"}',
    )


def test_an_auditor_judges_a_sealed_value_by_its_signature_alone(federation: Federation) -> None:
    assert _decode(_sealed(federation), unseal=None) is None


def test_a_reader_decodes_what_its_key_opens(federation: Federation) -> None:
    verified = _sealed(federation)
    opened: list[VerifiedRecord] = []

    def unseal(record: VerifiedRecord) -> bytes:
        opened.append(record)
        return encode(ISSUED)

    assert _decoded(verified, unseal=unseal) == (ISSUED, encode(ISSUED))  # the plaintext
    assert opened == [verified]
    # what it opens is judged like any value: the contract, the subject, the handling
    _refused(Reason.SCHEMA_INVALID, _decode, verified, unseal=lambda _: b"{}")
    _refused(Reason.NOT_JSON, _decode, verified, unseal=lambda _: b"{")
    _refused(Reason.TOO_DEEP, _decode, verified, unseal=lambda _: _nested(40))


def test_a_deep_seal_is_refused_before_it_is_opened(federation: Federation) -> None:
    verified = _verified(federation, ISSUED, content_type=CONTENT_TYPE_SEALED, value=_nested(33))

    def unseal(record: VerifiedRecord) -> bytes:
        raise AssertionError("a seal nested too deep must not be opened")

    error = _refused(Reason.TOO_DEEP, _decode, verified, unseal=unseal)
    assert error.detail.startswith("the sealed value nests")


def test_a_seal_that_does_not_open_is_the_unsealers_refusal(federation: Federation) -> None:
    def unseal(record: VerifiedRecord) -> bytes:
        raise RecordRejectedError(Reason.SEALED_NOT_FOR_US, "not ours")

    error = _refused(Reason.SEALED_NOT_FOR_US, _decode, _sealed(federation), unseal=unseal)
    assert error.detail == "not ours"


# -- step 10: lifecycle ---------------------------------------------------------------------


def test_an_event_that_makes_sense_is_judged_not_recorded() -> None:
    tracker = LifecycleTracker()
    assert judge_lifecycle(tracker, ISSUED, publisher=JIANGSHAN) is None
    assert judge_lifecycle(tracker, ISSUED, publisher=JIANGSHAN) is None  # not applied
    assert tracker.alert_issuer(ISSUED.entity_id()) is None


def test_an_event_that_makes_no_sense_after_what_came_before() -> None:
    tracker = LifecycleTracker()
    error = _refused(Reason.LIFECYCLE, judge_lifecycle, tracker, HIT, publisher=PUCHENG)
    assert "unknown alert JS-ALERT-2024-0117" in error.detail
    tracker.apply(ISSUED, publisher=JIANGSHAN)
    assert judge_lifecycle(tracker, HIT, publisher=PUCHENG) is None
    _refused(Reason.LIFECYCLE, judge_lifecycle, tracker, ISSUED, publisher=JIANGSHAN)  # twice


def test_posting_to_a_case_one_has_not_joined_is_not_being_a_member() -> None:
    tracker = LifecycleTracker()
    tracker.apply(CASE_OPENED, publisher=JIANGSHAN)  # invites Pucheng and Guangfeng
    assert judge_lifecycle(tracker, CASE_NOTE, publisher=JIANGSHAN) is None  # the lead
    error = _refused(Reason.NOT_A_MEMBER, judge_lifecycle, tracker, CASE_NOTE, publisher=GUANGFENG)
    assert f"{GUANGFENG} is not a member of" in error.detail
