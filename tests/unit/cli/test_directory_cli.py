"""The CLI names every member of the agreement: a county bureau from the shipped data
(常山县公安局, onboarded as a fourth member) and a station only the agreement declares."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from agencies import (
    AgencyKind,
    Agreement,
    AgreementFolder,
    Member,
    agreement_bytes,
    init_agreement,
    load_template,
    parse_agreement,
    sign_as,
)
from bus.envelope.ids import now
from contracts import examples
from contracts.alerts import AlertIssued
from tests.unit.cli.conftest import Ran, Setup

CHANGSHAN = "330822000000"
STATION = "330822510001"  # no shipped file knows it
STATION_ZH = "常山县公安局测试派出所"


@pytest.fixture
def onboarded(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> Setup:
    """jpg with 常山县公安局 and a station as members, signed by all five, on disk."""
    keystore = setup.fed.keystore
    start = now() - timedelta(minutes=1)
    jpg = load_template("jpg")
    template = jpg.model_copy(update={"members": (*jpg.members, CHANGSHAN)})
    document, _ = init_agreement(template, keystore, start, effective_from=start)
    keystore.new(STATION, now=start)
    station = Member(
        code=STATION,
        name_zh=STATION_ZH,
        name_en="Changshan County PSB Test Station",
        kind=AgencyKind.POLICE,
        keys=keystore.records(STATION),
    )
    agreement = parse_agreement(document).model_dump()
    agreement["members"] = [*agreement["members"], station.model_dump()]
    document = agreement_bytes(Agreement.model_validate(agreement))
    folder = AgreementFolder(setup.root / "onboarded")
    version = folder.write_version(document)
    members = [m.code for m in parse_agreement(document).members]
    folder.write_signatures(
        version, [sign_as(document, signer=m, keystore=keystore) for m in members]
    )
    monkeypatch.setenv("SILIAN_AGREEMENT_DIR", str(setup.root / "onboarded"))
    return setup


def test_publish_status_and_watch_name_every_member(
    onboarded: Setup, silian: Callable[..., Ran]
) -> None:
    assert silian("topics", "apply").code == 0
    event = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    path = onboarded.root / "alert.json"
    path.write_text(event.model_dump_json(), encoding="utf-8")
    published = silian(
        "publish", str(path), "--type", "alert.issued", "--agency", examples.JIANGSHAN
    )
    assert published.code == 0, published.err
    awaiting = next(line for line in published.out.splitlines() if "awaiting" in line)
    assert "常山县公安局" in awaiting
    assert STATION_ZH in awaiting

    status = silian("status", "--agency", examples.JIANGSHAN)
    assert status.code == 0, status.err
    assert f"常山县公安局 ({CHANGSHAN})  未回复 no answer" in status.out
    assert f"{STATION_ZH} ({STATION})  未回复 no answer" in status.out
    report = silian("status", "--agency", examples.JIANGSHAN, "--json").json()
    names = {r["agency"]: r["agency_name"] for r in report["events"][0]["recipients"]}
    assert names[CHANGSHAN] == "常山县公安局"
    assert names[STATION] == STATION_ZH

    watched = silian("watch", "alerts", "--no-follow", "--json", "--agency", CHANGSHAN)
    assert watched.code == 0, watched.err
    issued = next(line for line in watched.json_lines() if line["event_type"] == "alert.issued")
    assert issued["agency_name"] == "江山市公安局"
    assert "常山县公安局" in issued["pending_names"]
    assert STATION_ZH in issued["pending_names"]
