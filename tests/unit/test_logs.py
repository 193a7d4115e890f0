"""One structlog setup: JSON off a terminal, context bound, secrets redacted."""

from __future__ import annotations

import io
import json

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
