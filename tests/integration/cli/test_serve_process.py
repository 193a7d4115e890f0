"""``silian serve`` as a separate process: handles, answers, logs JSON, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts import examples
from contracts.alerts import AlertIssued
from tests.integration.cli.lines import Lines
from tests.unit.cli.conftest import bus_env, write_federation

REPO = Path(__file__).resolve().parents[3]


def _silian(*argv: str) -> list[str]:
    return [sys.executable, "-m", "bus.cli.main", *argv]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    write_federation(tmp_path)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SILIAN_")}
    return {**clean, **bus_env(tmp_path)}


@pytest.fixture
def pucheng(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    subprocess.run(_silian("topics", "apply"), env=env, cwd=REPO, check=True, capture_output=True)
    process = subprocess.Popen(
        _silian(
            "serve", "--agency", examples.PUCHENG, "--handle-log", str(tmp_path / "handled.jsonl")
        ),
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = Lines(process.stderr)
    try:
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        lines.join()  # the reader reaches end of file before the pipe is closed
        if process.stderr is not None:
            process.stderr.close()


def _wait_for_lines(path: Path, count: int, timeout: float = 20) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
            if len(lines) >= count:
                return lines
        time.sleep(0.1)
    raise AssertionError(f"{path} did not reach {count} lines in {timeout}s")


def test_serve_handles_answers_and_stops_on_sigterm(
    tmp_path: Path, env: dict[str, str], pucheng: tuple[subprocess.Popen[str], Lines]
) -> None:
    process, logs = pucheng
    ready = json.loads(logs.wait_for('"serve.ready"'))  # JSON lines: stderr is not a terminal
    assert ready["agency"] == examples.PUCHENG

    alert = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    (tmp_path / "alert.json").write_text(alert.model_dump_json(), encoding="utf-8")
    published = subprocess.run(
        _silian("publish", str(tmp_path / "alert.json"), "--type", "alert.issued", "--json",
                "--agency", examples.JIANGSHAN),
        env=env, cwd=REPO, check=True, capture_output=True, text=True,
    )  # fmt: skip
    event_id = json.loads(published.stdout)["event_id"]

    handled = _wait_for_lines(tmp_path / "handled.jsonl", 1)
    assert handled[0]["ce_id"] == event_id
    delivered = json.loads(logs.wait_for('"serve.delivered"'))
    assert delivered["event_id"] == event_id
    assert delivered["handled"] is True

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    logs.wait_for('"serve.stopped"')

    with sqlite3.connect(tmp_path / "state" / examples.PUCHENG / "effects.sqlite") as db:
        rows = db.execute("SELECT ce_id, ce_type FROM effects").fetchall()
    assert rows == [(event_id, "cn.silian.alert.issued.v1")]

    # Restarted, the service resumes after what it committed: nothing is handled again,
    # and Jiangshan has Pucheng's answers once it has read them.
    for agency in (examples.PUCHENG, examples.JIANGSHAN):
        subprocess.run(
            _silian("serve", "--once", "--agency", agency),
            env=env, cwd=REPO, check=True, capture_output=True,
        )  # fmt: skip
    assert len(_wait_for_lines(tmp_path / "handled.jsonl", 1)) == 1
    status = subprocess.run(
        _silian("status", "--json", "--agency", examples.JIANGSHAN),
        env=env, cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    (event,) = json.loads(status.stdout)["events"]
    states = {r["agency"]: r["state"] for r in event["recipients"]}
    assert states[examples.PUCHENG] == "handled"
