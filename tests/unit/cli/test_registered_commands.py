"""Command groups of the packages above the bus reach ``silian`` through the
``silian.commands`` entry points: ``silian agency`` comes from ``adapters`` (bus never
imports it), and a registered group that cannot be loaded costs one warning line, not the
command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bus.cli import COMMAND_GROUPS
from bus.cli.main import build_parser, main

SILIAN = str(Path(sys.executable).with_name("silian"))  # the installed console script

# --help order: the bus's own running commands, the registered groups, the managing ones.
COMMANDS = [
    "demo", "publish", "status", "watch", "serve",
    "agency",
    "topics", "audit", "contracts", "keys", "agreement", "quarantine", "state", "dev",
]  # fmt: skip


def _listed(help_text: str) -> list[str]:
    """The sub-commands --help lists, in its order."""
    names = []
    for line in help_text.splitlines():
        words = line.split()
        if line.startswith("    ") and not line.startswith("     ") and words:
            names.append(words[0])
    return names


def test_the_agency_group_is_registered_by_the_adapters_and_listed_after_serve() -> None:
    assert _listed(build_parser().format_help()) == COMMANDS


def test_agency_commands_run_from_the_registered_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["agency", "check", "--config", str(tmp_path / "not-there.toml")])
    assert code == 2
    assert capsys.readouterr().err.startswith("silian: error: config ")


def _plugins(root: Path) -> Path:
    """A real distribution on the path registering three groups that cannot load: one whose
    import fails, one without register(), one taking the name of a built-in command."""
    (root / "silian_broken_group.py").write_text(
        "import silian_missing_dependency\n", encoding="utf-8"
    )
    (root / "silian_empty_group.py").write_text('"""No register() here."""\n', encoding="utf-8")
    info = root / "silian_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: silian-plugins\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[{COMMAND_GROUPS}]\nbroken = silian_broken_group\nempty = silian_empty_group\n"
        "topics = silian_empty_group\n",
        encoding="utf-8",
    )
    return root


def test_a_group_that_cannot_load_is_one_warning_and_the_rest_works(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(_plugins(tmp_path))}
    ran = subprocess.run(
        [SILIAN, "--help"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.splitlines() == [
        "silian: warning: command group 'broken' (silian_broken_group) not loaded: "
        "ModuleNotFoundError: No module named 'silian_missing_dependency'",
        "silian: warning: command group 'empty' (silian_empty_group) not loaded: "
        "it has no register(subparsers)",
        "silian: warning: command group 'topics' (silian_empty_group) not loaded: "
        "the name is one of silian's own commands",
    ]
    assert _listed(ran.stdout) == COMMANDS

    # and a command of the bus still runs, its verdict untouched
    ran = subprocess.run(
        [SILIAN, "contracts", "list", "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0
    assert '"cn.silian.alert.issued.v1"' in ran.stdout
    assert len(ran.stderr.splitlines()) == 3
