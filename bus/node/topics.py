"""Topic provisioning, derived from the contracts and the agreement (``silian topics apply``).

Family topics, the agreement and checkpoints topics, one quarantine topic per member, and
one topic per joint case (created when the case opens). Audit-relevant topics keep
everything (``retention.ms=-1``); the broker stamps every record with its own append time
(``message.timestamp.type=LogAppendTime``) so that a signer cannot backdate a record past
the consumer's skew check. Applying the same plan twice changes nothing.

:func:`topic_drift` says how the broker's topics differ from the plan (``silian topics
list``): a config anyone with admin rights switched (``CreateTime`` lets a producer choose
its records' times), a partition count or replication factor other than planned.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from agencies.agreement import Agreement
from bus.logs import get_logger
from bus.transport.base import TopicChanges, TopicDescription, TopicSpec, Transport
from contracts.topics import (
    agreement_topic,
    case_topic,
    checkpoints_topic,
    family_topics,
    quarantine_topic,
)

__all__ = [
    "CATCH_UP_S",
    "RETRY_S",
    "Drift",
    "ReadUntil",
    "TopicPlan",
    "apply_topics",
    "case_topic_spec",
    "plan_topics",
    "topic_drift",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class TopicPlan:
    """How topics are laid out; from configuration (``silian topics apply`` flags)."""

    replication: int = 1
    min_insync_replicas: int = 1
    family_partitions: int = 6
    case_partitions: int = 1
    # -1 keeps everything: the signed history is evidence.
    retention_ms: int = -1
    quarantine_retention_ms: int = -1
    extra_configs: dict[str, str] = field(default_factory=dict)

    def configs(self, *, retention_ms: int) -> dict[str, str]:
        return {
            "retention.ms": str(retention_ms),
            "min.insync.replicas": str(self.min_insync_replicas),
            "message.timestamp.type": "LogAppendTime",
            "cleanup.policy": "delete",
            **self.extra_configs,
        }


def plan_topics(
    federation: str, agreement: Agreement, plan: TopicPlan, *, cases: tuple[str, ...] = ()
) -> list[TopicSpec]:
    audit = plan.configs(retention_ms=plan.retention_ms)
    specs = [
        TopicSpec(
            name=name,
            partitions=plan.family_partitions,
            replication=plan.replication,
            configs=audit,
        )
        for name in family_topics(federation)
    ]
    specs += [
        TopicSpec(name=name, partitions=1, replication=plan.replication, configs=audit)
        for name in (agreement_topic(federation), checkpoints_topic(federation))
    ]
    quarantine = plan.configs(retention_ms=plan.quarantine_retention_ms)
    specs += [
        TopicSpec(
            name=quarantine_topic(federation, member.code),
            partitions=1,
            replication=plan.replication,
            configs=quarantine,
        )
        for member in agreement.members
    ]
    specs += [case_topic_spec(federation, case_id, plan) for case_id in cases]
    return specs


def case_topic_spec(federation: str, case_id: str, plan: TopicPlan) -> TopicSpec:
    return TopicSpec(
        name=case_topic(federation, case_id),
        partitions=plan.case_partitions,
        replication=plan.replication,
        configs=plan.configs(retention_ms=plan.retention_ms),
    )


async def apply_topics(transport: Transport, specs: list[TopicSpec]) -> TopicChanges:
    return await transport.ensure_topics(specs)


_APPLY = "run: silian topics apply"


@dataclass(frozen=True, kw_only=True, slots=True)
class Drift:
    """One way a topic on the broker differs from its spec.

    ``setting`` is a config name, ``partitions`` or ``replication``; ``actual`` is None
    for a config not set on the topic (the broker's default applies). ``fix`` says what
    closes it; ``by_apply`` whether ``silian topics apply`` does.
    """

    topic: str
    setting: str
    actual: str | None
    planned: str
    fix: str

    @property
    def by_apply(self) -> bool:
        return self.fix == _APPLY

    def __str__(self) -> str:
        actual = "unset" if self.actual is None else f"={self.actual}"
        return f"{self.topic} {self.setting}{actual} (plan: {self.planned}) — {self.fix}"


def topic_drift(specs: Iterable[TopicSpec], found: Mapping[str, TopicDescription]) -> list[Drift]:
    """Every difference between ``specs`` and the topics ``found`` (missing ones excepted)."""
    drift: list[Drift] = []
    for spec in specs:
        have = found.get(spec.name)
        if have is None:
            continue
        if have.partitions != spec.partitions:
            fix = (
                "grow it by hand if you mean it (growing moves keys)"
                if have.partitions < spec.partitions
                else "partitions cannot be removed: plan with the topic's count"
            )
            drift.append(_drift(spec, "partitions", have.partitions, spec.partitions, fix))
        if have.replication != spec.replication:
            fix = "reassign its replicas by hand (kafka-reassign-partitions)"
            drift.append(_drift(spec, "replication", have.replication, spec.replication, fix))
        drift += [
            _drift(spec, name, have.configs.get(name), value, _APPLY)
            for name, value in sorted(spec.configs.items())
            if have.configs.get(name) != value
        ]
    return drift


def _drift(spec: TopicSpec, setting: str, actual: object, planned: object, fix: str) -> Drift:
    shown = None if actual is None else str(actual)
    return Drift(topic=spec.name, setting=setting, actual=shown, planned=str(planned), fix=fix)


log = get_logger("silian.topics")

RETRY_S = 5.0  # a service that waits for topics (or failed) looks again after this long


async def wait_for_topics(
    look: Callable[[], Awaitable[list[str]]], stop: asyncio.Event, *, what: str
) -> list[str]:
    """Poll until ``look`` finds some topics (they are the operator's to create): warn once,
    then look again every :data:`RETRY_S` seconds, until ``stop``."""
    warned = False
    while not stop.is_set():
        found = await look()
        if found:
            return found
        if not warned:
            log.warning("audit.waiting", detail=f"{what} do(es) not exist yet: silian topics apply")
            warned = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RETRY_S)
    return []


CATCH_UP_S = 30.0  # how long a --once reader may take to be assigned its partitions


class ReadUntil:
    """When a loop that reads a consumer group ends.

    Without ``once``: as soon as ``stop`` is set. With ``once`` (``silian serve --once``):
    after ``stop`` (None: from the start), only once caught up — the group assigned the
    reader its partitions and a fetch came back empty — so that a one-shot run reads what
    is there and never stops while the group is still forming. A reader never assigned
    anything gives up after :data:`CATCH_UP_S` seconds, with a warning.
    """

    def __init__(
        self,
        stop: asyncio.Event | None,
        assignment: Callable[[], frozenset[tuple[str, int]]],
        *,
        once: bool,
        what: str,
    ) -> None:
        self._stop, self._assignment, self._once, self._what = stop, assignment, once, what
        self._deadline: float | None = None

    def done(self, fetched: int) -> bool:
        """Whether to stop, after a fetch that returned ``fetched`` records."""
        if self._stop is not None and not self._stop.is_set():
            return False
        if not self._once or (fetched == 0 and self._assignment()):
            return True
        now = asyncio.get_running_loop().time()
        if self._deadline is None:
            self._deadline = now + CATCH_UP_S
        if now < self._deadline:
            return False
        log.warning(
            "once.not_caught_up",
            reader=self._what,
            detail=f"no partitions were assigned within {CATCH_UP_S:.0f} s; stopping anyway",
        )
        return True
