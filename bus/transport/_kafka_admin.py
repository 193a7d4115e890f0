"""Topic provisioning on Kafka through aiokafka's admin client.

Two broker behaviours shape this module:

* KRaft spreads metadata to brokers asynchronously and the admin client asks a random
  broker, so a topic just created (or a config just set) may be invisible for a moment.
  After each change we wait until the change is visible before reporting it done.
* aiokafka speaks the legacy AlterConfigs request, which *replaces* a topic's set of
  configs; we therefore always send the full set (current topic configs + spec).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

from bus.errors import TransportError
from bus.transport._topics import check_specs, plan_topics
from bus.transport.base import TopicChanges, TopicDescription, TopicSpec

__all__ = ["TopicAdmin"]

_NO_ERROR = 0
_UNKNOWN_TOPIC = 3
_LEADER_NOT_AVAILABLE = 5
_TOPIC_ALREADY_EXISTS = 36
# DescribeConfigs' config_source for a value set on the topic itself.
_DYNAMIC_TOPIC_CONFIG = 1
_POLL_INTERVAL = 0.05
# Consecutive agreeing answers (from random brokers) before a change counts as visible.
_AGREEING_READS = 3
# Rounds of describe → create when another client creates the same topics concurrently
# (or a lagging broker does not know a topic yet).
_RACE_ROUNDS = 20
_RACE_PAUSE = 0.1


def _error_text(code: int, message: str | None) -> str:
    name = for_code(code).__name__
    return f"{name}: {message}" if message else name


class TopicAdmin:
    """ensure/describe over one started ``AIOKafkaAdminClient``."""

    def __init__(self, admin: Any, *, ready_timeout: float) -> None:
        self._admin = admin
        self._ready_timeout = ready_timeout

    async def describe(self, names: list[str]) -> dict[str, TopicDescription]:
        if not names:
            return {}
        metadata = await self._admin.describe_topics(names)
        shapes: dict[str, tuple[int, int]] = {}
        for topic in metadata:
            code = topic["error_code"]
            if code == _UNKNOWN_TOPIC:
                continue
            if code not in (_NO_ERROR, _LEADER_NOT_AVAILABLE):
                raise TransportError(
                    f"cannot describe topic {topic['topic']!r}: {_error_text(code, None)}"
                )
            partitions = topic["partitions"]
            replication = len(partitions[0]["replicas"]) if partitions else 0
            shapes[topic["topic"]] = (len(partitions), replication)
        configs = await self._topic_configs(list(shapes))
        return {
            name: TopicDescription(
                name=name, partitions=parts, replication=repl, configs=configs.get(name, {})
            )
            for name, (parts, repl) in shapes.items()
            if name in configs
        }

    async def _topic_configs(self, names: list[str]) -> dict[str, dict[str, str]]:
        """Configs set on each topic; a topic the answering broker does not know yet is
        left out (the caller then treats it as missing and meets TopicAlreadyExists)."""
        if not names:
            return {}
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        responses = await self._admin.describe_configs(resources)
        found: dict[str, dict[str, str]] = {}
        for response in responses:
            for resource in response.to_object()["resources"]:
                code = resource["error_code"]
                if code == _UNKNOWN_TOPIC:
                    continue
                if code != _NO_ERROR:
                    raise TransportError(
                        f"cannot read configs of topic {resource['resource_name']!r}: "
                        f"{_error_text(code, resource['error_message'])}"
                    )
                found[resource["resource_name"]] = {
                    entry["config_names"]: entry["config_value"]
                    for entry in resource["config_entries"]
                    if entry["config_source"] == _DYNAMIC_TOPIC_CONFIG
                    and entry["config_value"] is not None
                }
        return found

    async def ensure(self, specs_in: list[TopicSpec]) -> TopicChanges:
        specs = check_specs(specs_in)
        if not specs:
            return TopicChanges()
        created: list[str] = []
        for _ in range(_RACE_ROUNDS):
            existing = await self.describe([s.name for s in specs])
            plan = plan_topics(specs, existing)
            raced = await self._create(list(plan.create), created)
            if raced:
                # Someone else created a topic meanwhile: compare with theirs.
                await asyncio.sleep(_RACE_PAUSE)
                continue
            await self._alter(plan.reconfigure)
            await self._wait_visible(specs, plan.reconfigure)
            return TopicChanges(
                created=tuple(created),
                reconfigured=plan.changes.reconfigured,
                not_grown=plan.changes.not_grown,
            )
        raise TransportError(
            "topics kept appearing and disappearing while ensuring them: "
            + ", ".join(s.name for s in specs)
        )

    async def _create(self, specs: list[TopicSpec], created: list[str]) -> bool:
        """Create ``specs``, appending the ones we made to ``created``; True on a race."""
        if not specs:
            return False
        response = await self._admin.create_topics(
            [
                NewTopic(s.name, s.partitions, s.replication, topic_configs=dict(s.configs))
                for s in specs
            ]
        )
        raced = False
        for result in response.to_object()["topic_errors"]:
            code = result["error_code"]
            if code == _NO_ERROR:
                created.append(result["topic"])
            elif code == _TOPIC_ALREADY_EXISTS:
                raced = True
            else:
                raise TransportError(
                    f"cannot create topic {result['topic']!r}: "
                    f"{_error_text(code, result['error_message'])}"
                )
        return raced

    async def _alter(self, reconfigure: Mapping[str, Mapping[str, str]]) -> None:
        if not reconfigure:
            return
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, name, dict(configs))
            for name, configs in reconfigure.items()
        ]
        for response in await self._admin.alter_configs(resources):
            for resource in response.to_object()["resources"]:
                code = resource["error_code"]
                if code != _NO_ERROR:
                    raise TransportError(
                        f"cannot set configs of topic {resource['resource_name']!r}: "
                        f"{_error_text(code, resource['error_message'])}"
                    )

    async def _wait_visible(
        self, specs: tuple[TopicSpec, ...], reconfigure: Mapping[str, Mapping[str, str]]
    ) -> None:
        """Wait until every topic has leaders and the configs we set, as brokers see it."""
        agreeing = 0
        try:
            async with asyncio.timeout(self._ready_timeout):
                while agreeing < _AGREEING_READS:
                    agreeing = agreeing + 1 if await self._visible(specs, reconfigure) else 0
                    if agreeing < _AGREEING_READS:
                        await asyncio.sleep(_POLL_INTERVAL)
        except TimeoutError:
            raise TransportError(
                f"topics not ready after {self._ready_timeout:g} s: "
                + ", ".join(s.name for s in specs)
            ) from None

    async def _visible(
        self, specs: tuple[TopicSpec, ...], reconfigure: Mapping[str, Mapping[str, str]]
    ) -> bool:
        metadata = await self._admin.describe_topics([s.name for s in specs])
        for topic in metadata:
            if topic["error_code"] != _NO_ERROR or not topic["partitions"]:
                return False
            if any(p["leader"] < 0 for p in topic["partitions"]):
                return False
        configs = await self._topic_configs([s.name for s in specs])
        return len(configs) == len(specs) and all(
            configs.get(name, {}).get(key) == value
            for name, wanted in reconfigure.items()
            for key, value in wanted.items()
        )
