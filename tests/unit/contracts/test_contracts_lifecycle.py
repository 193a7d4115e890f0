"""Every lifecycle rule: a path it accepts and a path it refuses, naming the rule."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.base import EventModel
from contracts.errors import ContractError, LifecycleError
from contracts.examples import GUANGFENG, JIANGSHAN, PUCHENG
from contracts.lifecycle import LIFECYCLE_RULES, LifecycleTracker

from .conftest import examples_by_type

EX = examples_by_type()
CHANGSHAN = "330822000000"
Step = tuple[str, EventModel]


def ev(event_type: str, **update: Any) -> EventModel:
    return EX[event_type].model_copy(update=update)


# Prefixes: what must already have happened.
ALERT = [(JIANGSHAN, ev("alert.issued"))]
ALERT_CANCELLED = [*ALERT, (JIANGSHAN, ev("alert.cancelled"))]
CASE = [(JIANGSHAN, ev("case.opened"))]  # lead Jiangshan, Pucheng invited
CASE_PC = [*CASE, (PUCHENG, ev("case.member_joined", agency=PUCHENG))]
CASE_TASK = [*CASE_PC, (JIANGSHAN, ev("case.task_assigned", assignee=PUCHENG))]
CASE_CLOSED = [*CASE, (JIANGSHAN, ev("case.closed"))]
DISPUTE = [(GUANGFENG, ev("dispute.reported"))]
DISPUTE_HELD = [*DISPUTE, (GUANGFENG, ev("dispute.mediation_held"))]
DISPUTE_SETTLED = [*DISPUTE_HELD, (GUANGFENG, ev("dispute.settled"))]
DISPUTE_CLOSED = [*DISPUTE, (GUANGFENG, ev("dispute.closed"))]
PATROL = [(PUCHENG, ev("patrol.planned"))]

# rule id -> (history, refused step, accepted step in the same history)
CASES: dict[str, tuple[list[Step], Step, Step]] = {
    "alert.issued_first": ([], (PUCHENG, ev("alert.hit")), (JIANGSHAN, ev("alert.issued"))),
    "alert.issued_once": (ALERT, (JIANGSHAN, ev("alert.issued")), (PUCHENG, ev("alert.hit"))),
    "alert.issuer_only": (
        ALERT,
        (PUCHENG, ev("alert.cancelled")),
        (JIANGSHAN, ev("alert.cancelled")),
    ),
    "alert.no_hit_after_cancel": (
        ALERT_CANCELLED,
        (PUCHENG, ev("alert.hit")),
        (JIANGSHAN, ev("alert.issued", alert_id="JS-ALERT-NEW")),
    ),
    "alert.no_update_after_cancel": (
        ALERT_CANCELLED,
        (JIANGSHAN, ev("alert.updated")),
        (JIANGSHAN, ev("alert.issued", alert_id="JS-ALERT-2")),
    ),
    "alert.no_extend_after_cancel": (
        ALERT_CANCELLED,
        (JIANGSHAN, ev("alert.extended")),
        (JIANGSHAN, ev("alert.issued", alert_id="JS-ALERT-3")),
    ),
    "alert.cancelled_once": (
        ALERT_CANCELLED,
        (JIANGSHAN, ev("alert.cancelled")),
        (JIANGSHAN, ev("alert.issued", alert_id="JS-ALERT-4")),
    ),
    "case.opened_first": (
        [],
        (JIANGSHAN, ev("case.note")),
        (JIANGSHAN, ev("case.opened")),
    ),
    "case.opened_once": (CASE, (JIANGSHAN, ev("case.opened")), (JIANGSHAN, ev("case.note"))),
    "case.lead_opens": (
        [],
        (PUCHENG, ev("case.opened")),
        (PUCHENG, ev("case.opened", lead_agency=PUCHENG)),
    ),
    "case.lead_only_invites": (
        CASE_PC,
        (PUCHENG, ev("case.member_invited", agency=GUANGFENG)),
        (JIANGSHAN, ev("case.member_invited", agency=GUANGFENG)),
    ),
    "case.lead_only_closes": (
        CASE_PC,
        (PUCHENG, ev("case.closed")),
        (JIANGSHAN, ev("case.closed")),
    ),
    "case.invited_only_join": (
        CASE,
        (GUANGFENG, ev("case.member_joined", agency=GUANGFENG)),
        (PUCHENG, ev("case.member_joined", agency=PUCHENG)),
    ),
    "case.join_as_self": (
        CASE,
        (JIANGSHAN, ev("case.member_joined", agency=PUCHENG)),
        (PUCHENG, ev("case.member_joined", agency=PUCHENG)),
    ),
    "case.members_only": (
        CASE,  # Pucheng is invited but has not joined yet
        (PUCHENG, ev("case.lead_shared")),
        (JIANGSHAN, ev("case.lead_shared")),
    ),
    "case.leave_self_or_lead": (
        [
            *CASE_PC,
            (JIANGSHAN, ev("case.member_invited", agency=GUANGFENG)),
            (GUANGFENG, ev("case.member_joined", agency=GUANGFENG)),
        ],
        (GUANGFENG, ev("case.member_left", agency=PUCHENG)),
        (JIANGSHAN, ev("case.member_left", agency=PUCHENG)),
    ),
    "case.lead_cannot_leave": (
        CASE_PC,
        (JIANGSHAN, ev("case.member_left", agency=JIANGSHAN)),
        (PUCHENG, ev("case.member_left", agency=PUCHENG)),
    ),
    "case.task_to_member": (
        CASE_PC,
        (JIANGSHAN, ev("case.task_assigned", assignee=GUANGFENG)),
        (JIANGSHAN, ev("case.task_assigned", assignee=PUCHENG)),
    ),
    "case.task_assigned_first": (
        CASE_PC,
        (PUCHENG, ev("case.task_completed")),
        (JIANGSHAN, ev("case.task_assigned", assignee=PUCHENG)),
    ),
    "case.assignee_completes": (
        CASE_TASK,
        (JIANGSHAN, ev("case.task_completed")),
        (PUCHENG, ev("case.task_completed")),
    ),
    "case.nothing_after_close": (
        CASE_CLOSED,
        (JIANGSHAN, ev("case.note")),
        (JIANGSHAN, ev("case.opened", case_id="JS-CASE-2024-032")),
    ),
    "dispute.reported_first": (
        [],
        (GUANGFENG, ev("dispute.mediation_held")),
        (GUANGFENG, ev("dispute.reported")),
    ),
    "dispute.reported_once": (
        DISPUTE,
        (GUANGFENG, ev("dispute.reported")),
        (GUANGFENG, ev("dispute.lead_agreed")),
    ),
    "dispute.no_mediation_after_close": (
        DISPUTE_CLOSED,
        (GUANGFENG, ev("dispute.mediation_scheduled")),
        (GUANGFENG, ev("dispute.reported", dispute_id="GF-DSP-2024-013")),
    ),
    "dispute.settled_needs_mediation": (
        DISPUTE,
        (GUANGFENG, ev("dispute.settled")),
        (GUANGFENG, ev("dispute.mediation_held")),
    ),
    "dispute.followed_up_needs_settled": (
        DISPUTE_HELD,
        (JIANGSHAN, ev("dispute.followed_up")),
        (GUANGFENG, ev("dispute.settled")),
    ),
    "dispute.nothing_after_close": (
        DISPUTE_CLOSED,
        (GUANGFENG, ev("dispute.escalated")),
        (GUANGFENG, ev("dispute.reported", dispute_id="GF-DSP-2024-014")),
    ),
    "patrol.planned_first": (
        [],
        (JIANGSHAN, ev("patrol.reported")),
        (PUCHENG, ev("patrol.planned")),
    ),
    "patrol.planned_once": (
        PATROL,
        (PUCHENG, ev("patrol.planned")),
        (JIANGSHAN, ev("patrol.reported")),
    ),
    "patrol.participants_only": (
        PATROL,
        (CHANGSHAN, ev("patrol.reported")),
        (GUANGFENG, ev("patrol.reported")),
    ),
    "receipt.received_first": (
        [],
        (PUCHENG, ev("receipt.handled")),
        (PUCHENG, ev("receipt.received")),
    ),
}


def _tracker(history: list[Step]) -> LifecycleTracker:
    tracker = LifecycleTracker()
    for publisher, event in history:
        tracker.apply(event, publisher=publisher)
    return tracker


def test_every_rule_has_a_test_and_a_plain_message() -> None:
    assert set(CASES) == set(LIFECYCLE_RULES)
    for rule, message in LIFECYCLE_RULES.items():
        assert rule.split(".")[0] in {"alert", "case", "dispute", "patrol", "receipt"}
        assert len(message) > 15


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_refuses_the_bad_path(rule: str) -> None:
    history, (publisher, event), _ = CASES[rule]
    tracker = _tracker(history)
    with pytest.raises(LifecycleError) as caught:
        tracker.check(event, publisher=publisher)
    assert caught.value.rule == rule
    assert LIFECYCLE_RULES[rule] in str(caught.value)
    assert isinstance(caught.value, ContractError)
    with pytest.raises(LifecycleError):  # apply checks too, and a refusal records nothing
        tracker.apply(event, publisher=publisher)
    with pytest.raises(LifecycleError):
        tracker.check(event, publisher=publisher)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_accepts_the_good_path(rule: str) -> None:
    history, _, (publisher, event) = CASES[rule]
    tracker = _tracker(history)
    tracker.check(event, publisher=publisher)
    tracker.apply(event, publisher=publisher)


def test_check_does_not_record() -> None:
    tracker = LifecycleTracker()
    tracker.check(EX["alert.issued"], publisher=JIANGSHAN)
    with pytest.raises(LifecycleError) as caught:
        tracker.check(EX["alert.hit"], publisher=PUCHENG)
    assert caught.value.rule == "alert.issued_first"


def test_the_example_story_is_lifecycle_clean(story: list[Step]) -> None:
    tracker = _tracker(story)
    with pytest.raises(LifecycleError) as caught:  # the story ends with the alert cancelled
        tracker.check(EX["alert.hit"], publisher=GUANGFENG)
    assert caught.value.rule == "alert.no_hit_after_cancel"


def test_rejoin_after_leaving_needs_a_new_invitation() -> None:
    tracker = _tracker([*CASE_PC, (PUCHENG, ev("case.member_left", agency=PUCHENG))])
    with pytest.raises(LifecycleError) as caught:
        tracker.check(ev("case.member_joined", agency=PUCHENG), publisher=PUCHENG)
    assert caught.value.rule == "case.invited_only_join"
    with pytest.raises(LifecycleError) as caught:
        tracker.check(ev("case.note"), publisher=PUCHENG)
    assert caught.value.rule == "case.members_only"


def test_liaison_events_have_no_lifecycle() -> None:
    tracker = LifecycleTracker()
    tracker.apply(EX["liaison.meeting"], publisher=JIANGSHAN)
    tracker.apply(EX["liaison.meeting"], publisher=JIANGSHAN)
