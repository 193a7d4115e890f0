"""`silian demo` on the embedded default: the whole scenario, verified and answered."""

from __future__ import annotations

import json

import pytest

from bus.cli.main import main


def test_demo_runs_the_scenario_and_quarantines_the_injected_records(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["transport"] == "embedded SQLite"
    assert report["published"] == 28
    # Every non-receipt event reaches both neighbours, verified and handled.
    assert report["delivered"] == 2 * report["published"]
    timeline = report["timeline"]
    events = [line for line in timeline if "✔" in line]
    assert len(events) == 28
    assert not any("未回执" in line for line in events if "liaison" not in line)
    assert any("alert.hit" in line and "浦城县公安局" in line for line in events)
    assert any("case.closed" in line and "🔒sealed" in line for line in events)
    reasons = {q["reason"] for q in report["quarantined"]}
    assert reasons == {"unknown-key", "bad-signature", "duplicate"}
    # The forged and the tampered record are refused by all three agencies, the replay by the
    # two that had accepted the original (the issuer skips its own record).
    assert len(report["quarantined"]) == 8
