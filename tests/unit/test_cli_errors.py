"""Every CLI error is one line and an exit code that means something, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.cli.main import main


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
