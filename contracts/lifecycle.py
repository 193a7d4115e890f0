"""Lifecycle rules: which event may follow which, and who may publish it.

Usable by publishers (refuse to send nonsense), consumers (quarantine it) and auditors
(point at it). A :class:`LifecycleTracker` keeps, per family and entity id, just enough
state to judge the next event. Rules are looked up by event *type*, not model class, so a
``v2`` model with the same field names is judged by the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from contracts.base import EventModel, Family
from contracts.errors import LifecycleError
from contracts.rules import LIFECYCLE_RULES, Rule

__all__ = ["LIFECYCLE_RULES", "LifecycleTracker", "Rule"]


def _fail(rule: str, detail: str) -> LifecycleError:
    return LifecycleError(f"{Rule(rule).meaning} ({detail}) [rule {rule}]", rule=Rule(rule))


def _get(event: EventModel, name: str) -> Any:
    return getattr(event, name)


@dataclass
class _Alert:
    issuer: str
    cancelled: bool = False


@dataclass
class _Case:
    lead: str
    invited: set[str]
    members: set[str]
    tasks: dict[str, str] = field(default_factory=dict)  # task id -> assignee
    closed: bool = False


@dataclass
class _Dispute:
    mediation_held: bool = False
    settled: bool = False
    closed: bool = False


_Commit = Callable[[], None]
_NOTHING: _Commit = lambda: None  # noqa: E731 - a named no-op commit


class LifecycleTracker:
    """Judges each event against what came before it, per family and entity id."""

    def __init__(self) -> None:
        self._alerts: dict[str, _Alert] = {}
        self._cases: dict[str, _Case] = {}
        self._disputes: dict[str, _Dispute] = {}
        self._patrols: dict[str, frozenset[str]] = {}
        self._received: set[tuple[str, str, str]] = set()

    def check(self, event: EventModel, *, publisher: str) -> None:
        """Raise :class:`LifecycleError` if ``event`` from ``publisher`` breaks a rule."""
        self._judge(event, publisher)

    def apply(self, event: EventModel, *, publisher: str) -> None:
        """Check ``event``, then record it as having happened."""
        self._judge(event, publisher)()

    def case_members(self, case_id: str) -> frozenset[str]:
        """Agencies that may see a case: the lead, those who joined, and those invited."""
        case = self._cases.get(case_id)
        if case is None:
            return frozenset()
        return frozenset({case.lead, *case.members, *case.invited})

    def alert_issuer(self, alert_id: str) -> str | None:
        """The agency that issued an alert, if it is known here."""
        alert = self._alerts.get(alert_id)
        return None if alert is None else alert.issuer

    # The family → its judge: every family the tracker keeps state for.
    _JUDGES: ClassVar[dict[Family, str]] = {
        Family.ALERT: "_alert",
        Family.CASE: "_case",
        Family.DISPUTE: "_dispute",
        Family.PATROL: "_patrol",
        Family.RECEIPT: "_receipt",
    }

    def _judge(self, event: EventModel, publisher: str) -> _Commit:
        judge = self._JUDGES.get(event.family)
        if judge is None:
            return _NOTHING
        commit: _Commit = getattr(self, judge)(event, publisher)
        return commit

    @classmethod
    def judges(cls, family: Family) -> bool:
        """Whether the tracker keeps state for (and judges) events of ``family``."""
        return family in cls._JUDGES

    # -- alerts ----------------------------------------------------------------------
    def _alert(self, event: EventModel, publisher: str) -> _Commit:
        kind, alert_id = event.event_type, event.entity_id()
        state = self._alerts.get(alert_id)
        if kind == "alert.issued":
            if state is not None:
                raise _fail("alert.issued_once", f"alert {alert_id} already issued")
            return lambda: self._alerts.__setitem__(alert_id, _Alert(issuer=publisher))
        if state is None:
            raise _fail("alert.issued_first", f"{kind} for unknown alert {alert_id}")
        after_cancel = {
            "alert.hit": "alert.no_hit_after_cancel",
            "alert.updated": "alert.no_update_after_cancel",
            "alert.extended": "alert.no_extend_after_cancel",
            "alert.cancelled": "alert.cancelled_once",
        }
        if state.cancelled and kind in after_cancel:
            raise _fail(after_cancel[kind], f"alert {alert_id} was cancelled")
        if kind != "alert.hit" and publisher != state.issuer:
            raise _fail(
                "alert.issuer_only", f"{kind} by {publisher}, alert issued by {state.issuer}"
            )
        if kind == "alert.cancelled":
            return lambda: setattr(state, "cancelled", True)
        return _NOTHING

    # -- joint cases -----------------------------------------------------------------
    def _case(self, event: EventModel, publisher: str) -> _Commit:
        kind, case_id = event.event_type, event.entity_id()
        state = self._cases.get(case_id)
        if kind == "case.opened":
            return self._case_opened(event, publisher, case_id, state)
        if state is None:
            raise _fail("case.opened_first", f"{kind} in unknown case {case_id}")
        if state.closed:
            raise _fail("case.nothing_after_close", f"{kind} in closed case {case_id}")
        special = {
            "case.member_invited": self._case_invited,
            "case.member_joined": self._case_joined,
            "case.member_left": self._case_left,
            "case.closed": self._case_closed,
        }.get(kind)
        if special is not None:
            return special(event, publisher, state)
        # lead_shared, evidence_shared, task_assigned, task_completed, note
        if publisher not in state.members:
            raise _fail("case.members_only", f"{publisher} is not a member of {case_id}")
        if kind == "case.task_assigned":
            task_id, assignee = str(_get(event, "task_id")), str(_get(event, "assignee"))
            if assignee not in state.members:
                raise _fail("case.task_to_member", f"{assignee} is not a member of {case_id}")
            return lambda: state.tasks.__setitem__(task_id, assignee)
        if kind == "case.task_completed":
            task_id = str(_get(event, "task_id"))
            if task_id not in state.tasks:
                raise _fail("case.task_assigned_first", f"task {task_id} was never assigned")
            if state.tasks[task_id] != publisher:
                raise _fail(
                    "case.assignee_completes",
                    f"task {task_id} is assigned to {state.tasks[task_id]}, not {publisher}",
                )
        return _NOTHING

    def _case_invited(self, event: EventModel, publisher: str, state: _Case) -> _Commit:
        if publisher != state.lead:
            raise _fail("case.lead_only_invites", f"{publisher} is not the lead")
        agency = str(_get(event, "agency"))
        return lambda: state.invited.add(agency)

    def _case_closed(self, event: EventModel, publisher: str, state: _Case) -> _Commit:
        del event
        if publisher != state.lead:
            raise _fail("case.lead_only_closes", f"{publisher} is not the lead")
        return lambda: setattr(state, "closed", True)

    def _case_opened(
        self, event: EventModel, publisher: str, case_id: str, state: _Case | None
    ) -> _Commit:
        if state is not None:
            raise _fail("case.opened_once", f"case {case_id} already opened")
        lead = str(_get(event, "lead_agency"))
        if lead != publisher:
            raise _fail("case.lead_opens", f"opened by {publisher}, names lead {lead}")
        invited = {str(code) for code in _get(event, "invited")}
        new = _Case(lead=lead, invited=invited, members={lead})
        return lambda: self._cases.__setitem__(case_id, new)

    def _case_joined(self, event: EventModel, publisher: str, state: _Case) -> _Commit:
        agency = str(_get(event, "agency"))
        if agency != publisher:
            raise _fail("case.join_as_self", f"{publisher} published a join for {agency}")
        if agency not in state.invited:
            raise _fail("case.invited_only_join", f"{agency} was not invited")
        return lambda: state.members.add(agency)

    def _case_left(self, event: EventModel, publisher: str, state: _Case) -> _Commit:
        agency = str(_get(event, "agency"))
        if agency == state.lead:
            raise _fail("case.lead_cannot_leave", f"{agency} leads the case")
        if publisher not in (agency, state.lead):
            raise _fail("case.leave_self_or_lead", f"{publisher} removed {agency}")
        if agency not in state.members:
            raise _fail("case.members_only", f"{agency} is not a member")

        def commit() -> None:
            state.members.discard(agency)
            state.invited.discard(agency)

        return commit

    # -- border disputes -------------------------------------------------------------
    def _dispute(self, event: EventModel, publisher: str) -> _Commit:
        del publisher  # partners take part in disputes: no publisher rule yet
        kind, dispute_id = event.event_type, event.entity_id()
        state = self._disputes.get(dispute_id)
        if kind == "dispute.reported":
            if state is not None:
                raise _fail("dispute.reported_once", f"dispute {dispute_id} already reported")
            return lambda: self._disputes.__setitem__(dispute_id, _Dispute())
        if state is None:
            raise _fail("dispute.reported_first", f"{kind} for unknown dispute {dispute_id}")
        if state.closed:
            rule = "dispute.nothing_after_close"
            if kind in ("dispute.mediation_scheduled", "dispute.mediation_held"):
                rule = "dispute.no_mediation_after_close"
            raise _fail(rule, f"{kind} on closed dispute {dispute_id}")
        if kind == "dispute.mediation_held":
            return lambda: setattr(state, "mediation_held", True)
        if kind == "dispute.settled":
            if not state.mediation_held:
                raise _fail("dispute.settled_needs_mediation", f"dispute {dispute_id}")
            return lambda: setattr(state, "settled", True)
        if kind == "dispute.followed_up" and not state.settled:
            raise _fail("dispute.followed_up_needs_settled", f"dispute {dispute_id}")
        if kind == "dispute.closed":
            return lambda: setattr(state, "closed", True)
        return _NOTHING

    # -- patrols and receipts --------------------------------------------------------
    def _patrol(self, event: EventModel, publisher: str) -> _Commit:
        kind, patrol_id = event.event_type, event.entity_id()
        agencies = self._patrols.get(patrol_id)
        if kind == "patrol.planned":
            if agencies is not None:
                raise _fail("patrol.planned_once", f"patrol {patrol_id} already planned")
            planned = frozenset(str(code) for code in _get(event, "agencies"))
            return lambda: self._patrols.__setitem__(patrol_id, planned)
        if agencies is None:
            raise _fail("patrol.planned_first", f"{kind} for unknown patrol {patrol_id}")
        if publisher not in agencies:
            raise _fail("patrol.participants_only", f"{publisher} is not in patrol {patrol_id}")
        return _NOTHING

    def _receipt(self, event: EventModel, publisher: str) -> _Commit:
        answers = _get(event, "answers")
        key = (publisher, str(answers.ce_source), str(answers.ce_id))
        if event.event_type == "receipt.received":
            return lambda: self._received.add(key)
        if event.event_type == "receipt.handled" and key not in self._received:
            raise _fail("receipt.received_first", f"{publisher} on {answers.ce_id}")
        return _NOTHING
