"""Every CLI error is one line and an exit code that means something, never a traceback."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from bus.cli._common import ExitCode
from bus.cli.main import main, run
from bus.errors import ConfigError
from bus.logs import configure_logging
from bus.settings import check_bootstrap
from contracts import examples
from contracts.alerts import AlertIssued
from contracts.topics import family_topics
from tests.unit.cli.conftest import bus_env, write_federation


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "replay", "--bundle", "{missing}"],
        ["audit", "verify-bundle", "{missing}"],
        ["agency", "run", "--config", "{missing}"],
        ["publish", "{missing}", "--type", "alert.issued", "--agency", "330881000000"],
        ["agreement", "verify", "--agreement", "{missing}"],
    ],
)
def test_a_missing_file_is_one_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "not-there")
    code = main([a.replace("{missing}", missing) for a in argv])
    err = capsys.readouterr().err
    assert code in (1, 2)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("silian: error:")
    assert "not-there" in lines[0]


@pytest.fixture
def cli_logs_reset() -> Iterator[None]:
    yield
    # main() points logging at the test's captured stderr; undo it for later tests.
    structlog.reset_defaults()
    logging.basicConfig(force=True, handlers=[logging.NullHandler()])


@pytest.fixture
def federation_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signed federation on disk, named by the environment: only the flag is wrong."""
    write_federation(tmp_path)
    for name in ("SILIAN_AGENCY", "SILIAN_KAFKA_BOOTSTRAP", "SILIAN_EMBEDDED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in bus_env(tmp_path).items():
        monkeypatch.setenv(name, value)


def _write_to_a_pipe_nobody_reads(_: argparse.Namespace) -> int:
    """A command whose own pipe (not stdout) broke, as a worker's does when it died."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        os.write(writer, b"work for a worker")
    finally:
        os.close(writer)
    return ExitCode.OK


def test_an_unexpected_error_is_one_line_and_exit_70(
    capsys: pytest.CaptureFixture[str], cli_logs_reset: None
) -> None:
    configure_logging(fmt="json", level="WARNING")
    code = run(argparse.Namespace(func=_write_to_a_pipe_nobody_reads))
    err = capsys.readouterr().err
    assert code == ExitCode.INTERNAL == 70
    assert err.splitlines() == [
        "silian: internal error: BrokenPipeError: [Errno 32] Broken pipe "
        "(run again with --log-level DEBUG for the traceback)"
    ]


def test_at_debug_an_internal_error_shows_its_traceback(
    capsys: pytest.CaptureFixture[str], cli_logs_reset: None
) -> None:
    configure_logging(fmt="json", level="DEBUG")
    code = run(argparse.Namespace(func=_write_to_a_pipe_nobody_reads))
    lines = capsys.readouterr().err.splitlines()
    assert code == 70
    logged = json.loads(lines[0])
    assert logged["event"] == "cli.internal_error"
    assert "_write_to_a_pipe_nobody_reads" in logged["exception"]
    assert lines[-1].startswith("silian: internal error: BrokenPipeError")


@pytest.mark.parametrize("given", ["BOGUS", "warn", "10"])
def test_an_unknown_log_level_is_refused(
    given: str, capsys: pytest.CaptureFixture[str], cli_logs_reset: None
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--log-level", given, "contracts", "list"])
    assert stopped.value.code == 2
    assert "argument --log-level: invalid choice" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown log level"):
        configure_logging(level=given)


@pytest.mark.parametrize(
    "argv",
    [
        ["--log-level", "info", "keys", "new", "--keys", "{dir}"],
        ["keys", "new", "--keys", "{dir}", "--log-level", "INFO"],
        ["keys", "--log-level", "Info", "new", "--keys", "{dir}"],
        ["--log-level", "ERROR", "keys", "new", "--keys", "{dir}", "--log-level", "info"],
        ["keys", "new", "--keys", "{dir}", "--log-format", "json", "--log-level", "info"],
    ],
)
def test_log_flags_go_before_or_after_the_sub_command(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], cli_logs_reset: None
) -> None:
    given = [a.replace("{dir}", str(tmp_path / "keys")) for a in argv]
    assert main([*given, "--agency", "330881000000"]) == 0
    err = capsys.readouterr().err
    assert "keys.created" in err  # logged at INFO; the default level (WARNING) hides it
    assert main(["keys", "list", "--keys", str(tmp_path / "keys")]) == 0
    assert "keys.created" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value", "named"),
    [
        ("--kafka", "x::", "--kafka 'x::'"),
        ("--kafka", "localhost:9092,", "'' is not HOST:PORT"),
        ("--kafka", "localhost", "'localhost' is not HOST:PORT"),
        ("--kafka", "localhost:99999", "'localhost:99999' is not HOST:PORT"),
        ("--kafka", "::1:9092", "an IPv6 address goes in brackets"),
        ("--state", "{file}", "state folder (--state, $SILIAN_STATE_DIR) {file} is not a folder"),
        ("--state", "{file}/sub", "({file} is a file)"),
        ("--keys", "{file}", "key folder (--keys, $SILIAN_KEY_DIR) {file} is not a folder"),
        ("--embedded", "{dir}", "embedded transport file {dir} is a folder"),
    ],
)
@pytest.mark.usefixtures("cli_logs_reset", "federation_env")
def test_bus_flags_that_cannot_be_used_are_one_line(
    flag: str, value: str, named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    places = {"{file}": str(tmp_path / "a-file"), "{dir}": str(tmp_path)}
    for mark, place in places.items():
        value, named = value.replace(mark, place), named.replace(mark, place)
    event = tmp_path / "event.json"
    alert = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    event.write_text(alert.model_dump_json())
    argv = ["publish", str(event), "--type", "alert.issued", "--agency", "330881000000"]
    code = main([*argv, flag, value])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert len(err.splitlines()) == 1
    assert err.startswith("silian: error: ")
    assert named in err


@pytest.mark.usefixtures("cli_logs_reset", "federation_env")
def test_a_bad_bootstrap_from_the_environment_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SILIAN_KAFKA_BOOTSTRAP", "broker:9092;broker2:9092")
    code = main(["status", "--agency", "330881000000"])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert err.startswith("silian: error: $SILIAN_KAFKA_BOOTSTRAP 'broker:9092;broker2:9092'")


@pytest.mark.parametrize("servers", ["127.0.0.1:9092", "a.b-c_d:1,e:65535", "[::1]:9092, h:2"])
def test_a_bootstrap_list_is_kept_as_given(servers: str) -> None:
    assert check_bootstrap(servers, source="--kafka") == servers


def test_deeply_nested_json_on_stdin_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cli_logs_reset: None
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(deep)))
    code = main(["publish", "-", "--type", "alert.issued", "--agency", "330881000000"])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert err.splitlines() == [
        "silian: error: stdin: nests arrays and objects deeper than 32 levels "
        "(every receiver would refuse it)"
    ]


def _closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once, for real."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.usefixtures("cli_logs_reset", "federation_env")
@pytest.mark.parametrize("command", [["status"], ["topics", "list"]])
def test_kafka_that_does_not_answer_exits_3(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """No broker at --kafka is something outside silian in the way (docs/cli.md), not a
    failure of the command: exit 3, one error line, aiokafka's own lines as JSON."""
    where = f"127.0.0.1:{_closed_port()}"
    code = main([*command, "--agency", "330881000000", "--kafka", where])
    err = capsys.readouterr().err.splitlines()
    assert code == ExitCode.ENVIRONMENT
    assert err[-1].startswith(f"silian: error: connecting to Kafka at {where} failed")
    for line in err[:-1]:  # the client library's lines go through the same renderer
        assert json.loads(line)["logger"].startswith("aiokafka")


def test_audit_topics_add_to_the_family_topics_and_only_replaces_them() -> None:
    from bus.cli.audit import topics_of  # noqa: PLC0415

    fed = "jpg"
    families = family_topics(fed)
    case = "silian.jpg.case.JS-2024-001"
    given = argparse.Namespace(topic=[case, families[0], case], only=None)
    assert topics_of(given, fed) == [*families, case]
    assert topics_of(argparse.Namespace(topic=None, only=[case]), fed) == [case]
    both = argparse.Namespace(topic=[families[1]], only=[case])
    assert topics_of(both, fed) == [case, families[1]]
