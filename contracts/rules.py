"""The lifecycle rules by their stable ids: what code decides on (``LifecycleError.rule``).

The judging itself is :class:`contracts.lifecycle.LifecycleTracker`'s; here is only the
vocabulary, so that the errors module can name it without importing the tracker.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType

__all__ = ["LIFECYCLE_RULES", "Rule"]

_RULES = {
    "alert.issued_first": "an alert must be issued before it is updated, hit, extended "
    "or cancelled",
    "alert.issued_once": "an alert id is issued only once",
    "alert.issuer_only": "only the issuing agency updates, extends or cancels its alert",
    "alert.no_update_after_cancel": "a cancelled alert cannot be updated",
    "alert.no_hit_after_cancel": "no hit may be reported on a cancelled alert",
    "alert.no_extend_after_cancel": "a cancelled alert cannot be extended",
    "alert.cancelled_once": "an alert is cancelled only once",
    "case.opened_first": "a case must be opened before anything else happens in it",
    "case.opened_once": "a case id is opened only once",
    "case.lead_opens": "the agency that opens a case must be the lead it names",
    "case.lead_only_invites": "only the lead agency invites members",
    "case.lead_only_closes": "only the lead agency closes the case",
    "case.invited_only_join": "only an invited agency can join a case",
    "case.join_as_self": "an agency joins a case for itself only",
    "case.members_only": "only members (the lead and agencies that joined) post leads, "
    "evidence, tasks and notes",
    "case.leave_self_or_lead": "a member leaves by itself or is removed by the lead",
    "case.lead_cannot_leave": "the lead agency cannot leave its own case; it closes it",
    "case.task_to_member": "tasks are assigned to members of the case",
    "case.task_assigned_first": "a task must be assigned before it is completed",
    "case.assignee_completes": "only the agency a task is assigned to completes it",
    "case.nothing_after_close": "nothing happens in a case after it is closed",
    "dispute.reported_first": "a dispute must be reported before anything else happens in it",
    "dispute.reported_once": "a dispute id is reported only once",
    "dispute.no_mediation_after_close": "no mediation on a closed dispute",
    "dispute.settled_needs_mediation": "a dispute is settled only after a mediation was held",
    "dispute.followed_up_needs_settled": "a follow-up visit needs a settlement to check",
    "dispute.nothing_after_close": "nothing happens in a dispute after it is closed",
    "patrol.planned_first": "a patrol must be planned before it is reported",
    "patrol.planned_once": "a patrol id is planned only once",
    "patrol.participants_only": "only an agency taking part reports on a patrol",
    "receipt.received_first": "a recipient acknowledges receipt before reporting it handled",
}
LIFECYCLE_RULES = MappingProxyType(_RULES)
"""Every rule: stable id → what it means in plain words."""


class Rule(StrEnum):
    """Every lifecycle rule, by its stable id (``LifecycleError.rule``; equal to the id)."""

    ALERT_ISSUED_FIRST = "alert.issued_first"
    ALERT_ISSUED_ONCE = "alert.issued_once"
    ALERT_ISSUER_ONLY = "alert.issuer_only"
    ALERT_NO_UPDATE_AFTER_CANCEL = "alert.no_update_after_cancel"
    ALERT_NO_HIT_AFTER_CANCEL = "alert.no_hit_after_cancel"
    ALERT_NO_EXTEND_AFTER_CANCEL = "alert.no_extend_after_cancel"
    ALERT_CANCELLED_ONCE = "alert.cancelled_once"
    CASE_OPENED_FIRST = "case.opened_first"
    CASE_OPENED_ONCE = "case.opened_once"
    CASE_LEAD_OPENS = "case.lead_opens"
    CASE_LEAD_ONLY_INVITES = "case.lead_only_invites"
    CASE_LEAD_ONLY_CLOSES = "case.lead_only_closes"
    CASE_INVITED_ONLY_JOIN = "case.invited_only_join"
    CASE_JOIN_AS_SELF = "case.join_as_self"
    CASE_MEMBERS_ONLY = "case.members_only"
    CASE_LEAVE_SELF_OR_LEAD = "case.leave_self_or_lead"
    CASE_LEAD_CANNOT_LEAVE = "case.lead_cannot_leave"
    CASE_TASK_TO_MEMBER = "case.task_to_member"
    CASE_TASK_ASSIGNED_FIRST = "case.task_assigned_first"
    CASE_ASSIGNEE_COMPLETES = "case.assignee_completes"
    CASE_NOTHING_AFTER_CLOSE = "case.nothing_after_close"
    DISPUTE_REPORTED_FIRST = "dispute.reported_first"
    DISPUTE_REPORTED_ONCE = "dispute.reported_once"
    DISPUTE_NO_MEDIATION_AFTER_CLOSE = "dispute.no_mediation_after_close"
    DISPUTE_SETTLED_NEEDS_MEDIATION = "dispute.settled_needs_mediation"
    DISPUTE_FOLLOWED_UP_NEEDS_SETTLED = "dispute.followed_up_needs_settled"
    DISPUTE_NOTHING_AFTER_CLOSE = "dispute.nothing_after_close"
    PATROL_PLANNED_FIRST = "patrol.planned_first"
    PATROL_PLANNED_ONCE = "patrol.planned_once"
    PATROL_PARTICIPANTS_ONLY = "patrol.participants_only"
    RECEIPT_RECEIVED_FIRST = "receipt.received_first"

    @property
    def meaning(self) -> str:
        """What the rule says, in plain words."""
        return _RULES[self.value]

    @property
    def is_membership(self) -> bool:
        """The publisher is not (or not yet) in the case it posts to."""
        return self in (Rule.CASE_MEMBERS_ONLY, Rule.CASE_TASK_TO_MEMBER)

    @property
    def awaits_predecessor(self) -> bool:
        """The event needs one before it (``*_first``), which may be on its way still."""
        return self.value.endswith("_first")
