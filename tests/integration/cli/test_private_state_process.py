"""Real ``silian`` processes under the most permissive umask leave only private state:
every folder under the state folder 0700, every file 0600."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from contracts import examples
from contracts.alerts import AlertIssued
from tests.unit.cli.conftest import bus_env, write_federation

REPO = Path(__file__).resolve().parents[3]


def _run(env: dict[str, str], *argv: str) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "bus.cli.main", *argv],
        env=env, cwd=REPO, capture_output=True, text=True, check=False, umask=0o000,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr


def test_serve_once_leaves_only_private_state(tmp_path: Path) -> None:
    write_federation(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILIAN_")}
    env.update(bus_env(tmp_path))
    alert = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    (tmp_path / "alert.json").write_text(alert.model_dump_json(), encoding="utf-8")

    _run(env, "topics", "apply")
    _run(env, "publish", str(tmp_path / "alert.json"), "--type", "alert.issued",
         "--agency", examples.JIANGSHAN)  # fmt: skip
    # Pucheng handles the alert (decrypted content in effects.sqlite) and keeps the log;
    # Jiangshan reads the answers and witnesses Pucheng's checkpoint.
    handle_log = str(tmp_path / "state" / "handled.jsonl")
    _run(env, "serve", "--once", "--agency", examples.PUCHENG, "--log-keeper",
         "--checkpoint-records", "1", "--handle-log", handle_log)  # fmt: skip
    _run(env, "serve", "--once", "--agency", examples.JIANGSHAN)

    state = tmp_path / "state"
    found = {p.relative_to(state).as_posix(): p for p in [state, *state.rglob("*")]}
    modes = {name: f"{stat.S_IMODE(p.stat().st_mode):04o}" for name, p in found.items()}
    wanted = {name: "0700" if p.is_dir() else "0600" for name, p in found.items()}
    assert modes == wanted
    # What the test covers: each kind of state silian keeps was made under umask 000.
    assert {
        "embedded.sqlite",
        "handled.jsonl",
        f"{examples.PUCHENG}/{examples.PUCHENG}.sqlite",
        f"{examples.PUCHENG}/effects.sqlite",
        f"{examples.PUCHENG}/merkle.sqlite",
        f"{examples.JIANGSHAN}/{examples.JIANGSHAN}.sqlite",
        f"{examples.JIANGSHAN}/witness-{examples.PUCHENG}.json",
    } <= set(found)
