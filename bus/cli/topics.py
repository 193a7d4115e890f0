"""``silian topics``: provision the federation's topics from the contracts and the agreement.

``apply`` creates what is missing and sets configs that differ; running it twice changes
nothing. ``list`` shows each planned topic as the broker has it, and exits 1 if one is
missing or drifts from the plan (a config, its partitions, its replication).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from agencies.folder import AgreementFolder
from bus.cli._common import ExitCode, add_json_flag, emit_json
from bus.errors import ConfigError
from bus.node.topics import Drift, TopicPlan, apply_topics, plan_topics, topic_drift
from bus.settings import Settings, add_bus_arguments, open_transport, settings_from_args
from bus.transport.base import TopicChanges, TopicDescription, TopicSpec

__all__ = ["register"]


def register(sub: Any) -> None:
    topics = sub.add_parser("topics", help="create and check the federation's Kafka topics")
    t_sub = topics.add_subparsers(dest="topics_command", metavar="ACTION", required=True)

    apply = t_sub.add_parser(
        "apply", help="create missing topics and fix their configs (idempotent)"
    )
    _plan_arguments(apply)
    apply.set_defaults(func=_apply)

    listing = t_sub.add_parser(
        "list",
        help="the planned topics as the broker has them (exit 1 if one is missing or drifts)",
    )
    _plan_arguments(listing)
    listing.set_defaults(func=_list)


def _plan_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TopicPlan()
    parser.add_argument(
        "--replication",
        type=int,
        default=defaults.replication,
        help=f"replication factor (default {defaults.replication}; 3 on a 3-node cluster)",
    )
    parser.add_argument(
        "--min-insync",
        type=int,
        default=defaults.min_insync_replicas,
        help=f"min.insync.replicas (default {defaults.min_insync_replicas}; 2 with 3 replicas)",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=defaults.family_partitions,
        help=f"partitions of each family topic (default {defaults.family_partitions})",
    )
    parser.add_argument(
        "--retention-days",
        type=int,
        default=None,
        help="keep event topics this many days (default: keep everything; the signed "
        "history is evidence, so audit-relevant topics normally keep all)",
    )
    parser.add_argument(
        "--quarantine-retention-days",
        type=int,
        default=None,
        help="keep quarantine topics this many days (default: keep everything)",
    )
    parser.add_argument(
        "--case",
        dest="cases",
        action="append",
        default=[],
        metavar="CASE_ID",
        help="also a joint case's topic (repeatable; cases normally get theirs when opened)",
    )
    add_bus_arguments(parser)
    add_json_flag(parser)


def _settings(args: argparse.Namespace) -> Settings:
    # Provisioning needs no agency identity: an operator runs it.
    return settings_from_args(args, agency_required=False)


def _specs(args: argparse.Namespace, settings: Settings) -> list[TopicSpec]:
    history = AgreementFolder(settings.agreement_dir).history()
    agreement = history.latest
    plan = TopicPlan(
        replication=args.replication,
        min_insync_replicas=args.min_insync,
        family_partitions=args.partitions,
        retention_ms=_retention_ms(args.retention_days),
        quarantine_retention_ms=_retention_ms(args.quarantine_retention_days),
    )
    return plan_topics(agreement.federation_id, agreement, plan, cases=tuple(args.cases))


def _retention_ms(days: int | None) -> int:
    if days is None:
        return -1
    if days < 1:
        raise ConfigError(f"a retention of {days} days makes no sense; give 1 or more")
    return days * 24 * 3600 * 1000


def _apply(args: argparse.Namespace) -> int:
    settings = _settings(args)
    specs = _specs(args, settings)

    async def run() -> TopicChanges:
        transport = open_transport(settings)
        await transport.start()
        try:
            return await apply_topics(transport, specs)
        finally:
            await transport.stop()

    changes = asyncio.run(run())
    touched = set(changes.created) | {c.topic for c in changes.reconfigured}
    unchanged = [s.name for s in specs if s.name not in touched]
    if args.json:
        emit_json(
            {
                "transport": settings.transport_label,
                "changed": changes.changed,
                "created": list(changes.created),
                "reconfigured": [
                    {"topic": c.topic, "config": c.name, "old": c.old, "new": c.new}
                    for c in changes.reconfigured
                ],
                "not_grown": [
                    {"topic": s.topic, "partitions": s.existing, "wanted": s.wanted}
                    for s in changes.not_grown
                ],
                "unchanged": unchanged,
            }
        )
        return ExitCode.OK
    for name in changes.created:
        print(f"created       {name}")
    for change in changes.reconfigured:
        print(f"reconfigured  {change.topic} {change.name}={change.new} (was {change.old})")
    for short in changes.not_grown:
        print(
            f"not grown     {short.topic}: has {short.existing} partitions, plan wants "
            f"{short.wanted} (growing moves keys; do it by hand if you mean it)"
        )
    if changes.changed:
        print(f"{len(unchanged)} unchanged, on {settings.transport_label}")
    else:
        print(f"nothing changed: all {len(specs)} topics as planned, on {settings.transport_label}")
    return ExitCode.OK


def _list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    specs = _specs(args, settings)

    async def run() -> dict[str, TopicDescription]:
        transport = open_transport(settings)
        await transport.start()
        try:
            return await transport.describe_topics([s.name for s in specs])
        finally:
            await transport.stop()

    found = asyncio.run(run())
    missing = [s.name for s in specs if s.name not in found]
    drift = topic_drift(specs, found)
    code = ExitCode.FAILED if missing or drift else ExitCode.OK
    if args.json:
        emit_json([_row(spec, found.get(spec.name), drift) for spec in specs])
        return code
    for spec in specs:
        have = found.get(spec.name)
        if have is None:
            print(f"{spec.name}  MISSING (run: silian topics apply)")
            continue
        retention = have.configs.get("retention.ms", "?")
        print(
            f"{spec.name}  partitions={have.partitions} replication={have.replication} "
            f"retention.ms={retention}"
        )
        for item in drift:
            if item.topic == spec.name:
                print(f"DRIFT {item}")
    if code == ExitCode.OK:
        print(f"all {len(specs)} topics as planned, on {settings.transport_label}")
    else:
        drifting = len({item.topic for item in drift})
        print(
            f"{len(missing)} missing, {drifting} drifting from the plan, of {len(specs)} "
            f"topics on {settings.transport_label} (compared with the plan these flags give)"
        )
    return code


def _row(spec: TopicSpec, have: TopicDescription | None, drift: list[Drift]) -> dict[str, Any]:
    return {
        "topic": spec.name,
        "exists": have is not None,
        "partitions": None if have is None else have.partitions,
        "replication": None if have is None else have.replication,
        "configs": {} if have is None else dict(have.configs),
        "drift": [
            {"setting": d.setting, "actual": d.actual, "planned": d.planned, "fix": d.fix}
            for d in drift
            if d.topic == spec.name
        ],
    }
