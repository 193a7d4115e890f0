"""Deciding what ``ensure_topics`` must do, the same way for every transport."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bus.errors import ConfigError
from bus.transport.base import (
    ConfigChange,
    PartitionShortfall,
    TopicChanges,
    TopicDescription,
    TopicSpec,
)

__all__ = ["TopicPlan", "check_specs", "plan_topics"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicPlan:
    """``create``: topics to make; ``reconfigure``: topic → full set of configs to hold."""

    create: tuple[TopicSpec, ...]
    reconfigure: Mapping[str, Mapping[str, str]]
    changes: TopicChanges


def check_specs(specs: Iterable[TopicSpec]) -> tuple[TopicSpec, ...]:
    """The specs as a tuple, after refusing ones no transport could apply."""
    checked = tuple(specs)
    seen: set[str] = set()
    for spec in checked:
        if not spec.name:
            raise ConfigError("a topic spec has an empty name")
        if spec.name in seen:
            raise ConfigError(f"topic {spec.name!r} is specified twice")
        if spec.partitions < 1 or spec.replication < 1:
            raise ConfigError(
                f"topic {spec.name!r}: partitions and replication must be at least 1, "
                f"got {spec.partitions} and {spec.replication}"
            )
        seen.add(spec.name)
    return checked


def plan_topics(
    specs: tuple[TopicSpec, ...], existing: Mapping[str, TopicDescription]
) -> TopicPlan:
    """Compare specs with what exists; raise before anything is changed if one is invalid."""
    create: list[TopicSpec] = []
    reconfigure: dict[str, Mapping[str, str]] = {}
    config_changes: list[ConfigChange] = []
    shortfalls: list[PartitionShortfall] = []
    for spec in specs:
        current = existing.get(spec.name)
        if current is None:
            create.append(spec)
            continue
        if spec.partitions < current.partitions:
            raise ConfigError(
                f"topic {spec.name!r} has {current.partitions} partitions but the spec asks "
                f"for {spec.partitions}; a topic's partitions cannot be reduced"
            )
        if spec.partitions > current.partitions:
            shortfalls.append(
                PartitionShortfall(
                    topic=spec.name, existing=current.partitions, wanted=spec.partitions
                )
            )
        differing = {
            name: value
            for name, value in spec.configs.items()
            if current.configs.get(name) != value
        }
        if differing:
            reconfigure[spec.name] = {**current.configs, **differing}
            config_changes += [
                ConfigChange(topic=spec.name, name=name, old=current.configs.get(name), new=value)
                for name, value in sorted(differing.items())
            ]
    changes = TopicChanges(
        created=tuple(s.name for s in create),
        reconfigured=tuple(config_changes),
        not_grown=tuple(shortfalls),
    )
    return TopicPlan(create=tuple(create), reconfigure=reconfigure, changes=changes)
