"""One line per event, as a liaison officer reads it (``silian watch`` and the demo).

::

    09:00:05 +08:00  江山市公安局  预警发布 alert.issued  JS-ALERT-2024-0117 浙H·12345 …
        ✔ 已验证 verified  待回复 pending: 浦城县公安局, 上饶市公安局广丰分局

(one line on the terminal; wrapped here).

Text for people (local time, Chinese names first); :func:`result_json` gives the same
facts for programs (RFC 3339 times with the +08:00 offset, codes next to names). Names
come from :func:`directory_of` the command's bus: the shipped directory and every member
the agreement declares, so a station only the agreement knows is named as it says.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from agencies.identity import DIRECTORY, Directory
from bus.node.bus import Bus
from bus.node.results import Outcome, Result
from contracts.base import EventModel
from contracts.receipts import ReceiptHandled, ReceiptReceived, ReceiptRejected
from contracts.registry import CE_TYPE_PREFIX
from contracts.vocab import FEDERATION_TZ

__all__ = [
    "EVENT_LABELS",
    "agency_name",
    "directory_of",
    "event_label",
    "event_type_of",
    "local_time",
    "render_line",
    "result_json",
    "summary",
]

# The Chinese name officers use for each event type (as in the contracts' docstrings).
EVENT_LABELS: dict[str, str] = {
    "alert.issued": "预警发布",
    "alert.updated": "预警更新",
    "alert.hit": "预警命中",
    "alert.extended": "预警延期",
    "alert.cancelled": "预警撤销",
    "case.opened": "立案协查",
    "case.member_invited": "邀请协办",
    "case.member_joined": "加入协办",
    "case.member_left": "退出协办",
    "case.lead_shared": "线索共享",
    "case.evidence_shared": "证据共享",
    "case.task_assigned": "任务指派",
    "case.task_completed": "任务完成",
    "case.note": "案件备注",
    "case.closed": "结案",
    "dispute.reported": "纠纷上报",
    "dispute.lead_agreed": "确定牵头单位",
    "dispute.mediation_scheduled": "联合调解安排",
    "dispute.mediation_held": "联合调解",
    "dispute.settled": "调解协议签订",
    "dispute.followed_up": "回访",
    "dispute.escalated": "移交",
    "dispute.closed": "结案",
    "patrol.planned": "联合巡逻计划",
    "patrol.reported": "巡逻报告",
    "liaison.meeting": "联席会议",
    "liaison.contact_updated": "联络员变更",
    "receipt.received": "已签收",
    "receipt.handled": "已处理",
    "receipt.rejected": "拒收",
    "receipt.released": "放行",
}

# Fields that say in words what an event is about, most telling first.
_SUMMARY_FIELDS = (
    "summary",
    "reason",
    "text",
    "result",
    "description",
    "action_taken",
    "agreement_text",
    "note",
    "contact",
    "custody_note",
    "route",
    "justification",
)
_SUMMARY_MAX = 60


def directory_of(bus: Bus) -> Directory:
    """The shipped directory with the members of every version of ``bus``'s agreement."""
    versions = bus.context.agreements.versions
    return DIRECTORY.with_members(m for version in versions for m in version.members)


def agency_name(code: str | None, directory: Directory = DIRECTORY) -> str:
    """江山市公安局 for a known code, the code itself otherwise, ``?`` when unknown."""
    return "?" if code is None else directory.name(code)


def event_type_of(ce_type: str | None) -> str | None:
    """``cn.silian.alert.issued.v1`` → ``alert.issued``."""
    if ce_type is None:
        return None
    bare = ce_type.removeprefix(CE_TYPE_PREFIX)
    name, _, version = bare.rpartition(".v")
    return name if name and version.isdigit() else bare


def event_label(ce_type: str | None) -> str:
    """``预警发布 alert.issued``; ``?`` for a record whose type could not be read."""
    event_type = event_type_of(ce_type)
    if event_type is None:
        return "?"
    label = EVENT_LABELS.get(event_type)
    return f"{label} {event_type}" if label else event_type


def local_time(moment: datetime) -> datetime:
    return moment.astimezone(FEDERATION_TZ)


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SUMMARY_MAX else flat[: _SUMMARY_MAX - 1] + "…"


def summary(event: EventModel) -> str:
    """A short description from the event's own fields: entity id, then its words."""
    if isinstance(event, ReceiptReceived | ReceiptHandled | ReceiptRejected):
        answered = event_label(event.answers.ce_type)
        words = getattr(event, "action", None) or getattr(event, "detail", None) or ""
        short = event.answers.ce_id[-8:]  # UUIDv7: the tail tells events apart, not the head
        return _clip(f"回复 answers {answered} …{short} {words}".strip())
    parts = [event.entity_id()]
    subject = getattr(event, "subject", None)
    if subject is not None:  # an alert's subject: plate, name or description
        plate = getattr(subject, "plate", None)
        name = getattr(subject, "name", None)
        parts.append(plate or getattr(name, "zh", None) or subject.description)
    title = getattr(event, "title", None)
    if title is not None:
        parts.append(title.zh)
    for field in _SUMMARY_FIELDS:
        value = getattr(event, field, None)
        if isinstance(value, str) and value:
            parts.append(value)
            break
    return _clip(" ".join(parts))


def _mark(result: Result) -> str:
    if result.outcome is Outcome.QUARANTINED:
        reason = result.reason.value if result.reason is not None else "?"
        return f"✘ 隔离 quarantined: {reason}"
    return "✔ 已验证 verified"


def render_line(result: Result, *, pending: Sequence[str], directory: Directory = DIRECTORY) -> str:
    """One line: time, agency, event, summary, verification mark, who has not answered."""
    when = "--:--:--" if result.time is None else local_time(result.time)
    clock = when if isinstance(when, str) else f"{when:%H:%M:%S} {when.isoformat()[-6:]}"
    if result.event is not None:
        about = summary(result.event)
    elif result.detail:
        about = _clip(result.detail)
    else:
        about = ""
    name = agency_name(result.source, directory)
    columns = [clock, name, event_label(result.ce_type), about]
    columns.append(_mark(result))
    if pending:
        names = ", ".join(agency_name(c, directory) for c in pending)
        columns.append("待回复 pending: " + names)
    return "  ".join(c for c in columns if c)


def result_json(
    result: Result, *, pending: Sequence[str] = (), directory: Directory = DIRECTORY
) -> dict[str, Any]:
    """The facts of :func:`render_line` for programs (one JSON Lines object)."""
    event = result.event
    answers = None
    if isinstance(event, ReceiptReceived | ReceiptHandled | ReceiptRejected):
        answers = event.answers.model_dump(mode="json")
    return {
        "time": None if result.time is None else local_time(result.time).isoformat(),
        "agency": result.source,
        "agency_name": None if result.source is None else agency_name(result.source, directory),
        "ce_type": result.ce_type,
        "event_type": event_type_of(result.ce_type),
        "event_label": EVENT_LABELS.get(event_type_of(result.ce_type) or ""),
        "event_id": result.event_id,
        "subject": None if event is None else event.entity_id(),
        "summary": None if event is None else summary(event),
        "verified": result.outcome is not Outcome.QUARANTINED,
        "outcome": result.outcome.value,
        "reason": None if result.reason is None else result.reason.value,
        "detail": result.detail,
        "answers": answers,
        "pending": list(pending),
        "pending_names": [agency_name(c, directory) for c in pending],
        "coordinates": {
            "topic": result.coordinates.topic,
            "partition": result.coordinates.partition,
            "offset": result.coordinates.offset,
        },
    }
