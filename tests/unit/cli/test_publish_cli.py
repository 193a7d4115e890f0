"""``silian publish``: validate, publish as the agency, print coordinates; one-line errors."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agencies.keys import KeyAlg
from contracts import examples
from contracts.alerts import AlertIssued
from tests.unit.cli.conftest import Ran, Setup


def issued_json() -> str:
    event = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    return event.model_dump_json()


@pytest.fixture
def provisioned(setup: Setup, silian: Callable[..., Ran]) -> Setup:
    assert silian("topics", "apply").code == 0
    return setup


def _write(path: Path, text: str | bytes) -> str:
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


def test_publish_prints_coordinates(provisioned: Setup, silian: Callable[..., Ran]) -> None:
    event_file = _write(provisioned.root / "alert.json", issued_json())
    ran = silian("publish", event_file, "--type", "alert.issued", "--agency", examples.JIANGSHAN)
    assert ran.code == 0, ran.err
    fed = provisioned.fed.federation_id
    assert "published cn.silian.alert.issued.v1 " in ran.out
    assert f"silian.{fed}.alert.v1/" in ran.out
    assert "浦城县公安局" in ran.out
    assert "上饶市公安局广丰分局" in ran.out


def test_publish_json_from_stdin(
    provisioned: Setup, silian: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(issued_json().encode())))
    ran = silian(
        "publish", "-", "--type", "cn.silian.alert.issued.v1", "--agency", examples.JIANGSHAN,
        "--priority", "routine", "--json",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    out = ran.json()
    assert out["ce_type"] == "cn.silian.alert.issued.v1"
    assert out["subject"] == "JS-ALERT-2024-0117"
    assert out["topic"] == f"silian.{provisioned.fed.federation_id}.alert.v1"
    assert out["offset"] == 0
    assert out["seq"] == 1
    assert out["time"].endswith("+08:00")
    assert sorted(out["recipients"]) == [examples.PUCHENG, examples.GUANGFENG]


def _one_line_error(ran: Ran, code: int, *needles: str) -> None:
    assert ran.code == code
    assert ran.out == ""
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, ran.err
    assert lines[0].startswith("silian: error: ")
    for needle in needles:
        assert needle in lines[0]


def test_bad_json_is_one_line(provisioned: Setup, silian: Callable[..., Ran]) -> None:
    bad = _write(provisioned.root / "bad.json", '{"alert_id": ')
    ran = silian("publish", bad, "--type", "alert.issued", "--agency", examples.JIANGSHAN)
    _one_line_error(ran, 2, "bad.json", "not JSON", "line 1")


def test_not_utf8_is_one_line(provisioned: Setup, silian: Callable[..., Ran]) -> None:
    bad = _write(provisioned.root / "gbk.json", '{"reason": "江山"}'.encode("gb18030"))
    ran = silian("publish", bad, "--type", "alert.issued", "--agency", examples.JIANGSHAN)
    _one_line_error(ran, 2, "not UTF-8")


def test_schema_error_names_the_field(provisioned: Setup, silian: Callable[..., Ran]) -> None:
    data = json.loads(issued_json())
    del data["reason"]
    bad = _write(provisioned.root / "no-reason.json", json.dumps(data, ensure_ascii=False))
    ran = silian("publish", bad, "--type", "alert.issued", "--agency", examples.JIANGSHAN)
    _one_line_error(ran, 2, "'reason'", "alert.issued")


def test_unknown_type_is_one_line(provisioned: Setup, silian: Callable[..., Ran]) -> None:
    event_file = _write(provisioned.root / "alert.json", issued_json())
    ran = silian("publish", event_file, "--type", "alert.issud", "--agency", examples.JIANGSHAN)
    _one_line_error(ran, 2, "unknown event type 'alert.issud'")


def test_missing_agency_is_one_line(provisioned: Setup, silian: Callable[..., Ran]) -> None:
    event_file = _write(provisioned.root / "alert.json", issued_json())
    ran = silian("publish", event_file, "--type", "alert.issued")
    _one_line_error(ran, 2, "--agency")


def test_receipts_are_not_published_by_hand(provisioned: Setup, silian: Callable[..., Ran]) -> None:
    event_file = _write(provisioned.root / "r.json", "{}")
    ran = silian("publish", event_file, "--type", "receipt.received", "--agency", examples.PUCHENG)
    _one_line_error(ran, 2, "silian serve")


def test_unprovisioned_topic_says_what_to_run(setup: Setup, silian: Callable[..., Ran]) -> None:
    event_file = _write(setup.root / "alert.json", issued_json())
    ran = silian("publish", event_file, "--type", "alert.issued", "--agency", examples.JIANGSHAN)
    _one_line_error(ran, 1, "silian topics apply")


def test_a_swapped_private_key_is_refused_before_anything_is_published(
    provisioned: Setup, silian: Callable[..., Ran]
) -> None:
    keystore = provisioned.fed.keystore
    now = datetime.now(UTC)
    mine = keystore.current(examples.JIANGSHAN, KeyAlg.ED25519, at=now).key_id
    theirs = keystore.current(examples.PUCHENG, KeyAlg.ED25519, at=now).key_id
    private = keystore.directory / "private"
    mine_file = private / (mine.replace(":", "_") + ".pem")
    kept = mine_file.read_bytes()
    mine_file.write_bytes((private / (theirs.replace(":", "_") + ".pem")).read_bytes())
    event_file = _write(provisioned.root / "alert.json", issued_json())
    argv = ("publish", event_file, "--type", "alert.issued", "--agency", examples.JIANGSHAN)
    ran = silian(*argv, "--json")
    assert ran.code == 1
    assert ran.out == ""
    assert ran.err.count("\n") == 1
    assert ran.err.startswith(
        f"silian: error: private key file {mine_file} does not hold key {mine}"
    )
    mine_file.write_bytes(kept)
    ran = silian(*argv, "--json")
    assert ran.code == 0, ran.err
    assert ran.json()["offset"] == 0  # the refused publish sent nothing
