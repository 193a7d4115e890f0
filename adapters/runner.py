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
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from adapters._inbound import InboundWriter, StoppingError
from adapters._liveness import BrokerWatch
from adapters._runtime import quietly, transport_for
from adapters.base import (
    BadLocalDataError,
    LocalRecord,
    LocalSystem,
    LocalUnavailableError,
)
from adapters.config import AgencyConfig
from adapters.health import HealthServer, write_report
from adapters.local import open_local_system
from adapters.mapping import Mapping, load_mapping
from adapters.outbox import AdapterState, OutboxEntry
from agencies.folder import AgreementFolder
from agencies.keystore import KeyStore
from bus.envelope.ids import format_time, now, parse_time
from bus.errors import ContractError, LifecycleError, PermissionDeniedError, TransportError
from bus.logs import bound_record, get_logger
from bus.node.bus import Bus, BusConfig
from bus.node.consume import Subscription
from bus.node.publish import Published
from bus.node.results import Outcome
from bus.node.topics import TopicPlan, plan_topics
from bus.transport.base import Transport
from contracts.base import EventModel, Family
from contracts.registry import REGISTRY, encode, spec_for_model
from contracts.topics import family_topic

__all__ = ["AgencyRunner"]

log = get_logger("silian.adapter")

# An event whose predecessor this agency has not seen yet (a hit on an alert still on its
# way) waits this long in the outbox before it is marked failed.
_HOLD_LIMIT = timedelta(hours=1)
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
        folder = AgreementFolder(config.bus.agreement)
        history = folder.history()
        self.federation = history.latest.federation_id
        self.bus = Bus(
            BusConfig(
                agency=config.agency,
                federation=self.federation,
                state_dir=config.state_dir,
                publisher_name=config.bus.publisher,
            ),
            transport=self._transport,
            agreements=history,
            keystore=KeyStore(config.bus.keys, passphrase=config.bus.passphrase()),
        )
        self._subscription: Subscription | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
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
        self._inbound.stop = stop
        with bound_record(agency=self.agency):
            await self.state.open()
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
            tasks = [
                asyncio.create_task(self._local_loop(), name="local"),
                asyncio.create_task(self._link_loop(), name="link"),
                asyncio.create_task(self._watch.run(stop), name="watch"),
                asyncio.create_task(self._health_loop(), name="health"),
            ]
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
                    await self.take(record)
                self._status["local"] = {"reachable": True, "error": None}
                backoff = self.config.poll_seconds
            except LocalUnavailableError as error:
                self._local_down(str(error))
                backoff = min(backoff * 2, self.config.bus.retry_max_seconds)
            except Exception as error:  # a service logs and keeps going
                log.exception("local.failed", error=str(error))
                self._local_down(f"{type(error).__name__}: {error}")
                backoff = min(backoff * 2, self.config.bus.retry_max_seconds)
            if not records:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=backoff)

    def _local_down(self, error: str) -> None:
        if self._status["local"].get("reachable") is not False:
            log.warning("local.unreachable", error=error)
        self._status["local"] = {"reachable": False, "error": error}

    async def take(self, record: LocalRecord) -> None:
        """Map ``record``, store it durably, then let the local system move past it."""
        with bound_record(local_id=record.local_id):
            known = await self.state.knows(record.local_id)
            if known:  # stored before a crash, not yet confirmed: confirm it now
                await self.local.confirm_outbound(record)
                return
            try:
                event = self.mapping.to_event(record)
            except BadLocalDataError as error:
                log.warning("local.set_aside", where=record.where, reason=str(error))
                await self.state.set_aside(
                    local_id=record.local_id, origin=record.where, reason=str(error)
                )
                await self.local.set_aside(record, str(error))
                return
            spec = spec_for_model(event)
            await self.state.add(
                local_id=record.local_id,
                kind=record.kind,
                origin=record.where,
                ce_type=spec.ce_type,
                entity=event.entity_id(),
                data=encode(event),
            )
            log.info("outbox.stored", ce_type=spec.ce_type, entity=event.entity_id())
            await self.local.confirm_outbound(record)
            self._wake.set()

    # -- outbox → bus, bus → local -----------------------------------------------------
    async def _link_loop(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                subscription = await self._connect()
                backoff = 0.5
                while not self._stop.is_set():
                    await self.drain()
                    try:
                        results = await subscription.poll(timeout=0.5)
                    except TransportError:
                        # A record may be half done (its receipt not sent): read again
                        # from the committed offsets with a fresh consumer.
                        await self._drop_subscription()
                        raise
                    for result in results:
                        if result.outcome is Outcome.QUARANTINED:
                            log.warning(
                                "inbound.quarantined",
                                event_id=result.event_id,
                                topic=result.coordinates.topic,
                                reason=None if result.reason is None else result.reason.value,
                                detail=result.detail,
                            )
            except TransportError as error:
                self._bus_down(str(error))
                await self._pause(backoff)
                backoff = min(backoff * 2, self.config.bus.retry_max_seconds)
            except StoppingError:
                return

    async def _drop_subscription(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            await quietly(subscription.stop(), timeout=10)

    def _bus_up(self) -> None:
        """The broker answered: tell the watch, and say connected if it was not."""
        self._watch.answered()
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
            subscription = self.bus.subscribe(group=f"{self.agency}.{self.config.bus.publisher}")
            for ce_type in self.mapping.inbound_types:
                subscription.on(REGISTRY.spec_for_type(ce_type).model)(self._inbound.write)
            self._subscription = subscription
        await self._subscription.start()
        # Started clients prove nothing once started (a restart of the loop reuses them):
        # ask the broker something before saying it is connected.
        await self._ask_broker()
        self._bus_up()
        return self._subscription

    async def _ask_broker(self) -> None:
        """A small question only a reachable broker answers (the watch's and the loop's)."""
        await self._transport.describe_topics([family_topic(self.federation, Family.RECEIPT)])

    async def drain(self) -> int:
        """Publish pending outbox entries in order; TransportError stops the pass."""
        published = 0
        held: set[str] = set()  # entities waiting for a predecessor: keep their order
        for entry in await self.state.pending(limit=200):
            if entry.entity in held or self._stop.is_set():
                continue
            if await self._publish(entry):
                published += 1
            else:
                held.add(entry.entity)
        return published

    async def _publish(self, entry: OutboxEntry) -> bool:
        event: EventModel = REGISTRY.decode(entry.ce_type, entry.data)
        with bound_record(local_id=entry.local_id, ce_type=entry.ce_type):
            try:
                published = await self._acknowledged(self.bus.publish(event))
            except TransportError as error:
                await self.state.attempt_failed(entry.position, str(error))
                raise
            except LifecycleError as error:
                waiting = error.rule.endswith("_first")  # its predecessor may still come
                stored = parse_time(entry.stored_at)
                if waiting and now() - stored < _HOLD_LIMIT:
                    await self.state.attempt_failed(entry.position, str(error))
                    return False
                return await self._refused(entry, error)
            except (ContractError, PermissionDeniedError) as error:
                return await self._refused(entry, error)
            where = f"{published.topic}/{published.coordinates.partition}/"
            where += str(published.coordinates.offset)
            await self.state.published(entry.position, event_id=published.event_id, where=where)
            with bound_record(event_id=published.event_id, topic=published.topic):
                log.info("outbox.published", entity=entry.entity, origin=entry.origin)
            return True

    async def _acknowledged(self, publishing: Coroutine[Any, Any, Published]) -> Published:
        """Await one publish. It is never cancelled: a record handed to the producer may
        still reach Kafka, and sending it again would deliver the event twice. While Kafka
        does not acknowledge, the health report says so."""
        task = asyncio.ensure_future(publishing)
        limit = self.config.bus.request_timeout_ms / 1000
        done, _ = await asyncio.wait({task}, timeout=limit)
        if not done:
            self._bus_down(f"no acknowledgement from Kafka for {limit:.0f}s; the event waits")
            await asyncio.wait({task})
        published = task.result()
        self._bus_up()
        return published

    async def _refused(self, entry: OutboxEntry, error: Exception) -> bool:
        log.error("outbox.refused", entity=entry.entity, origin=entry.origin, reason=str(error))
        await self.state.failed(entry.position, f"{entry.origin}: {error}")
        return True

    # -- health ------------------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        counts = await self.state.counts()
        try:
            local = await self.local.health()
        except Exception as error:  # noqa: BLE001 - the report shows it instead
            local = {"error": f"{type(error).__name__}: {error}"}
        bus, local_status = self._bus_status(), dict(self._status["local"])
        ok = bus["connected"] and local_status.get("reachable") is not False
        return {
            "status": "ok" if ok else "degraded",
            "agency": self.agency,
            "federation": self.federation,
            "updated_at": format_time(now()),
            "transport": self.config.bus.transport_label,
            "bus": bus,
            "local": {"kind": self.config.local.kind, **local_status, **local},
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

    async def _health_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self._write_health()
            except OSError as error:
                path = str(self.config.health_file)
                log.warning("health.unwritable", path=path, error=str(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=1.0)
