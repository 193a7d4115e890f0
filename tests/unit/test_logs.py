"""One structlog setup: JSON off a terminal, context bound, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from bus.errors import ConfigError
from bus.logs import bound_record, configure_logging, get_logger


def test_json_lines_carry_bound_record_context_and_redact_secrets() -> None:
    out = io.StringIO()  # not a terminal: JSON by default
    configure_logging(fmt="auto", level="INFO", stream=out)
    log = get_logger("test")
    with bound_record(event_id="019a-e1", topic="silian.jpg.alert.v1", agency="330881000000"):
        log.info("record.verified", private_key="s3cr3t-bytes")
    log.info("outside")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["event"] == "record.verified"
    assert first["event_id"] == "019a-e1"
    assert first["topic"] == "silian.jpg.alert.v1"
    assert first["agency"] == "330881000000"
    assert first["private_key"] == "[redacted]"
    assert "s3cr3t" not in out.getvalue()
    assert "event_id" not in second  # context ends with the block
    assert first["timestamp"][-6] in "+-" or first["timestamp"].endswith("Z")


def test_console_format_is_readable_not_json() -> None:
    out = io.StringIO()
    configure_logging(fmt="console", level="INFO", stream=out)
    get_logger().info("hello", agency="350722000000")
    line = out.getvalue()
    assert "hello" in line
    assert "agency" in line
    assert not line.lstrip().startswith("{")


def test_times_carry_the_federations_offset_and_library_lines_are_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """+08:00 whatever zone the machine runs in; aiokafka's stdlib lines rendered alike."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        out = io.StringIO()
        configure_logging(fmt="json", level="INFO", stream=out)
        get_logger("silian.test").warning("ours")
        logging.getLogger("aiokafka.conn").error("Unable connect to %r", "127.0.0.1:1")
        ours, theirs = (json.loads(line) for line in out.getvalue().splitlines())
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
        structlog.reset_defaults()
        logging.basicConfig(force=True, handlers=[logging.NullHandler()])
    assert ours["timestamp"].endswith("+08:00")
    assert theirs == {
        "event": "Unable connect to '127.0.0.1:1'",
        "logger": "aiokafka.conn",
        "level": "error",
        "timestamp": theirs["timestamp"],
    }
    assert theirs["timestamp"].endswith("+08:00")


@pytest.fixture
def reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    logging.basicConfig(force=True, handlers=[logging.NullHandler()])


@pytest.mark.usefixtures("reset_logging")
def test_a_log_file_gets_every_line_as_json_while_stderr_keeps_its_rendering(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    path = tmp_path / "silian.jsonl"
    configure_logging(fmt="console", level="INFO", stream=out, file=path)
    get_logger("silian.test").info("ours", agency="350722000000", passphrase="hunter2-long")
    logging.getLogger("aiokafka.conn").error("Unable connect to %r", "127.0.0.1:1")
    ours, theirs = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    assert ours["event"] == "ours"
    assert ours["agency"] == "350722000000"
    assert ours["passphrase"] == "[redacted]"
    assert ours["timestamp"].endswith("+08:00")
    assert theirs["logger"] == "aiokafka.conn"
    assert theirs["timestamp"].endswith("+08:00")
    console = out.getvalue()
    assert "ours" in console
    assert "Unable connect" in console
    assert not console.lstrip().startswith("{")  # stderr stays as asked: console
    assert "hunter2" not in console + path.read_text(encoding="utf-8")


@pytest.mark.usefixtures("reset_logging")
def test_the_file_is_appended_to_and_made_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "silian.jsonl"
    old = os.umask(0)
    try:
        configure_logging(fmt="json", level="INFO", stream=io.StringIO(), file=path)
        get_logger().info("first")
        configure_logging(fmt="json", level="INFO", stream=io.StringIO(), file=path)
        get_logger().info("second")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    events = [json.loads(line)["event"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert events == ["first", "second"]


@pytest.mark.usefixtures("reset_logging")
def test_a_file_logrotate_moved_or_removed_is_made_again(tmp_path: Path) -> None:
    path = tmp_path / "silian.jsonl"
    configure_logging(fmt="json", level="INFO", stream=io.StringIO(), file=path)
    log = get_logger()
    log.info("before")
    path.rename(tmp_path / "silian.jsonl.1")
    log.info("after the move")
    path.unlink()
    log.info("after the removal")
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == [
        "after the removal"
    ]
    moved = (tmp_path / "silian.jsonl.1").read_text()
    assert [json.loads(line)["event"] for line in moved.splitlines()] == ["before"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.usefixtures("reset_logging")
def test_a_failing_write_is_said_once_and_never_stops_the_caller(
    capsys: pytest.CaptureFixture[str],
) -> None:
    full = Path("/dev/full")  # every write fails with ENOSPC, as on a full disk
    assert full.exists(), "/dev/full is in every Linux (the suite runs on Linux)"
    out = io.StringIO()
    configure_logging(fmt="json", level="INFO", stream=out, file=full)
    log = get_logger()
    log.info("one")
    log.info("two")
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 1
    assert warnings[0].startswith("silian: warning: log file /dev/full: ")
    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == ["one", "two"]


@pytest.mark.usefixtures("reset_logging")
def test_a_log_file_that_cannot_be_opened_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file or directory"):
        configure_logging(file=tmp_path / "missing" / "silian.jsonl")
    with pytest.raises(ConfigError, match="Is a directory"):
        configure_logging(file=tmp_path)
