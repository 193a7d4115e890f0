"""One structlog setup: JSON off a terminal, context bound, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest
import structlog

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
