"""``silian status``: this agency's events still waiting for answers (事事有回音).

Per event: local time, type, subject, and per recipient whether it has received, handled,
rejected or not answered; the due time, and OVERDUE once it has passed with a recipient
still open. Read from the agency's local store, which ``silian serve`` keeps current as
receipts arrive.

``--all`` shows the events every recipient answered too. Exit code: 0 when nothing is
overdue, 1 when at least one event is (for cron and alerts).
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agencies.identity import Directory
from bus.cli._common import ExitCode, add_json_flag, emit_json
from bus.cli.timeline import agency_name, directory_of, event_label, local_time
from bus.envelope.ids import now, parse_time
from bus.settings import add_bus_arguments, open_bus, settings_from_args
from bus.state.store import PendingReceipt

__all__ = ["EventStatus", "register"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "status",
        help="events this agency published that still wait for answers (exit 1 if overdue)",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--overdue-only", action="store_true", help="only events past their answer deadline"
    )
    which.add_argument(
        "--all",
        action="store_true",
        help="every event this agency published that asks for answers, answered ones too",
    )
    add_bus_arguments(p)
    add_json_flag(p)
    p.set_defaults(func=_status)


@dataclass(frozen=True, kw_only=True, slots=True)
class EventStatus:
    """One published event and the answers it still waits for."""

    event_id: str
    ce_type: str
    subject: str
    priority: str
    time: datetime | None
    due: datetime
    rows: tuple[PendingReceipt, ...]

    @property
    def open(self) -> tuple[str, ...]:
        return tuple(r.recipient for r in self.rows if r.owed)

    def overdue_at(self, moment: datetime) -> bool:
        # One definition of overdue for status, serve's log and Bus.overdue().
        return any(r.overdue_at(moment) for r in self.rows)


def _state(row: PendingReceipt) -> str:
    if row.rejected is not None:
        return "rejected"
    if row.handled_at is not None:
        return "handled"
    if row.received_at is not None:
        return "received"
    return "no answer"


_STATE_ZH = {
    "handled": "已处理 handled",
    "received": "已签收 received",
    "rejected": "拒收 rejected",
    "no answer": "未回复 no answer",
}


async def _collect(args: argparse.Namespace) -> tuple[list[EventStatus], Directory]:
    settings = settings_from_args(args)
    async with open_bus(settings) as bus:
        directory = directory_of(bus)
        rows = [r for r in await bus.store.receipts() if r.source.endswith(bus.agency)]
        times = {
            e.event_id: e.ce_time for e in await bus.store.ledger() if e.source.endswith(bus.agency)
        }
    grouped: dict[str, list[PendingReceipt]] = {}
    for row in rows:
        grouped.setdefault(row.event_id, []).append(row)
    found = []
    for event_id, group in grouped.items():
        first = group[0]
        stamp = times.get(event_id)
        found.append(
            EventStatus(
                event_id=event_id,
                ce_type=first.ce_type,
                subject=first.subject,
                priority=first.priority,
                time=None if stamp is None else parse_time(stamp),
                due=parse_time(first.due),
                rows=tuple(group),
            )
        )
    return sorted(found, key=lambda s: (s.due, s.event_id)), directory


def _json(status: EventStatus, moment: datetime, directory: Directory) -> dict[str, Any]:
    return {
        "event_id": status.event_id,
        "ce_type": status.ce_type,
        "subject": status.subject,
        "priority": status.priority,
        "time": None if status.time is None else local_time(status.time).isoformat(),
        "due": local_time(status.due).isoformat(),
        "overdue": status.overdue_at(moment),
        "recipients": [
            {
                "agency": r.recipient,
                "agency_name": agency_name(r.recipient, directory),
                "state": _state(r),
                "received_at": r.received_at,
                "handled_at": r.handled_at,
                "rejected": r.rejected,
            }
            for r in status.rows
        ],
        "open": list(status.open),
    }


def _status(args: argparse.Namespace) -> int:
    collected, directory = asyncio.run(_collect(args))
    statuses = collected if args.all else [s for s in collected if s.open]
    moment = now()
    if args.overdue_only:
        statuses = [s for s in statuses if s.overdue_at(moment)]
    overdue = any(s.overdue_at(moment) for s in statuses)
    code = ExitCode.FAILED if overdue else ExitCode.OK
    if args.json:
        emit_json(
            {
                "as_of": local_time(moment).isoformat(),
                "waiting": sum(1 for s in statuses if s.open),
                "answered": sum(1 for s in collected if not s.open),
                "overdue": sum(s.overdue_at(moment) for s in statuses),
                "events": [_json(s, moment, directory) for s in statuses],
            }
        )
        return code
    if not statuses:
        print(_nothing(collected, overdue_only=args.overdue_only))
        return code
    for s in statuses:
        when = "?" if s.time is None else local_time(s.time).isoformat(timespec="seconds")
        mark = "  OVERDUE 已超时" if s.overdue_at(moment) else ""
        if not s.open:
            mark = "  全部回复 all answered"
        print(f"{when}  {event_label(s.ce_type)}  {s.subject}  [{s.priority}]  {s.event_id}")
        print(f"    due {local_time(s.due).isoformat(timespec='seconds')}{mark}")
        for row in s.rows:
            name = agency_name(row.recipient, directory)
            print(f"    {name} ({row.recipient})  {_STATE_ZH[_state(row)]}")
    return code


def _nothing(collected: list[EventStatus], *, overdue_only: bool) -> str:
    """What to say when no event is shown: why, so that silence is never ambiguous."""
    waiting = sum(1 for s in collected if s.open)
    answered = len(collected) - waiting
    if overdue_only:
        return "nothing overdue" + (
            f": {waiting} event(s) still wait for answers, none past its deadline"
            if waiting
            else ""
        )
    if answered:
        return (
            f"nothing awaiting answers: every recipient answered the {answered} event(s) "
            "asking for answers (silian status --all shows them)"
        )
    return "nothing awaiting answers: no event this agency published asks for answers yet"
