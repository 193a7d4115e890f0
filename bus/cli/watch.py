"""``silian watch case <id>`` / ``silian watch alerts``: a live view for liaison officers.

One line per event (see :mod:`bus.cli.timeline`): local time, agency, event, summary, a
verification mark and who has not answered yet. Answers come from the receipt topic, so a
receipt prints a line too, showing who is still pending for the event it answers; the
line of the last answer shows nobody pending.

A watcher only observes: a fresh consumer group per run that never commits, and a
throw-away local store, so it never answers, quarantines or disturbs the agency's own
``silian serve``. It replays the topics from the start (lifecycle state and chains need
the history); ``--no-from-beginning`` replays silently and shows only what happens after
it started. ``--no-follow`` exits once it has caught up; a watcher whose reader went away
(``silian watch alerts | head``) stops at its next line, with exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from agencies.identity import Directory
from bus.cli._common import ExitCode, add_json_flag, reader_gone
from bus.cli.timeline import directory_of, render_line, result_json
from bus.envelope.ids import now
from bus.node.agreements import agreement_feed
from bus.node.bus import Bus
from bus.node.consume import Subscription
from bus.node.results import Outcome, Result
from bus.reasons import Reason
from bus.settings import add_bus_arguments, open_bus, settings_from_args
from contracts.base import Family
from contracts.receipts import ReceiptHandled, ReceiptReceived, ReceiptRejected
from contracts.registry import spec_for_model
from contracts.topics import case_topic, family_topic

__all__ = ["Board", "Line", "Watcher", "register"]

# An idle poll this long means a --no-follow watcher has caught up.
_IDLE_S = 0.5
# Reasons after which the real consumer does not move its chain head either.
_NO_ADVANCE = frozenset({Reason.CHAIN_FORK, Reason.DUPLICATE})


def register(sub: Any) -> None:
    watch = sub.add_parser("watch", help="a live one-line-per-event view of a case or of alerts")
    w_sub = watch.add_subparsers(dest="watch_command", metavar="VIEW", required=True)
    case = w_sub.add_parser("case", help="everything in one joint case, and who has answered")
    case.add_argument("case_id", metavar="CASE_ID", help="e.g. JS-CASE-2024-031")
    _options(case)
    case.set_defaults(func=_watch, view="case")
    alerts = w_sub.add_parser("alerts", help="alerts, hits and who has acknowledged them")
    _options(alerts)
    alerts.set_defaults(func=_watch, view="alerts", case_id=None)


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from-beginning",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show the history first (default); --no-from-beginning shows only new events",
    )
    parser.add_argument(
        "--follow",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep watching (default); --no-follow exits after catching up",
    )
    add_bus_arguments(parser)
    add_json_flag(parser)  # JSON Lines: one object per event


Line = tuple[Result, list[str]]
"""A result to show, with who has not answered the event it is or answers."""


def _when(result: Result) -> float:
    return result.time.timestamp() if result.time is not None else float("inf")


class Board:
    """Who has not answered what, from results in whatever order the topics deliver them.

    A receipt read before the event it answers (the receipt topic fetched first) waits, and
    is shown right after that event's line, in time order; a receipt about an event outside
    the view is never shown, nor is a refused record of the receipt topic (it cannot be tied
    to the view before it verifies). Fed the same history, a board shows the same lines.
    """

    def __init__(self, recipients: Callable[[Result], list[str]], *, receipt_topic: str) -> None:
        self._recipients = recipients
        self._receipt_topic = receipt_topic
        self._pending: dict[str, list[str]] = {}  # event id → recipients yet to answer
        self._early: dict[str, list[Result]] = {}  # event id → its answers seen before it

    def add(self, result: Result) -> list[Line]:
        """The lines ``result`` makes shown (none, its own, or its own and waiting answers)."""
        if result.outcome is Outcome.REDELIVERY:
            return []
        event = result.event
        if isinstance(event, ReceiptReceived | ReceiptHandled | ReceiptRejected):
            answered = event.answers.ce_id
            if answered not in self._pending:
                self._early.setdefault(answered, []).append(result)
                return []  # about an event outside this view, or not read yet
            return [self._answer(answered, result)]
        if result.coordinates.topic == self._receipt_topic:
            return []  # refused on the receipt topic: not this view's to show
        if event is None or result.event_id is None or not spec_for_model(event).expects_receipts:
            return [(result, [])]
        pending = self._pending[result.event_id] = self._recipients(result)
        lines: list[Line] = [(result, list(pending))]
        for early in sorted(self._early.pop(result.event_id, []), key=_when):
            lines.append(self._answer(result.event_id, early))
        return lines

    def _answer(self, answered: str, receipt: Result) -> Line:
        pending = self._pending[answered]
        if receipt.source in pending:
            pending.remove(receipt.source)
        return receipt, list(pending)


class Watcher:
    """Observes some topics through a bus and tells, per result, who has not answered."""

    def __init__(self, bus: Bus, *, topics: Sequence[str], group: str | None = None) -> None:
        self._bus = bus
        group = group or f"{bus.agency}.watch.{uuid.uuid4().hex[:12]}"
        self._subscription: Subscription = bus.subscribe(
            observe=True, group=group, topics=list(topics)
        )
        self.board = Board(
            self._recipients, receipt_topic=family_topic(bus.config.federation, Family.RECEIPT)
        )
        self.caught_up = False  # the last poll found nothing new

    async def __aenter__(self) -> Watcher:
        await self._subscription.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._subscription.stop()

    async def poll(self, *, timeout: float = _IDLE_S) -> list[Line]:
        """The next lines to show, in time order within what one poll read."""
        results = await self._subscription.poll(timeout=timeout)
        self.caught_up = not results
        return [line for result in sorted(results, key=_when) for line in self.board.add(result)]

    def _recipients(self, result: Result) -> list[str]:
        """Who must answer the event of ``result``, as its issuer computed it."""
        ctx, event = self._bus.context, result.event
        if event is None or result.time is None:
            return []
        return ctx.recipients(
            event, ctx.handling_of(event), result.time, issuer=result.source or ""
        )


def _topics(args: argparse.Namespace, federation: str) -> list[str]:
    receipts = family_topic(federation, Family.RECEIPT)
    if args.view == "case":
        return [case_topic(federation, args.case_id), receipts]
    return [family_topic(federation, Family.ALERT), receipts]


def _emit(result: Result, pending: list[str], *, as_json: bool, directory: Directory) -> None:
    if as_json:
        facts = result_json(result, pending=pending, directory=directory)
        line = json.dumps(facts, ensure_ascii=False)
    else:
        line = render_line(result, pending=pending, directory=directory)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    started: datetime = now()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        with tempfile.TemporaryDirectory(prefix="silian-watch-") as scratch:
            # A throw-away store: the watcher's lifecycle state and chains start empty and
            # follow the replay; the agency's own store is never touched.
            scratch_settings = dataclasses.replace(settings, state_dir=Path(scratch))
            async with open_bus(scratch_settings) as bus:
                topics = _topics(args, bus.config.federation)
                directory = directory_of(bus)
                # New agreement versions are taken up while watching (nothing is kept of
                # a refused one: a watcher quarantines nothing).
                feed = agreement_feed(bus, role="watch")
                async with feed, Watcher(bus, topics=topics) as watcher:
                    await feed.catch_up()
                    while not stop.is_set():
                        await feed.poll()
                        shown = await watcher.poll()
                        for result, pending in shown:
                            if args.from_beginning or (result.time or started) >= started:
                                _emit(result, pending, as_json=args.json, directory=directory)
                        if reader_gone() or (watcher.caught_up and not args.follow):
                            break  # nobody reads any more (``| head``), or caught up
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return ExitCode.OK


def _watch(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))
