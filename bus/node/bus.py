"""One agency's bus: its store, keys, agreement, publisher and subscriptions together.

::

    async with Bus(config, transport=transport, agreements=history, keystore=keys) as bus:
        await bus.publish(alert)
        sub = bus.subscribe()
        @sub.on(AlertHit)
        async def on_hit(delivery: Delivery[AlertHit]) -> str: ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from agencies.folder import AgreementFolder
from agencies.history import AgreementHistory
from agencies.keystore import KeyStore
from bus.envelope.ids import now
from bus.errors import PermissionDeniedError
from bus.logs import bound_record, get_logger
from bus.node.consume import Subscription
from bus.node.context import AgencyContext
from bus.node.publish import Published, Publisher
from bus.node.topics import TopicPlan
from bus.pipeline import VerifyPolicy
from bus.state.store import LocalStore, PendingReceipt
from bus.transport.base import Transport
from contracts.base import EventModel, Family
from contracts.topics import case_topic, family_topic
from contracts.vocab import Priority

__all__ = ["Bus", "BusConfig", "group_id"]

log = get_logger("silian.bus")


def group_id(federation: str, agency: str, role: str) -> str:
    """An agency's consumer group for one role in one federation."""
    return f"{federation}.{agency}.{role}"


@dataclass(frozen=True, kw_only=True)
class BusConfig:
    """Who this bus process is and where it keeps its state."""

    agency: str
    federation: str
    state_dir: Path
    publisher_name: str = "main"
    policy: VerifyPolicy = field(default_factory=VerifyPolicy)
    plan: TopicPlan = field(default_factory=TopicPlan)


class Bus:
    def __init__(
        self,
        config: BusConfig,
        *,
        transport: Transport,
        agreements: AgreementHistory,
        keystore: KeyStore,
    ) -> None:
        self.config = config
        self.store = LocalStore(config.state_dir / f"{config.agency}.sqlite")
        self.context = AgencyContext(
            agency=config.agency,
            federation=config.federation,
            transport=transport,
            store=self.store,
            agreements=agreements,
            keystore=keystore,
            policy=config.policy,
            plan=config.plan,
        )
        self.publisher = Publisher(self.context, name=config.publisher_name)
        self._subscriptions: list[Subscription] = []
        self._reported_overdue: set[tuple[str, str]] = set()

    @classmethod
    def from_folders(
        cls,
        *,
        agency: str,
        agreement_dir: Path,
        key_dir: Path,
        passphrase: bytes | None,
        state_dir: Path,
        publisher_name: str,
        transport: Transport,
    ) -> Bus:
        """The bus of ``agency`` as an agency keeps it: the agreement folder (every version,
        verified — but a newest one still collecting signatures, which the service takes up
        from the agreement topic once published), its key folder and its state folder; the
        federation is the agreement's.
        The one way every silian process (``serve``, ``publish``, an adapter) builds one."""
        history = AgreementFolder(agreement_dir).signed_history()
        config = BusConfig(
            agency=agency,
            federation=history.latest.federation_id,
            state_dir=state_dir,
            publisher_name=publisher_name,
        )
        keystore = KeyStore(key_dir, passphrase=passphrase)
        return cls(config, transport=transport, agreements=history, keystore=keystore)

    @property
    def agency(self) -> str:
        return self.config.agency

    def group_id(self, role: str) -> str:
        """This agency's consumer group for ``role`` (its publisher's name, ``log-keeper``,
        ``witness``): ``<federation>.<agency>.<role>``, so that two federations an agency
        belongs to on one cluster never share (and rebalance) a group."""
        return group_id(self.config.federation, self.agency, role)

    async def start(self) -> Bus:
        await self.store.open()
        await self.context.rebuild_state()
        await self.publisher.start()
        return self

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            await subscription.stop()
        self._subscriptions.clear()
        await self.store.close()

    async def __aenter__(self) -> Bus:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def publish(self, event: EventModel, *, priority: Priority | None = None) -> Published:
        return await self.publisher.publish(event, priority=priority)

    async def publish_data(
        self, ce_type: str, data: bytes, *, priority: Priority | None = None
    ) -> Published:
        """Publish an event kept as its JSON bytes, those very bytes signed and sent
        (:meth:`bus.node.publish.Publisher.publish_data`)."""
        return await self.publisher.publish_data(ce_type, data, priority=priority)

    async def overdue(self, *, at: datetime | None = None) -> list[PendingReceipt]:
        """Receipts past their deadline (事事有回音); each is logged once as ``receipt.overdue``.

        ``at`` defaults to now; an answer is owed until the recipient handled or rejected it.
        """
        moment = at or now()
        late = [r for r in await self.store.receipts(open_only=True) if r.overdue_at(moment)]
        for receipt in late:
            if (receipt.event_id, receipt.recipient) in self._reported_overdue:
                continue  # said once per process; silian status shows it every time
            self._reported_overdue.add((receipt.event_id, receipt.recipient))
            with bound_record(event_id=receipt.event_id, agency=self.agency):
                log.warning(
                    "receipt.overdue",
                    recipient=receipt.recipient,
                    ce_type=receipt.ce_type,
                    subject=receipt.subject,
                    priority=receipt.priority,
                    due=receipt.due,
                    received=receipt.received_at is not None,
                )
        return late

    def _may_read(self, family: Family) -> bool:
        try:
            self.context.agreements.in_force_at(now()).check_read(self.agency, family, "H0")
        except PermissionDeniedError:
            return False
        return True

    def readable_topics(self) -> list[str]:
        """Family topics this agency may read under the agreement in force."""
        topics = []
        for family in Family:
            if family is Family.CASE:
                continue
            if self._may_read(family):  # e.g. partners never read alerts
                topics.append(family_topic(self.config.federation, family))
        return topics

    def subscribe(
        self,
        *,
        group: str | None = None,
        topics: Iterable[str] | None = None,
        cases: Iterable[str] = (),
        observe: bool = False,
        follow_cases: bool | None = None,
    ) -> Subscription:
        """A subscription to ``topics`` (default: every family topic this agency may read)
        and ``cases``. ``follow_cases`` (default: when ``topics`` is not given) also reads
        every case topic of the federation, including cases opened later."""
        chosen = list(topics) if topics is not None else self.readable_topics()
        chosen += [case_topic(self.config.federation, c) for c in cases]
        follow = topics is None if follow_cases is None else follow_cases
        pattern = None
        if follow and self._may_read(Family.CASE):
            pattern = rf"^silian\.{re.escape(self.config.federation)}\.case\..+$"
        subscription = Subscription(
            self.context,
            self.publisher,
            group=group or self.group_id(self.config.publisher_name),
            topics=chosen,
            pattern=pattern,
            observe=observe,
        )
        self._subscriptions.append(subscription)
        return subscription
