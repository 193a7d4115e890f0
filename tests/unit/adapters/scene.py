"""The three example agencies, their reference local systems and one embedded bus, with
runners that a test starts and stops one by one (a restart is a fresh runner)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from adapters.config import AgencyConfig, load_config
from adapters.demo import AGENCIES, prepare_agencies
from adapters.reference.rest_case_system import RestCaseSystem
from adapters.runner import AgencyRunner
from agencies.folder import AgreementFolder
from bus.logs import configure_logging
from bus.node.topics import TopicPlan, plan_topics
from bus.transport.base import Transport
from bus.transport.embedded import EmbeddedTransport


@dataclass
class Running:
    runner: AgencyRunner
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def halt(self) -> None:
        """SIGTERM, as ``silian agency run`` gets it: finish the step in hand, close."""
        self.stop.set()
        await self.task

    async def health(self) -> dict[str, Any]:
        """The runner's report, once it has opened its state."""
        opened = asyncio.ensure_future(self.runner.opened.wait())
        await asyncio.wait({opened, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if not opened.done():
            opened.cancel()
            await self.task  # it ended before its state was open: say why
            raise AssertionError("the runner ended before it opened its state")
        return await self.runner.health()


@dataclass
class Scene:
    work: Path
    rest: RestCaseSystem
    transport: Transport
    configs: dict[str, AgencyConfig]
    federation: str
    running: list[Running] = field(default_factory=list)

    def config(self, name: str, **local: Any) -> AgencyConfig:
        """``name``'s configuration, with ``[local]`` settings changed by ``local``."""
        config = self.configs[name]
        settings = {**config.local.settings, **local}
        return replace(config, local=replace(config.local, settings=settings))

    def start(
        self,
        name: str,
        config: AgencyConfig | None = None,
        *,
        transport: Transport | None = None,
    ) -> Running:
        runner = AgencyRunner(config or self.configs[name], transport=transport or self.transport)
        stop = asyncio.Event()
        running = Running(runner=runner, stop=stop, task=asyncio.create_task(runner.run(stop)))
        self.running.append(running)
        return running

    def health_file(self, name: str) -> dict[str, Any]:
        path = self.configs[name].health_file
        report: dict[str, Any] = json.loads(path.read_text("utf-8")) if path.exists() else {}
        return report


@contextlib.asynccontextmanager
async def agencies(
    work: Path,
    *,
    transport: Transport | None = None,
    federation_id: str | None = None,
    plan: TopicPlan | None = None,
) -> AsyncIterator[Scene]:
    """The scene on ``transport`` (default: an embedded bus in ``work``)."""
    rest = RestCaseSystem().start()
    transport = transport or EmbeddedTransport(work / "state" / "embedded.sqlite")
    try:
        prepare_agencies(work, rest_url=rest.url, federation_id=federation_id)
        configs = {name: load_config(work / f"{name}.toml") for name in AGENCIES}
        await transport.start()
        history = AgreementFolder(configs["jiangshan"].bus.agreement).history()
        federation = history.latest.federation_id
        await transport.ensure_topics(plan_topics(federation, history.latest, plan or TopicPlan()))
        scene = Scene(
            work=work, rest=rest, transport=transport, configs=configs, federation=federation
        )
        try:
            yield scene
        finally:
            for running in scene.running:
                running.stop.set()
            await asyncio.gather(*(r.task for r in scene.running), return_exceptions=True)
    finally:
        await transport.stop()
        rest.stop()


class Logs:
    """The JSON log lines written while a test runs (``configure_logging`` to a buffer)."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        configure_logging(fmt="json", level="INFO", stream=self._buffer)

    def lines(self, event: str | None = None) -> list[dict[str, Any]]:
        found = [json.loads(line) for line in self._buffer.getvalue().splitlines() if line]
        return [line for line in found if event is None or line.get("event") == event]


def alert_fields(alert_no: str, **changes: str) -> dict[str, str]:
    """An alert as a Jiangshan officer enters it, for Jiangshan and Pucheng."""
    fields = {
        "alert_no": alert_no, "subject_type": "车辆", "plate": "浙H·12345",
        "subject_description": "白色面包车", "reason": "涉嫌跨省电信诈骗取款车辆",
        "action_on_hit": "跟踪并通报江山", "priority": "特急", "area": "330881,350722",
        "review_at": "2030-05-13 09:00",
    }  # fmt: skip
    return {**fields, **changes}
