"""``silian serve``: one agency's long-running bus service.

Subscribes to every topic the agreement lets the agency read (and the joint cases it is a
member of), answers receipts, logs each result through structlog (JSON lines when not on
a terminal) and stops cleanly on SIGTERM or SIGINT (exit 0).

Every delivered event is recorded in ``<state>/<agency>/effects.sqlite``, table
``effects``, keyed on (ce_source, ce_id) with INSERT OR IGNORE: at-least-once delivery,
exactly-once effects. ``--handle-log FILE`` also appends one JSON line per handler call,
so a test can tell "handled twice" from "applied twice".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

from bus.cli._common import ExitCode
from bus.cli.audit import add_service_arguments, service_config
from bus.envelope.ids import format_time, now
from bus.logs import get_logger
from bus.node.agreements import agreement_feed, folder_versions
from bus.node.bus import Bus
from bus.node.consume import Subscription
from bus.node.metrics import OperatorServer, ServeMetrics
from bus.node.rejudge import rejudge_quarantine
from bus.node.results import Delivery, Outcome, Result
from bus.node.services import run_audit_services
from bus.node.topics import ReadUntil
from bus.settings import add_bus_arguments, listen_address, open_bus, settings_from_args
from bus.state.private import open_private
from bus.state.sqlite import Layout, SqliteStore
from contracts.base import EventModel
from contracts.registry import REGISTRY
from contracts.topics import TOPIC_PREFIX

__all__ = ["Effects", "register"]

log = get_logger("silian.serve")

_EFFECTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS effects (
    ce_source TEXT NOT NULL, ce_id TEXT NOT NULL, ce_type TEXT NOT NULL, subject TEXT NOT NULL,
    ce_time TEXT NOT NULL, applied_at TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (ce_source, ce_id));
"""
_EFFECTS = Layout(schema=_EFFECTS_SCHEMA)  # one `silian serve` per agency uses this file


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve", help="run this agency's bus: receive, verify, handle, answer (until SIGTERM)"
    )
    p.add_argument(
        "--handle-log",
        type=Path,
        default=None,
        metavar="FILE",
        help="append one JSON line per handled event (tests count handler calls with it)",
    )
    p.add_argument(
        "--case",
        dest="cases",
        action="append",
        default=[],
        metavar="CASE_ID",
        help="also read this joint case's topic (repeatable; known member cases are read anyway)",
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="process what is there, then exit (for scripts and tests)",
    )
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default=None,
        help="answer GET /livez, /readyz and /metrics (Prometheus) there (default "
        "$SILIAN_LISTEN; none). Unauthenticated: bind loopback or a management network",
    )
    add_bus_arguments(p)
    add_service_arguments(p)  # audit: --log-keeper, --no-witness (bus.node.services)
    # A service's deliveries are its output: logged at INFO unless --log-level says otherwise.
    p.set_defaults(func=_serve, default_log_level="INFO")


class Effects(SqliteStore):
    """The service's side effects: one row per event, however often it is delivered."""

    def __init__(self, path: Path, handle_log: Path | None) -> None:
        super().__init__(
            path, _EFFECTS, not_open="the effects are not open; call `await effects.open()` first"
        )
        self._handle_log = handle_log

    async def _apply(self, delivery: Delivery[EventModel]) -> bool:
        changed = await self._db.change(
            "INSERT OR IGNORE INTO effects (ce_source, ce_id, ce_type, subject, ce_time,"
            " applied_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                f"urn:silian:agency:{delivery.source}",
                delivery.event_id,
                delivery.ce_type,
                delivery.event.entity_id(),
                format_time(delivery.time),
                format_time(now()),
                delivery.event.model_dump_json(),
            ),
        )
        return changed == 1

    def _note(self, delivery: Delivery[EventModel], applied: bool) -> None:
        if self._handle_log is None:
            return
        line = {
            "ce_source": f"urn:silian:agency:{delivery.source}",
            "ce_id": delivery.event_id,
            "ce_type": delivery.ce_type,
            "subject": delivery.event.entity_id(),
            "applied": applied,
        }
        with open_private(self._handle_log, "a") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")

    async def handle(self, delivery: Delivery[EventModel]) -> str:
        applied = await self._apply(delivery)
        await asyncio.to_thread(self._note, delivery, applied)
        return "已登记 recorded" if applied else "已登记 already recorded"

    def attach(self, subscription: Subscription) -> None:
        """Handle every event type the contracts know."""
        for spec in REGISTRY.specs():
            subscription.on(spec.model)(self.handle)


async def _member_cases(bus: Bus) -> list[str]:
    """Joint cases in the agency's ledger that it still belongs to."""
    prefix = f"{TOPIC_PREFIX}.{bus.config.federation}.case."
    cases = {e.subject for e in await bus.store.ledger() if e.topic.startswith(prefix)}
    return sorted(c for c in cases if bus.agency in bus.context.tracker.case_members(c))


