"""``silian quarantine list | show | retry`` on the embedded transport.

Guangfeng's record, signed with a key the agreement did not declare yet, is refused by
Jiangshan (unknown-key); the operator sees it listed with its reason, reads it in full,
the members sign v2 declaring the key, and ``retry --curable`` delivers it — once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from agencies import KeyAlg
from bus.envelope.ids import now
from bus.node.topics import TopicPlan
from bus.transport.embedded import EmbeddedTransport
from contracts import examples
from contracts.alerts import AlertIssued
from tests.integration.bus.craft import craft

from .conftest import Ran, Setup

JS, PC, GF = examples.JIANGSHAN, examples.PUCHENG, examples.GUANGFENG


def _send_with_undeclared_key(setup: Setup) -> None:
    """Guangfeng's alert signed with the key ``keys rotate`` just made (v1 does not know it)."""
    keys = setup.fed.keystore
    new = keys.current(GF, KeyAlg.ED25519, at=now())
    alert = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    crafted = craft(
        setup.fed,
        agency=GF,
        event=alert.model_copy(update={"alert_id": "JPG-Q-1"}),
        signer=keys.signing_key(new.key_id),
        key_id=new.key_id,
        partitions=TopicPlan().family_partitions,
    )

    async def send() -> None:
        async with EmbeddedTransport(setup.state / "embedded.sqlite") as transport:
            await transport.send(crafted.record)

    asyncio.run(send())


def test_list_show_and_retry_deliver_a_cured_record_once(
    setup: Setup, silian: Callable[..., Ran]
) -> None:
    assert silian("topics", "apply").code == 0
    rotated_at = now() - timedelta(seconds=30)
    setup.fed.keystore.rotate(GF, now=rotated_at)
    _send_with_undeclared_key(setup)
    assert silian("serve", "--once", "--agency", JS).code == 0

    listed = silian("quarantine", "list", "--agency", JS, "--json")
    assert listed.code == 0, listed.err
    (row,) = listed.json()["records"]
    assert (row["reason"], row["signer"], row["curable"], row["rejudged"]) == (
        "unknown-key",
        None,
        True,
        None,
    )
    assert "not declared in jpg v1" in row["detail"]
    assert listed.json()["by_reason"] == {"unknown-key": 1}
    text = silian("quarantine", "list", "--agency", JS)
    assert "unknown-key" in text.out
    assert "1 records in quarantine of 江山市公安局" in text.out

    shown = silian("quarantine", "show", row["origin"], "--agency", JS, "--json")
    assert shown.code == 0, shown.err
    assert shown.json()["headers"]["ce_source"] == f"urn:silian:agency:{GF}"
    assert '"JPG-Q-1"' in shown.json()["value"]
    missing = silian("quarantine", "show", "silian.jpg.alert.v1/0/999", "--agency", JS)
    assert missing.code == 2
    assert missing.err.startswith("silian: error: no record from silian.jpg.alert.v1/0/999")

    # Not cured yet: judged again, still unknown, left where it is.
    early = silian("quarantine", "retry", "--curable", "--agency", JS, "--json")
    assert early.code == 1, early.err
    assert early.json()["retried"][0]["outcome"] == "quarantined:unknown-key"

    # v2 declares the key from the rotation on; every member signs it.
    effective = (rotated_at + timedelta(seconds=1)).isoformat()
    assert silian("agreement", "next", "--effective-from", effective).code == 0
    for code in (JS, PC, GF):
        assert silian("agreement", "sign", "--agency", code).code == 0
    cured = silian("quarantine", "retry", "--curable", "--agency", JS, "--json")
    assert cured.code == 0, cured.err
    assert cured.json()["delivered"] == 1
    again = silian("quarantine", "retry", "--curable", "--agency", JS, "--json")
    assert again.json() == {"agency": JS, "retried": [], "delivered": 0}
    after = silian("quarantine", "list", "--agency", JS, "--json").json()["records"]
    assert after[0]["rejudged"] == "delivered"
    assert silian("quarantine", "retry", "--agency", JS).err.startswith(
        "silian: error: which records?"
    )
