"""`silian demo --kafka` runs the same scenario over the real cluster."""

from __future__ import annotations

import json

import pytest

from bus.cli.main import main

pytestmark = pytest.mark.kafka


def test_demo_over_kafka(kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--kafka", kafka_bootstrap, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["transport"] == f"Kafka {kafka_bootstrap}"
    assert report["federation"].startswith("jpg-demo-")
    assert report["published"] == 28
    assert report["delivered"] == 56
    assert {q["reason"] for q in report["quarantined"]} == {
        "unknown-key",
        "bad-signature",
        "duplicate",
    }
