"""``silian topics apply|list`` on the embedded transport."""

from __future__ import annotations

from collections.abc import Callable

from contracts.topics import family_topics, quarantine_topic
from tests.unit.cli.conftest import Ran, Setup


def test_apply_creates_then_changes_nothing(setup: Setup, silian: Callable[..., Ran]) -> None:
    fed = setup.fed.federation_id
    first = silian("topics", "apply")
    assert first.code == 0, first.err
    for name in family_topics(fed):
        assert f"created       {name}" in first.out
    for member in setup.fed.members:  # every member's quarantine topic, not just ours
        assert f"created       {quarantine_topic(fed, member)}" in first.out
    second = silian("topics", "apply", "--json")
    assert second.code == 0
    report = second.json()
    assert report["changed"] is False
    assert report["created"] == []
    assert report["reconfigured"] == []
    assert quarantine_topic(fed, setup.fed.members[0]) in report["unchanged"]
    assert "nothing changed" in silian("topics", "apply").out


def test_apply_reconfigures_and_reports_old_value(setup: Setup, silian: Callable[..., Ran]) -> None:
    assert silian("topics", "apply").code == 0
    again = silian("topics", "apply", "--min-insync", "2", "--json")
    assert again.code == 0
    changes = again.json()["reconfigured"]
    assert changes
    assert {(c["config"], c["old"], c["new"]) for c in changes} == {
        ("min.insync.replicas", "1", "2")
    }


def test_list_says_what_is_missing(setup: Setup, silian: Callable[..., Ran]) -> None:
    before = silian("topics", "list")
    assert before.code == 1
    assert "MISSING (run: silian topics apply)" in before.out
    silian("topics", "apply", "--partitions", "3", "--case", "JS-CASE-2024-031")
    after = silian("topics", "list", "--json", "--partitions", "3", "--case", "JS-CASE-2024-031")
    assert after.code == 0
    rows = {row["topic"]: row for row in after.json()}
    fed = setup.fed.federation_id
    assert rows[f"silian.{fed}.alert.v1"]["partitions"] == 3
    assert rows[f"silian.{fed}.case.JS-CASE-2024-031"]["exists"] is True
    assert rows[f"silian.{fed}.alert.v1"]["configs"]["retention.ms"] == "-1"


def test_missing_agreement_is_one_line(setup: Setup, silian: Callable[..., Ran]) -> None:
    ran = silian("topics", "apply", "--agreement", str(setup.root / "nowhere"))
    assert ran.code != 0
    assert ran.err.count("\n") == 1
    assert "no agreement" in ran.err


def test_retention_comes_from_the_flags(setup: Setup, silian: Callable[..., Ran]) -> None:
    applied = silian(
        "topics", "apply", "--retention-days", "30", "--quarantine-retention-days", "7", "--json"
    )
    assert applied.code == 0, applied.err
    listed = silian("topics", "list", "--json").json()
    by_name = {t["topic"]: t for t in listed}
    alert = next(t for n, t in by_name.items() if n.endswith(".alert.v1"))
    quarantine = next(t for n, t in by_name.items() if ".quarantine." in n)
    assert alert["configs"]["retention.ms"] == str(30 * 86_400_000)
    assert quarantine["configs"]["retention.ms"] == str(7 * 86_400_000)
    bad = silian("topics", "apply", "--retention-days", "0")
    assert bad.code == 2
    assert "retention of 0 days" in bad.err
