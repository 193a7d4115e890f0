"""ensure_topics' planning, shared by both transports."""

from __future__ import annotations

import pytest

from bus.errors import ConfigError
from bus.transport import ConfigChange, PartitionShortfall, TopicDescription, TopicSpec
from bus.transport._topics import check_specs, plan_topics


def spec(name: str = "t", partitions: int = 3, configs: dict[str, str] | None = None) -> TopicSpec:
    return TopicSpec(name=name, partitions=partitions, replication=3, configs=configs or {})


def existing(
    name: str = "t", partitions: int = 3, configs: dict[str, str] | None = None
) -> TopicDescription:
    return TopicDescription(name=name, partitions=partitions, replication=3, configs=configs or {})


def test_missing_topics_are_created() -> None:
    plan = plan_topics((spec("a"), spec("b")), {"b": existing("b")})
    assert [s.name for s in plan.create] == ["a"]
    assert plan.changes.created == ("a",)
    assert plan.changes.changed


def test_same_state_is_no_change() -> None:
    plan = plan_topics(
        (spec(configs={"retention.ms": "-1"}),), {"t": existing(configs={"retention.ms": "-1"})}
    )
    assert not plan.changes.changed
    assert (plan.create, dict(plan.reconfigure)) == ((), {})
    assert str(plan.changes) == "no change"


def test_differing_configs_are_set_keeping_the_topics_other_configs() -> None:
    plan = plan_topics(
        (spec(configs={"retention.ms": "-1"}),),
        {"t": existing(configs={"retention.ms": "1000", "cleanup.policy": "compact"})},
    )
    assert dict(plan.reconfigure["t"]) == {"retention.ms": "-1", "cleanup.policy": "compact"}
    assert plan.changes.reconfigured == (
        ConfigChange(topic="t", name="retention.ms", old="1000", new="-1"),
    )
    assert "set t retention.ms=-1 (was 1000)" in str(plan.changes)


def test_fewer_partitions_than_existing_is_refused() -> None:
    with pytest.raises(ConfigError, match="has 3 partitions but the spec asks for 1"):
        plan_topics((spec(partitions=1),), {"t": existing(partitions=3)})


def test_more_partitions_than_existing_is_reported_not_applied() -> None:
    plan = plan_topics((spec(partitions=6),), {"t": existing(partitions=3)})
    assert not plan.changes.changed
    assert plan.changes.not_grown == (PartitionShortfall(topic="t", existing=3, wanted=6),)


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ((spec("a"), spec("a")), "specified twice"),
        ((spec(""),), "empty name"),
        ((spec(partitions=0),), "at least 1"),
        ((TopicSpec(name="t", partitions=1, replication=0),), "at least 1"),
    ],
)
def test_invalid_specs_are_refused(specs: tuple[TopicSpec, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_specs(specs)


def test_spec_configs_are_frozen() -> None:
    configs = {"retention.ms": "-1"}
    frozen = TopicSpec(name="t", partitions=1, replication=1, configs=configs)
    configs["retention.ms"] = "0"
    assert frozen.configs["retention.ms"] == "-1"
    with pytest.raises(TypeError):
        frozen.configs["x"] = "y"  # type: ignore[index]
