"""``silian contracts`` sub-commands, driven through argparse like main() does."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bus.cli import contracts as cli
from bus.cli._common import ExitCode
from contracts.registry import REGISTRY


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="silian")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["contracts", *argv])
    return int(args.func(args))


def test_list_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("list") == ExitCode.OK
    text = capsys.readouterr().out
    assert "alert.issued" in text
    assert "silian.{federation}.case.{caseId}" in text
    assert _run("list", "--json") == ExitCode.OK
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(REGISTRY)
    assert {"ce_type", "version", "family", "topic", "key"} <= set(rows[0])


def test_export_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("check", "--dir", str(tmp_path)) == ExitCode.FAILED
    assert "missing" in capsys.readouterr().out
    assert _run("export", "--dir", str(tmp_path)) == ExitCode.OK
    assert (tmp_path / "asyncapi.json").is_file()
    capsys.readouterr()
    assert _run("check", "--dir", str(tmp_path), "--json") == ExitCode.OK
    assert json.loads(capsys.readouterr().out) == {"ok": True, "problems": []}


def test_check_fails_on_incompatible_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run("export", "--dir", str(tmp_path))
    path = tmp_path / "schemas" / "alert.issued.v1.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["properties"]["legacy_ref"] = {"type": "string"}
    path.write_text(json.dumps(schema), encoding="utf-8")
    capsys.readouterr()
    assert _run("check", "--dir", str(tmp_path), "--json") == ExitCode.FAILED
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    [problem] = report["problems"]
    assert problem["kind"] == "incompatible"
    assert "field removed: $.legacy_ref" in problem["detail"]
    assert "v2" in problem["detail"]


def test_committed_exports_pass_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("check") == ExitCode.OK
    assert "up to date" in capsys.readouterr().out