def _log_result(result: Result) -> None:
    fields = {
        "outcome": result.outcome.value,
        "ce_type": result.ce_type,
        "event_id": result.event_id,
        "source": result.source,
        "topic": result.coordinates.topic,
        "partition": result.coordinates.partition,
        "offset": result.coordinates.offset,
    }
    if result.outcome is Outcome.QUARANTINED:
        reason = None if result.reason is None else result.reason.value
        log.warning("serve.quarantined", reason=reason, detail=result.detail, **fields)
    elif result.outcome is Outcome.DELIVERED:
        log.info("serve.delivered", handled=result.handled, **fields)
    else:
        log.debug("serve.skipped", **fields)


async def _rejudge(bus: Bus, subscription: Subscription, metrics: ServeMetrics) -> None:
    """Judge again what a new agreement version may cure (bus.node.rejudge)."""
    done = await rejudge_quarantine(bus.context, subscription)
    for result in done.results:
        _log_result(result)
        metrics.result(result)
    log.info(
        "serve.rejudged",
        agency=bus.agency,
        delivered=done.delivered,
        refused=len(done.results) - done.delivered,
        still_curable=done.still_curable,
    )


# How often a running service looks for answers owed past their deadline.
_OVERDUE_EVERY_S = 30.0


def _operator_server(args: argparse.Namespace, metrics: ServeMetrics) -> Any:
    """The HTTP endpoint of ``--listen`` (or ``$SILIAN_LISTEN``), or a context doing nothing."""
    given = args.listen or os.environ.get("SILIAN_LISTEN")
    if not given:
        return contextlib.nullcontext()
    source = "--listen" if args.listen else "$SILIAN_LISTEN"
    host, port = listen_address(given, source=source)
    return OperatorServer(host, port, metrics.respond)


def _measure(bus: Bus, subscription: Subscription, metrics: ServeMetrics) -> Any:
    """What a scrape measures first: lag per partition and the agreement in force (the
    overdue answers are counted where the service looks for them, every 30 s)."""

    async def refresh() -> None:
        metrics.lag.clear()
        for (topic, partition), behind in (await subscription.lag()).items():
            metrics.lag.labels(topic, str(partition)).set(behind)
        metrics.agreement.set(bus.context.agreements.in_force_at(now()).version)

    return refresh


async def _run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    effects = Effects(settings.state_dir / settings.agency / "effects.sqlite", args.handle_log)
    metrics = ServeMetrics()
    try:
        async with (
            _operator_server(args, metrics) as server,
            effects,
            open_bus(settings) as bus,
            contextlib.AsyncExitStack() as stack,
        ):
            if server is not None:
                log.info("serve.listening", port=server.port)
            metrics.set_ready("the agreement verified; waiting for partitions, then catching up")
            bus.publisher.observers.append(metrics.published_one)
            feed = agreement_feed(bus)
            await stack.enter_async_context(feed)
            # Versions published while this service was down are in force before it reads
            # a record; the signed versions of its own folder the topic lacks go on it.
            taken = await feed.catch_up()
            await feed.publish(folder_versions(settings.agreement_dir, bus.context.agreements))
            cases = sorted({*args.cases, *await _member_cases(bus)})
            subscription = bus.subscribe(cases=cases)
            effects.attach(subscription)
            metrics.measure_with(_measure(bus, subscription, metrics))
            # Audit services (bus.node.services) run beside the subscription until the end.
            audit = run_audit_services(
                bus.context, state_dir=bus.config.state_dir, config=service_config(args)
            )
            async with subscription, audit:
                if taken.added:
                    await _rejudge(bus, subscription, metrics)
                log.info(
                    "serve.ready",
                    agency=bus.agency,
                    transport=settings.transport_label,
                    cases=cases,
                )
                next_check = 0.0
                # --once: read what is there (once the group assigned us partitions), stop.
                until = ReadUntil(None, subscription.assignment, once=True, what="serve")
                while not stop.is_set():
                    if loop.time() >= next_check:  # 事事有回音: say what is overdue
                        metrics.overdue.set(len(await bus.overdue()))
                        next_check = loop.time() + _OVERDUE_EVERY_S
                    if (await feed.poll()).added:  # a version went live: it may cure some
                        metrics.agreement.set(bus.context.agreements.in_force_at(now()).version)
                        await _rejudge(bus, subscription, metrics)
                    results = await subscription.poll(timeout=0.5)
                    for result in results:
                        _log_result(result)
                        metrics.result(result)
                    if metrics.not_ready and not results and subscription.assignment():
                        metrics.set_ready(None)  # assigned, and a poll found nothing left
                        log.info("serve.caught_up", agency=bus.agency)
                    if args.once and until.done(len(results)):
                        break
        log.info("serve.stopped", agency=settings.agency)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return ExitCode.OK


def _serve(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))
