"""``silian quarantine release``: an officer lets one refused record through — signed, once.

Guangfeng's alert arrives at Jiangshan with its chain's first record missing (a
``sequence-gap``); an officer of Jiangshan releases it. Guangfeng receives the signed
``receipt.released`` naming the officer, the reason waived and the record's hash, then the
usual receipts; the audit of the period lists the release beside the gap it waived. A
second release, a release of a record refused for who signed it, and a forged release are
all refused.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from agencies import AgreementFolder, KeyAlg
from bus.audit.runner import export_bundle
from bus.envelope.ids import now
from bus.node.topics import TopicPlan
from bus.transport.embedded import EmbeddedTransport
from contracts import examples
from contracts.alerts import AlertIssued, AlertUpdated
from contracts.receipts import ReceiptReleased, RecordRef
from contracts.topics import family_topics
from tests.integration.bus.craft import craft

from .conftest import Ran, Setup

JS, PC, GF = examples.JIANGSHAN, examples.PUCHENG, examples.GUANGFENG
OFFICER = "江山市公安局指挥中心 李警官"


def _send(setup: Setup, *records: Any) -> None:
    async def send() -> None:
        async with EmbeddedTransport(setup.state / "embedded.sqlite") as transport:
            for record in records:
                await transport.send(record)

    asyncio.run(send())


def _alert(alert_id: str) -> AlertIssued:
    alert = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    return alert.model_copy(update={"alert_id": alert_id})


def _ledger(setup: Setup, agency: str, ce_type: str) -> list[tuple[str, dict[str, Any]]]:
    """(source, data) of the events of ``ce_type`` (any version) in ``agency``'s ledger."""
    with sqlite3.connect(setup.state / agency / f"{agency}.sqlite") as db:
        rows = db.execute(
            "SELECT source, data FROM ledger WHERE ce_type LIKE ? ORDER BY position",
            (f"cn.silian.{ce_type}.v%",),
        ).fetchall()
    return [(str(source), json.loads(data)) for source, data in rows]


def _quarantined(silian: Callable[..., Ran], agency: str) -> list[dict[str, Any]]:
    listed = silian("quarantine", "list", "--agency", agency, "--json")
    assert listed.code == 0, listed.err
    rows: list[dict[str, Any]] = listed.json()["records"]
    return rows


def test_an_officer_releases_a_record_once_and_its_issuer_is_told(
    setup: Setup, silian: Callable[..., Ran]
) -> None:
    assert silian("topics", "apply").code == 0
    partitions = TopicPlan().family_partitions
    gap = craft(setup.fed, agency=GF, event=_alert("JPG-REL-1"), seq=2, partitions=partitions)
    _send(setup, gap.record)
    assert silian("serve", "--once", "--agency", JS).code == 0
    (row,) = _quarantined(silian, JS)
    assert row["reason"] == "sequence-gap"
    origin = row["origin"]

    no_officer = silian("quarantine", "release", origin, "--agency", JS, "--because", "x")
    assert no_officer.code == 2
    assert no_officer.err.startswith("silian: error: who releases it?")

    released = silian(
        "quarantine", "release", origin, "--agency", JS, "--officer", OFFICER,
        "--because", "前序记录经电话核实已作废 / seq 1 was withdrawn, confirmed by phone",
        "--json",
    )  # fmt: skip
    assert released.code == 0, released.err
    done = released.json()
    assert (done["refused_for"], done["outcome"], done["source"]) == (
        "sequence-gap",
        "delivered",
        GF,
    )
    assert done["record_hash"] == gap.hash
    # Jiangshan has the alert now, kept as released.
    assert [d["alert_id"] for _, d in _ledger(setup, JS, "alert.issued")] == ["JPG-REL-1"]
    assert _quarantined(silian, JS)[0]["rejudged"] == "released"

    # Once: a second release of the same record is refused, and nothing more is signed.
    twice = silian(
        "quarantine", "release", origin, "--agency", JS, "--officer", OFFICER, "--because", "再次"
    )
    assert twice.code == 1
    assert twice.err.startswith(f"silian: error: cannot release {origin}: it is settled already")

    # Guangfeng, the issuer, reads the signed release and then the usual answers.
    assert silian("serve", "--once", "--agency", GF).code == 0
    ((signer, release),) = _ledger(setup, GF, "receipt.released")
    assert signer == f"urn:silian:agency:{JS}"
    assert release["officer"] == OFFICER
    assert release["refused_for"] == "sequence-gap"
    assert release["origin"] == origin
    assert release["answers"]["record_hash"] == gap.hash
    assert release["answers"]["ce_id"] == gap.attributes.id
    answered = {d["answers"]["ce_id"] for _, d in _ledger(setup, GF, "receipt.handled")}
    assert gap.attributes.id in answered

    # The audit of the period: the gap is an anomaly of Guangfeng's chain, and the release
    # that waived it is listed, signed by Jiangshan, naming the officer and the record.
    bundle = setup.root / "period.bundle"

    async def export() -> None:
        async with EmbeddedTransport(setup.state / "embedded.sqlite") as transport:
            await export_bundle(
                transport,
                family_topics(setup.fed.federation_id),
                bundle,
                folder=AgreementFolder(setup.root / "agreement"),
                federation=setup.fed.federation_id,
                idle=0.2,
            )

    asyncio.run(export())
    audited = silian("audit", "replay", "--bundle", str(bundle), "--quiet", "--json")
    report = audited.json()
    assert "sequence-gap" in report["counts"]
    (listed,) = report["releases"]
    assert (listed["by"], listed["issuer"], listed["officer"]) == (JS, GF, OFFICER)
    assert (listed["refused_for"], listed["record_hash"]) == ("sequence-gap", gap.hash)
    text = silian("audit", "replay", "--bundle", str(bundle), "--quiet")
    assert "released by an officer (1, signed receipt.released)" in text.out


