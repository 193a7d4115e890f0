"""``silian agency``, now that it lives with the adapters: the report a runner really wrote
is shown whole — its loops (``tasks``) and a report that could not be made (``error``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from adapters._liveness import BrokerWatch
from adapters.demo import wait_for
from adapters.runner import AgencyRunner
from bus.cli.main import main
from tests.unit.adapters.scene import agencies


def _status(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["agency", "status", "--config", str(config)])
    return code, capsys.readouterr().out.splitlines()


async def test_status_names_a_loop_that_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A loop that ended made the report degraded, but ``agency status`` did not say which
    (it never printed ``tasks``): the operator saw "degraded" and links that were fine."""

    async def broken(self: BrokerWatch, stop: asyncio.Event) -> None:
        await self.ask_once()
        raise RuntimeError("the watch broke")

    monkeypatch.setattr(BrokerWatch, "run", broken)  # every loop is total: inject the end
    async with agencies(tmp_path) as scene:
        scene.start("pucheng")
        await wait_for(lambda: scene.health_file("pucheng").get("tasks", {}).get("watch", "")
                       .startswith("ended"))  # fmt: skip
        code, lines = _status(tmp_path / "pucheng.toml", capsys)
    assert code == 1
    assert lines[0].startswith("350722000000 — degraded (at ")
    assert "  tasks  running: health, link, local" in lines
    assert (
        "  task   watch ended: the task failed in an unforeseen way (RuntimeError); "
        "the adapter log has the details"
    ) in lines
    assert any(line.startswith("  outbox 0 pending") for line in lines)


async def test_status_shows_why_no_report_could_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report that replaces one that could not be made holds only ``error``: status
    printed ``bus None: unreachable: None`` and no word of the error."""

    async def failing(self: AgencyRunner) -> dict[str, Any]:
        raise RuntimeError("no figures today")

    async with agencies(tmp_path) as scene:
        monkeypatch.setattr(AgencyRunner, "health", failing)  # a fault no input can make
        scene.start("pucheng")
        await wait_for(lambda: "error" in scene.health_file("pucheng"))
        code, lines = _status(tmp_path / "pucheng.toml", capsys)
    assert code == 1
    assert lines[0].startswith("350722000000 — degraded (at ")
    assert lines[1:] == [
        "  error  making the health report failed in an unforeseen way (RuntimeError); "
        "the adapter log has the details"
    ]


def test_status_json_is_the_report_and_a_garbled_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "a.toml"
    config.write_text(
        '[agency]\ncode = "330881000000"\n[bus]\nembedded = "e.sqlite"\n'
        '[mapping]\nfile = "m.toml"\n[local]\nkind = "rest"\n',
        encoding="utf-8",
    )
    health = tmp_path / "state" / "330881000000" / "health.json"
    health.parent.mkdir(parents=True)
    report = {"status": "ok", "agency": "330881000000", "tasks": {"link": "running"}}
    health.write_text(json.dumps(report), encoding="utf-8")
    assert main(["agency", "status", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == report

    health.write_bytes(b'{"status": "ok", "agen')
    assert main(["agency", "status", "--config", str(config)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"silian: error: {health} is not a health report: ")
