"""``silian contracts example TYPE``: a valid event of every type, as ``publish`` reads it,
and docs/events.md showing each one (regenerate: ``SILIAN_WRITE_DOCS=1 pytest`` this file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bus.cli.contracts import example_text
from bus.cli.publish import read_event
from contracts.examples import example_events
from contracts.registry import REGISTRY, EventSpec, spec_for_model
from tests.unit.conftest import RunCli

DOC = Path(__file__).resolve().parents[3] / "docs" / "events.md"


@pytest.mark.parametrize("spec", REGISTRY.specs(), ids=lambda s: s.ce_type)
def test_every_event_type_has_an_example_that_publish_reads(
    spec: EventSpec, cli: RunCli, tmp_path: Path
) -> None:
    code, out, err = cli("contracts", "example", spec.ce_type)
    assert code == 0, err
    path = tmp_path / "event.json"
    path.write_text(out, encoding="utf-8")
    event = read_event(str(path), spec)  # what `silian publish FILE --type TYPE` does
    assert spec_for_model(event) is spec
    assert event in example_events()


def test_a_short_name_gives_the_newest_version(cli: RunCli) -> None:
    code, short, _ = cli("contracts", "example", "alert.issued")
    assert code == 0
    assert short == cli("contracts", "example", "alert.issued.v1")[1]
    assert "浙H·12345" in short  # Chinese as it is, not \\u escapes


def test_an_unknown_type_is_one_line(cli: RunCli) -> None:
    code, out, err = cli("contracts", "example", "alert.sent")
    assert code == 2
    assert out == ""
    assert err == "silian: error: unknown event type 'alert.sent'; see: silian contracts list\n"


def _page() -> str:
    parts = [
        "# An example of every event type\n\n",
        "Each is valid against its contract and is what `silian publish FILE --type TYPE`\n",
        "reads; `silian contracts example TYPE` prints it, to copy and edit. Together they\n",
        "tell the 四联 story of `contracts/examples.py`. This page is written by\n",
        "`SILIAN_WRITE_DOCS=1 pytest tests/unit/cli/test_contracts_example.py`, and that\n",
        "test fails when it is out of date.\n",
    ]
    for spec in REGISTRY.specs():
        parts.append(
            f"\n## `{spec.event_type}` v{spec.version}\n\n"
            f"`{spec.ce_type}` — family `{spec.family.value}`, record key "
            f"`{spec.key_field}`, topic `{spec.topic_pattern}`.\n\n"
            f"```json\n{example_text(spec)}```\n"
        )
    return "".join(parts)


def test_the_docs_show_every_example() -> None:
    page = _page()
    if os.environ.get("SILIAN_WRITE_DOCS"):
        DOC.write_text(page, encoding="utf-8")
    assert DOC.read_text(encoding="utf-8") == page, (
        "docs/events.md is out of date: SILIAN_WRITE_DOCS=1 pytest " + __file__
    )
