"""One agency's adapter service: local system ⇄ mapping ⇄ durable outbox ⇄ bus.

These run side by side until ``stop`` is set (SIGTERM in ``silian agency run``):

* **local → outbox**: new local records are mapped to contract events and stored in the
  durable outbox (:mod:`adapters.outbox`) *before* the local system is told they were
  taken; a record that cannot be mapped is set aside with the reason. This loop never
  needs Kafka.
* **outbox → bus, bus → local**: while the bus is reachable, pending outbox entries are
  published strictly in their order (stopping at the first transport failure, so a later
  event never overtakes an earlier one of the same entity) and inbound events are written
  into the local system, idempotently, answering ``receipt.rejected`` for what it refuses.
  When Kafka is unreachable the loop backs off and tries again; events keep collecting
  in the outbox and drain in order when it returns — across adapter restarts too.
* **broker watch**: a small question to the broker every few seconds, with its own time
  limit (:mod:`adapters._liveness`). The link loop may wait, unbounded, in a call that
  only the broker's return ends (an offset commit waiting for the group coordinator, a
  receipt's acknowledgement); the watch says the bus is unreachable meanwhile.
* **health**: the report (:mod:`adapters.health`) is rewritten every second.

None of these loops ends before ``stop`` for anything a record or a failure can do: what
they did not foresee is logged with its traceback, shown in the report in words, and tried
again with a back-off; a task that ends all the same is named in the report, which then
says ``degraded``, never ``ok``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from adapters._inbound import InboundWriter, StoppingError
from adapters._liveness import BrokerWatch
from adapters._outbound import Outbound
from adapters._runtime import quietly, transport_for, unforeseen
from adapters.base import (
    LocalRecord,
    LocalSystem,
    LocalUnavailableError,
)
from adapters.config import AgencyConfig
from adapters.health import HealthServer, report_every_second, write_report
from adapters.local import open_local_system
from adapters.mapping import Mapping, load_mapping
from adapters.outbox import AdapterState
from bus.envelope.ids import format_time, now, parse_time
from bus.errors import TransportError
from bus.logs import bound_record, get_logger
from bus.node.agreements import AgreementFeed, TakenUp, agreement_feed
from bus.node.bus import Bus
from bus.node.consume import Subscription
from bus.node.rejudge import rejudge_quarantine
from bus.node.results import Outcome, Result
from bus.node.topics import TopicPlan, plan_topics
from bus.transport.base import Transport
from contracts.base import Family
from contracts.registry import REGISTRY
from contracts.topics import family_topic

__all__ = ["AgencyRunner"]

log = get_logger("silian.adapter")

# How often the broker watch asks the broker; each question may take request_timeout_ms,
# so an outage shows in the health report within that plus this (and a report's second).
_WATCH_INTERVAL = 2.0


class AgencyRunner:
    """Runs one agency's adapter; ``transport``/``local`` may be given (demo, tests)."""

    def __init__(
        self,
        config: AgencyConfig,
        *,
        local: LocalSystem | None = None,
        transport: Transport | None = None,
        mapping: Mapping | None = None,
    ) -> None:
        self.config = config
        self.agency = config.agency
        self.mapping = mapping or load_mapping(config.mapping)
        self.local = local or open_local_system(config.local)
        self.state = AdapterState(config.state_dir / "adapter.sqlite")
        self._transport = transport or transport_for(config)
        self._own_transport = transport is None
        self.bus = Bus.from_folders(
            agency=config.agency,
            agreement_dir=config.bus.agreement,
            key_dir=config.bus.keys,
            passphrase=config.bus.passphrase(),
            state_dir=config.state_dir,
            publisher_name=config.bus.publisher,
            transport=self._transport,
        )
        self.federation = self.bus.config.federation
        self._subscription: Subscription | None = None
        self._agreements: AgreementFeed | None = None  # follows the agreement topic
        self._tasks: list[asyncio.Task[None]] = []
        # Set when the link loop met something unforeseen; cleared once a whole round
        # (drain and poll) passes again. Until then the report does not say connected.
        self._link_failure: str | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        # Set once the state is open: from then on health() can answer.
        self.opened = asyncio.Event()
        self._status: dict[str, Any] = {
            "bus": {"connected": False, "since": None, "error": None},
            "local": {"reachable": None, "error": None},
        }
        self._health_server: HealthServer | None = None
        self._watch = BrokerWatch(
            self._ask_broker,
            interval=_WATCH_INTERVAL,
            timeout=config.bus.request_timeout_ms / 1000,
        )
        self._outbound = Outbound(
            state=self.state,
            mapping=self.mapping,
            local=self.local,
            bus=self.bus,
            ack_limit=config.bus.request_timeout_ms / 1000,
            wake=self._wake,
            on_up=self._bus_up,
            on_down=self._bus_down,
        )
        self._inbound = InboundWriter(
            state=self.state,
            mapping=self.mapping,
            local=self.local,
            on_unavailable=self._local_down,
            retry_max_seconds=config.bus.retry_max_seconds,
        )

    # -- lifecycle ---------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then finish the step in hand and close everything."""
        self._stop = stop
        self._inbound.stop = self._outbound.stop = stop
        with bound_record(agency=self.agency):
            await self.state.open()
            self.opened.set()
            await self.bus.start()
            await self.local.start()
            if self.config.health.listen is not None:
                host, port = self.config.health.listen
                self._health_server = HealthServer(host, port, self.health)
                await self._health_server.start()
            log.info(
                "adapter.ready",
                local=self.config.local.kind,
                transport=self.config.bus.transport_label,
                federation=self.federation,
                inbound=self.mapping.inbound_types,
            )
            self._tasks = tasks = [
                asyncio.create_task(self._local_loop(), name="local"),
                asyncio.create_task(self._link_loop(), name="link"),
                asyncio.create_task(self._watch.run(stop), name="watch"),
                asyncio.create_task(
                    report_every_second(
                        self.health, self.config.health_file, self._stop, agency=self.agency
                    ),
                    name="health",
                ),
            ]
            for task in tasks:
                task.add_done_callback(self._task_ended)
            try:
                await stop.wait()
                self._wake.set()
                # Let the step in hand finish (a send waits at most request_timeout_ms).
                grace = self.config.bus.request_timeout_ms / 1000 + 5
                await asyncio.wait(tasks, timeout=grace)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await self._close()
            log.info("adapter.stopped")

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        """A task that ends before ``stop`` is a defect: say so now, not at shutdown."""
        if self._stop.is_set() or task.cancelled():
            return
        error = task.exception()
        log.error("adapter.task_ended", task=task.get_name(), exc_info=error)

    def _tasks_status(self) -> dict[str, str]:
        """Each task: ``running``, or how it ended while the runner was not stopping."""
        status = {}
        for task in self._tasks:
            if not task.done() or self._stop.is_set():
                status[task.get_name()] = "running"
            elif task.cancelled():
                status[task.get_name()] = "ended: cancelled"
            elif (error := task.exception()) is not None:
                status[task.get_name()] = "ended: " + unforeseen("the task", error)
            else:
                status[task.get_name()] = "ended before the adapter was stopped"
        return status

    async def _close(self) -> None:
        if self._health_server is not None:
            await self._health_server.stop()
        with contextlib.suppress(Exception):
            await self._write_health()
        await self._drop_subscription()  # quietly, itself
        await quietly(self.bus.stop())
        if self._own_transport:
            await quietly(self._transport.stop())
        await self.local.stop()
        self.opened.clear()
        await self.state.close()

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when stopping or when new work arrives."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    # -- local → outbox ----------------------------------------------------------------
    async def _local_loop(self) -> None:
        backoff = self.config.poll_seconds
        while not self._stop.is_set():
            records: list[LocalRecord] = []
            try:
                records = await self.local.fetch_outbound()
                for record in records:
                    await self._outbound.take(record)
                self._status["local"] = {"reachable": True, "error": None}
                backoff = self.config.poll_seconds
            except LocalUnavailableError as error:
                self._local_down(str(error))
                backoff = min(backoff * 2, self.config.bus.retry_max_seconds)
            except Exception as error:  # a service logs and keeps going
                log.exception("local.failed")
                self._local_down(unforeseen("reading the local system", error))
                backoff = min(backoff * 2, self.config.bus.retry_max_seconds)
            if not records:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=backoff)

    def _local_down(self, error: str) -> None:
        if self._status["local"].get("reachable") is not False:
            log.warning("local.unreachable", error=error)
        self._status["local"] = {"reachable": False, "error": error}

    # -- outbox → bus, bus → local -----------------------------------------------------
    async def _link_loop(self) -> None:
        """Connect, then drain and poll in rounds; whatever fails, back off and go again."""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                subscription = await self._connect()
                while not self._stop.is_set():
                    await self._outbound.drain()
                    if (await self._feed(subscription)).added:  # a version went live
                        _log_quarantined(
                            list((await rejudge_quarantine(self.bus.context, subscription)).results)
                        )
                    try:
                        results = await subscription.poll(timeout=0.5)
                    except TransportError:
                        # A record may be half done (its receipt not sent): read again
                        # from the committed offsets with a fresh consumer.
                        await self._drop_subscription()
                        raise
                    self._round_passed()
                    backoff = 0.5
                    _log_quarantined(results)
            except StoppingError:  # shutting down while the local system is away
                return
            except TransportError as error:
                self._bus_down(str(error))
                await self._pause(backoff)  # new work to send cuts it short
            except Exception as error:  # noqa: BLE001 - the link must outlive any failure
                # Nothing is known about the consumer's state: start again from the
                # committed offsets with a fresh one.
                await self._drop_subscription()
                self._link_failed(error, retry_in=backoff)
                with contextlib.suppress(TimeoutError):  # only stopping cuts this one short
                    await asyncio.wait_for(self._stop.wait(), timeout=backoff)
            backoff = min(backoff * 2, self.config.bus.retry_max_seconds)

    def _link_failed(self, error: Exception, *, retry_in: float) -> None:
        log.exception("link.failed", retry_in=retry_in)
        self._link_failure = unforeseen("the bus link", error)
        self._status["bus"] = {
            "connected": False,
            "since": format_time(now()),
            "error": f"{self._link_failure}; retrying with a back-off",
        }

    def _round_passed(self) -> None:
        """A whole round of drain and poll passed: the link works (again)."""
        if self._link_failure is not None:
            log.info("link.recovered", after=self._link_failure)
            self._link_failure = None
        self._bus_up()

    async def _drop_subscription(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await quietly(subscription.stop(), timeout=10)
        feed, self._agreements = self._agreements, None
        if feed is not None:
            await quietly(feed.stop(), timeout=10)

    def _bus_up(self) -> None:
        """The broker answered: tell the watch, and say connected if it was not (unless
        the link loop is failing: only a whole round passing clears that)."""
        self._watch.answered()
        if self._link_failure is not None:
            return
        if not self._status["bus"]["connected"]:
            log.info("bus.connected", transport=self.config.bus.transport_label)
            self._status["bus"] = {"connected": True, "since": format_time(now()), "error": None}

    def _bus_down(self, error: str) -> None:
        if self._status["bus"]["connected"] or self._status["bus"]["error"] is None:
            log.warning("bus.unreachable", error=error, transport=self.config.bus.transport_label)
        self._status["bus"] = {"connected": False, "since": format_time(now()), "error": error}

    async def _connect(self) -> Subscription:
        """Start the transport and the subscription (each only once; both idempotent)."""
        await self._transport.start()
        if self.config.bus.provision_topics:
            replication = self.config.bus.replication
            plan = TopicPlan(replication=replication, min_insync_replicas=max(1, replication - 1))
            agreement = self.bus.context.agreements.latest
            await self._transport.ensure_topics(plan_topics(self.federation, agreement, plan))
        if self._subscription is None:
            subscription = self.bus.subscribe(group=self.bus.group_id(self.config.bus.publisher))
            for ce_type in self.mapping.inbound_types:
                subscription.on(REGISTRY.spec_for_type(ce_type).model)(self._inbound.write)
            self._subscription = subscription
        await self._subscription.start()
        # Started clients prove nothing once started (a restart of the loop reuses them):
        # ask the broker something before saying it is connected.
        await self._ask_broker()
        self._bus_up()
        return self._subscription

    async def _feed(self, subscription: Subscription) -> TakenUp:
        """New agreement versions from the agreement topic (the feed made on first use)."""
        if self._agreements is None:
            self._agreements = agreement_feed(self.bus, role="adapter")
            await self._agreements.start()
            return await self._agreements.catch_up()
        return await self._agreements.poll()

    async def _ask_broker(self) -> None:
        """A small question only a reachable broker answers (the watch's and the loop's)."""
        await self._transport.describe_topics([family_topic(self.federation, Family.RECEIPT)])

    # -- health ------------------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        counts = await self.state.counts()
        try:
            local = await self.local.health()
        except Exception as error:  # the report shows it instead
            log.exception("local.health_failed")
            local = {"error": unforeseen("asking the local system for its figures", error)}
        bus, local_status = self._bus_status(), dict(self._status["local"])
        tasks = self._tasks_status()
        ok = bus["connected"] and local_status.get("reachable") is not False
        ok = ok and all(state == "running" for state in tasks.values())
        return {
            "status": "ok" if ok else "degraded",
            "agency": self.agency,
            "federation": self.federation,
            "updated_at": format_time(now()),
            "transport": self.config.bus.transport_label,
            "bus": bus,
            "local": {"kind": self.config.local.kind, **local_status, **local},
            "tasks": tasks,
            **counts,
        }

    def _bus_status(self) -> dict[str, Any]:
        """The link loop's judgement, overruled by the broker watch's silence: the loop may
        be blocked in a call that waits for the broker and not know yet."""
        bus = dict(self._status["bus"])
        if not bus["connected"]:
            return bus
        silence = self._watch.silence()
        if silence is not None:
            return {"connected": False, "since": format_time(silence.since), "error": str(silence)}
        answering = self._watch.answering_since
        if answering is not None and (bus["since"] is None or parse_time(bus["since"]) < answering):
            bus["since"] = format_time(answering)  # connected again after a silence
        return bus

    async def _write_health(self) -> None:
        report = await self.health()
        await asyncio.to_thread(write_report, self.config.health_file, report)


def _log_quarantined(results: list[Result]) -> None:
    for result in results:
        if result.outcome is Outcome.QUARANTINED:
            log.warning(
                "inbound.quarantined",
                event_id=result.event_id,
                topic=result.coordinates.topic,
                reason=None if result.reason is None else result.reason.value,
                detail=result.detail,
            )
