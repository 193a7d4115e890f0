"""``silian --log-file PATH`` (or ``$SILIAN_LOG_FILE``): a service's log lines, as JSON, in
a file of its own, beside stderr."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from contracts import examples
from tests.unit.cli.conftest import Ran, Setup


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield  # main() pointed logging at this test's stderr and file; undo it
    structlog.reset_defaults()
    logging.basicConfig(force=True, handlers=[logging.NullHandler()])


def _events(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_serve_logs_to_the_file_before_or_after_the_command(
    setup: Setup, silian: Callable[..., Ran], tmp_path: Path
) -> None:
    assert silian("topics", "apply").code == 0
    before, after = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    ran = silian("--log-file", str(before), "serve", "--once", "--agency", examples.PUCHENG)
    assert ran.code == 0, ran.err
    ran = silian("serve", "--once", "--agency", examples.PUCHENG, "--log-file", str(after))
    assert ran.code == 0, ran.err
    for path in (before, after):
        lines = _events(path)
        assert [line["event"] for line in lines][-1] == "serve.stopped"
        assert "serve.ready" in {line["event"] for line in lines}
        assert all(line["timestamp"].endswith("+08:00") for line in lines)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_variable_names_the_file_and_the_flag_wins(
    setup: Setup, silian: Callable[..., Ran], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert silian("topics", "apply").code == 0
    from_env, from_flag = tmp_path / "env.jsonl", tmp_path / "flag.jsonl"
    monkeypatch.setenv("SILIAN_LOG_FILE", str(from_env))
    assert silian("serve", "--once", "--agency", examples.PUCHENG).code == 0
    assert "serve.stopped" in {line["event"] for line in _events(from_env)}
    size = from_env.stat().st_size
    ran = silian("serve", "--once", "--agency", examples.PUCHENG, "--log-file", str(from_flag))
    assert ran.code == 0, ran.err
    assert from_env.stat().st_size == size  # the flag's file took the lines instead
    assert "serve.stopped" in {line["event"] for line in _events(from_flag)}


def test_a_log_file_that_cannot_be_made_is_one_line_and_exit_2(
    setup: Setup, silian: Callable[..., Ran], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-folder" / "serve.jsonl"
    ran = silian("serve", "--once", "--agency", examples.PUCHENG, "--log-file", str(missing))
    assert ran.code == 2
    assert ran.err == f"silian: error: log file {missing}: No such file or directory\n"