def test_a_release_never_waives_who_signed_a_record(
    setup: Setup, silian: Callable[..., Ran]
) -> None:
    assert silian("topics", "apply").code == 0
    keys = setup.fed.keystore
    keys.rotate(GF, now=now())
    new = keys.current(GF, KeyAlg.ED25519, at=now())
    unknown = craft(
        setup.fed,
        agency=GF,
        event=_alert("JPG-REL-2"),
        signer=keys.signing_key(new.key_id),
        key_id=new.key_id,
        partitions=TopicPlan().family_partitions,
    )
    _send(setup, unknown.record)
    assert silian("serve", "--once", "--agency", JS).code == 0
    (row,) = _quarantined(silian, JS)
    assert row["reason"] == "unknown-key"
    refused = silian(
        "quarantine", "release", row["origin"], "--agency", JS, "--officer", OFFICER,
        "--because", "看起来没问题",
    )  # fmt: skip
    assert refused.code == 1
    assert "refused for unknown-key" in refused.err
    assert "no officer may waive that" in refused.err
    assert len(refused.err.strip().splitlines()) == 1
    assert _ledger(setup, JS, "alert.issued") == []
    assert _ledger(setup, JS, "receipt.released") == []  # nothing was signed


def test_a_lifecycle_refusal_is_released_and_a_forged_release_is_refused(
    setup: Setup, silian: Callable[..., Ran]
) -> None:
    assert silian("topics", "apply").code == 0
    partitions = TopicPlan().family_partitions
    # An update of an alert Jiangshan never saw: refused for its lifecycle.
    update = next(e for _, e in examples.example_story() if isinstance(e, AlertUpdated))
    orphan = craft(
        setup.fed,
        agency=GF,
        event=update.model_copy(update={"alert_id": "JPG-REL-3"}),
        partitions=partitions,
    )
    _send(setup, orphan.record)
    assert silian("serve", "--once", "--agency", JS).code == 0
    (row,) = _quarantined(silian, JS)
    assert row["reason"] == "lifecycle"
    released = silian(
        "quarantine", "release", row["origin"], "--agency", JS, "--officer", OFFICER,
        "--because", "原始协查通报已由传真收到 / the alert itself came by fax", "--json",
    )  # fmt: skip
    assert released.code == 0, released.err
    assert [d["alert_id"] for _, d in _ledger(setup, JS, "alert.updated")] == ["JPG-REL-3"]
    # Jiangshan opens again with it in its ledger (the lifecycle never held it): no error.
    assert _quarantined(silian, JS)[0]["rejudged"] == "released"

    # A release Jiangshan never signed: Pucheng's key over Jiangshan's name.
    forged_release = ReceiptReleased(
        answers=RecordRef(
            ce_source=f"urn:silian:agency:{GF}",
            ce_id="0190a1b2-0000-7000-8000-00000000f0f0",
            ce_type="cn.silian.alert.issued.v1",
            record_hash="ab" * 32,
        ),
        released_at=now(),
        refused_for="sequence-gap",
        origin="silian.jpg.alert.v1/0/7",
        officer="冒名 impostor",
        justification="forged",
    )
    pc_key = setup.fed.keystore.current(PC, KeyAlg.ED25519, at=now())
    js_key = setup.fed.keystore.current(JS, KeyAlg.ED25519, at=now())
    forged = craft(
        setup.fed,
        agency=JS,
        event=forged_release,
        signer=setup.fed.keystore.signing_key(pc_key.key_id),
        key_id=js_key.key_id,
        chain_id=f"{JS}.forged.p0",
        partitions=partitions,
    )
    _send(setup, forged.record)
    assert silian("serve", "--once", "--agency", GF).code == 0
    kept = [r for r in _quarantined(silian, GF) if r["reason"] == "bad-signature"]
    assert len(kept) == 1, _quarantined(silian, GF)
    officers = [d["officer"] for _, d in _ledger(setup, GF, "receipt.released")]
    assert officers == [OFFICER]  # the real release only
