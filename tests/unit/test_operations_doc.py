"""docs/operations.md, "Changing the federation while it runs", walked command by command.

Every ``silian`` line of the section's shell blocks runs as written, in order, through the
real CLI on the embedded transport — the one-time set-up of the three agencies first (the
section starts from a running federation). A comment line ``# on Changshan's machine``
switches to Changshan's own key folder, ``# on a member's machine`` back; a trailing one
applies to its line. ``serve`` runs with ``--once``. The same commands run against three
``serve`` processes on Kafka in tests/integration/cli/test_live_federation.py.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.unit.cli.conftest import Ran, Setup, setup, silian

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
SECTION = "## Changing the federation while it runs"

__all__ = ["setup", "silian"]  # the CLI tests' fixtures, used here too


def _section_commands() -> Iterator[tuple[str, list[str]]]:
    """(machine, argv after ``silian``) for each command of the section, in order."""
    text = DOC.read_text(encoding="utf-8")
    body = text[text.index(SECTION) + len(SECTION) :]
    end = body.find("\n## ")
    body = body if end < 0 else body[:end]
    machine = "member"
    in_block = False
    for line in body.splitlines():
        if line.startswith("```"):
            in_block = line.startswith("```sh")
            continue
        if not in_block:
            continue
        stripped = line.strip()
        if stripped.startswith("#"):
            if "on Changshan's machine" in stripped:
                machine = "changshan"
            elif "on a member's machine" in stripped:
                machine = "member"
            continue
        words = shlex.split(line, comments=True)
        if not words:
            continue
        assert words[0] == "silian", f"not a silian command in the section: {line!r}"
        here = "changshan" if "# on Changshan's machine" in line else machine
        yield here, words[1:]


def test_the_section_has_the_commands_it_promises() -> None:
    commands = [" ".join(argv[:2]) for _, argv in _section_commands()]
    for wanted in ("keys rotate", "keys revoke", "agreement next", "agreement publish",
                   "keys export", "keys import", "serve --agency", "quarantine retry"):  # fmt: skip
        assert any(c.startswith(wanted) for c in commands), wanted


def test_every_command_of_the_section_runs_as_written(
    setup: Setup, silian: Callable[..., Ran], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where `keys export --out 常山.keys.json` writes
    assert silian("topics", "apply").code == 0
    member_keys = str(setup.root / "fed" / "keys")
    changshan_keys = str(tmp_path / "changshan-keys")
    ran = []
    for machine, written in _section_commands():
        monkeypatch.setenv(
            "SILIAN_KEY_DIR", changshan_keys if machine == "changshan" else member_keys
        )
        argv = [*written, "--once"] if written[0] == "serve" else written
        if argv[:2] == ["agreement", "next"]:
            # Versions take effect at whole seconds: an operator is never this quick.
            time.sleep(1.0 - time.time() % 1.0 + 0.01)
        result = silian(*argv)
        shown = f"silian {' '.join(argv)} (on {machine}'s machine): {result.err}"
        if argv[:2] in (["quarantine", "show"], ["quarantine", "release"]):  # an example origin
            assert result.code in (0, 2), shown
            assert len(result.err.strip().splitlines()) <= 1, shown
        else:
            assert result.code == 0, shown
        ran.append(argv[:2])
    assert ["agreement", "publish"] in ran
    shown = silian("agreement", "show", "--json")
    assert shown.code == 0, shown.err
    members = {m["code"] for m in shown.json()["members"]}
    assert "330822000000" in members  # Changshan joined: v4 verified, signed by all
