"""Topic provisioning, derived from the contracts and the agreement (``silian topics apply``).

Family topics, the agreement and checkpoints topics, one quarantine topic per member, and
one topic per joint case (created when the case opens). Audit-relevant topics keep
everything (``retention.ms=-1``); the broker stamps every record with its own append time
(``message.timestamp.type=LogAppendTime``) so that a signer cannot backdate a record past
the consumer's skew check. Applying the same plan twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agencies.agreement import Agreement
from bus.transport.base import TopicChanges, TopicSpec, Transport
from contracts.topics import (
    agreement_topic,
    case_topic,
    checkpoints_topic,
    family_topics,
    quarantine_topic,
)

__all__ = ["TopicPlan", "apply_topics", "case_topic_spec", "plan_topics"]


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
