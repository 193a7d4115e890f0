"""``silian topics list`` reports how the topics drift from the plan, and exits 1.

The clock check trusts ``message.timestamp.type=LogAppendTime``: a topic switched to
``CreateTime`` lets a producer choose its records' times, so the switch must show.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bus.node.topics import TopicPlan, plan_topics
from bus.transport.base import TopicSpec
from bus.transport.embedded import EmbeddedTransport
from tests.unit.cli.conftest import Ran, Setup


def _switch_to_create_time(setup: Setup, topic: str) -> None:
    """What anyone who may configure topics can do: set the alert topic to CreateTime."""

    async def run() -> None:
        transport = EmbeddedTransport(setup.state / "embedded.sqlite")
        await transport.start()
        try:
            plan = plan_topics(setup.fed.federation_id, setup.fed.agreements.latest, TopicPlan())
            spec = next(s for s in plan if s.name == topic)
            configs = {**spec.configs, "message.timestamp.type": "CreateTime"}
            changes = await transport.ensure_topics(
                [TopicSpec(name=topic, partitions=spec.partitions, replication=1, configs=configs)]
            )
            assert [c.new for c in changes.reconfigured] == ["CreateTime"]
        finally:
            await transport.stop()

    asyncio.run(run())


def test_a_topic_switched_to_create_time_drifts_until_apply(
    setup: Setup, silian: Callable[..., Ran]
) -> None:
    alert = f"silian.{setup.fed.federation_id}.alert.v1"
    assert silian("topics", "apply").code == 0
    clean = silian("topics", "list")
    assert clean.code == 0, clean.out
    assert "DRIFT" not in clean.out

    _switch_to_create_time(setup, alert)
    drifted = silian("topics", "list")
    assert drifted.code == 1
    assert [line for line in drifted.out.splitlines() if line.startswith("DRIFT")] == [
        f"DRIFT {alert} message.timestamp.type=CreateTime (plan: LogAppendTime) — "
        "run: silian topics apply"
    ]
    rows = {row["topic"]: row for row in silian("topics", "list", "--json").json()}
    assert rows[alert]["drift"] == [
        {
            "setting": "message.timestamp.type",
            "actual": "CreateTime",
            "planned": "LogAppendTime",
            "fix": "run: silian topics apply",
        }
    ]
    assert all(row["drift"] == [] for name, row in rows.items() if name != alert)
    assert silian("topics", "list", "--json").code == 1

    fixed = silian("topics", "apply", "--json").json()
    assert [(c["topic"], c["config"], c["old"], c["new"]) for c in fixed["reconfigured"]] == [
        (alert, "message.timestamp.type", "CreateTime", "LogAppendTime")
    ]
    after = silian("topics", "list")
    assert after.code == 0
    assert "all 10 topics as planned" in after.out


def test_list_compares_with_the_plan_its_flags_give(
    setup: Setup, silian: Callable[..., Ran]
) -> None:
    alert = f"silian.{setup.fed.federation_id}.alert.v1"
    applied = silian("topics", "apply", "--partitions", "3", "--retention-days", "30")
    assert applied.code == 0, applied.err
    assert silian("topics", "list", "--partitions", "3", "--retention-days", "30").code == 0

    listed = silian("topics", "list", "--replication", "3")
    assert listed.code == 1
    drift = [line for line in listed.out.splitlines() if line.startswith(f"DRIFT {alert} ")]
    assert drift == [
        f"DRIFT {alert} partitions=3 (plan: 6) — grow it by hand if you mean it "
        "(growing moves keys)",
        f"DRIFT {alert} replication=1 (plan: 3) — reassign its replicas by hand "
        "(kafka-reassign-partitions)",
        f"DRIFT {alert} retention.ms={30 * 86_400_000} (plan: -1) — run: silian topics apply",
    ]
    assert "0 missing, 10 drifting from the plan, of 10 topics" in listed.out


def test_missing_and_drifting_are_both_counted(setup: Setup, silian: Callable[..., Ran]) -> None:
    assert silian("topics", "apply", "--min-insync", "2").code == 0
    case = "JS-CASE-2024-031"
    listed = silian("topics", "list", "--case", case)
    assert listed.code == 1
    assert f"silian.{setup.fed.federation_id}.case.{case}  MISSING" in listed.out
    assert "min.insync.replicas=2 (plan: 1)" in listed.out
    assert "1 missing, 10 drifting from the plan, of 11 topics" in listed.out
