"""Fixtures of the unit tests: a federation on a fixed clock (tests/unit/histories.py) and
``cli``, the ``silian`` command run in-process."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from tests.unit.histories import Federation, build_federation


@pytest.fixture
def federation(tmp_path: Path) -> Federation:
    return build_federation(tmp_path)


RunCli = Callable[..., tuple[int, str, str]]
"""``cli("agreement", "verify", ...)`` → (exit code, stdout, stderr)."""


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Iterator[RunCli]:
    # bus.cli re-exports the function main, which shadows the module of the same name.
    cli_main = importlib.import_module("bus.cli.main")

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli_main.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    # main() points logging at this test's captured stderr; undo it for later tests.
    structlog.reset_defaults()
    logging.basicConfig(force=True, handlers=[logging.NullHandler()])
