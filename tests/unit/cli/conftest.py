"""A federation on disk (keys, signed agreement folder, state) and a way to run ``silian``."""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bus.node.bus import Bus, BusConfig
from bus.node.consume import Subscription
from bus.node.results import Delivery, Outcome
from bus.node.topics import TopicPlan, plan_topics
from bus.sandbox.federation import Federation, create_federation
from bus.transport.embedded import EmbeddedTransport
from contracts import examples
from contracts.base import EventModel, Family
from contracts.cases import CaseClosed, CaseLeadShared, CaseMemberJoined, CaseNote, CaseOpened
from contracts.registry import REGISTRY

# bus.cli re-exports main(), which shadows the module of the same name.
cli_main = importlib.import_module("bus.cli.main")


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@dataclass(frozen=True)
class Setup:
    fed: Federation
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state"


def write_federation(root: Path) -> Federation:
    fed = create_federation(root / "fed")
    fed.write_agreement(root / "agreement")
    return fed


def bus_env(root: Path) -> dict[str, str]:
    """The environment a ``silian`` process of this federation needs (no --kafka: embedded)."""
    return {
        "SILIAN_KEY_DIR": str(root / "fed" / "keys"),
        "SILIAN_AGREEMENT_DIR": str(root / "agreement"),
        "SILIAN_STATE_DIR": str(root / "state"),
    }


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    fed = write_federation(tmp_path)
    for name in ("SILIAN_AGENCY", "SILIAN_KAFKA_BOOTSTRAP", "SILIAN_EMBEDDED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in bus_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    return Setup(fed=fed, root=tmp_path)


@pytest.fixture
def silian(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """``silian("publish", "-", ...)`` → exit code and captured stdout/stderr."""

    def run(*argv: str) -> Ran:
        capsys.readouterr()
        code = cli_main.main(list(argv))
        captured = capsys.readouterr()
        return Ran(code=code, out=captured.out, err=captured.err)

    return run


async def run_story(
    setup: Setup, story: list[tuple[str, EventModel]], *, cases: tuple[str, ...] = ()
) -> None:
    """Each agency publishes its events in turn; every agency receives, handles and answers
    what it may read, with the same stores and embedded file the CLI uses."""
    fed = setup.fed
    transport = EmbeddedTransport(setup.state / "embedded.sqlite")
    await transport.start()
    try:
        await transport.ensure_topics(
            plan_topics(fed.federation_id, fed.agreements.latest, TopicPlan())
        )
        async with contextlib.AsyncExitStack() as stack:
            buses: dict[str, Bus] = {}
            subscriptions: list[Subscription] = []
            for code in fed.members:
                bus = Bus(
                    BusConfig(
                        agency=code, federation=fed.federation_id, state_dir=setup.state / code
                    ),
                    transport=transport,
                    agreements=fed.agreements,
                    keystore=fed.keystore,
                )
                buses[code] = await stack.enter_async_context(bus)
                subscription = bus.subscribe(cases=[c for c in cases if code != examples.GUANGFENG])
                for spec in REGISTRY.specs():
                    subscription.on(spec.model)(_handled)
                subscriptions.append(await stack.enter_async_context(subscription))

            async def settle() -> None:
                while True:
                    busy = False
                    for subscription in subscriptions:
                        results = await subscription.poll(timeout=0.02)
                        assert all(r.outcome is not Outcome.QUARANTINED for r in results), results
                        busy = busy or bool(results)
                    if not busy:
                        return

            for publisher, event in story:
                await buses[publisher].publish(event)
                await settle()
    finally:
        await transport.stop()


async def _handled(delivery: Delivery[Any]) -> str:
    return f"已处理 {delivery.ce_type}"


def case_story() -> list[tuple[str, EventModel]]:
    """The example case between Jiangshan and Pucheng only (Guangfeng is never invited)."""
    wanted = (CaseOpened, CaseMemberJoined, CaseLeadShared, CaseNote, CaseClosed)
    return [
        (p, e)
        for p, e in examples.example_story()
        if isinstance(e, wanted) and p != examples.GUANGFENG
    ]


def alert_story() -> list[tuple[str, EventModel]]:
    """The example alert's lifecycle (receipts are the bus's own answers, not replayed)."""
    return [(p, e) for p, e in examples.example_story() if Family(e.family) is Family.ALERT]
