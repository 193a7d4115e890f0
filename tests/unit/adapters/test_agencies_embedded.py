"""Three adapters, three reference local systems, one embedded bus: every hop, and a cut
link during which outbound events wait in the outbox and then drain in order."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from adapters.demo import run_adapter_demo


async def test_every_hop_between_the_three_local_systems(tmp_path: Path) -> None:
    lines: list[str] = []
    summary = await run_adapter_demo(directory=tmp_path, emit=lines.append)
    text = "\n".join(lines)
    # alert via Jiangshan's API → Pucheng's database and Guangfeng's inbox folder
    db = sqlite3.connect(tmp_path / "pucheng.db")
    alerts = db.execute("SELECT alert_id, division, priority FROM alerts_received").fetchall()
    assert len(alerts) == 3
    assert {(d, p) for _, d, p in alerts} == {("350722", "urgent"), ("350722", "routine")}
    inbox = sorted((tmp_path / "guangfeng" / "inbox").glob("alert_*.xml"))
    assert len(inbox) == 4  # the three, and the one for Jiangshan and Guangfeng only
    assert "浙H·12345".encode("gbk") in b"".join(p.read_bytes() for p in inbox)
    # hit in Pucheng's database → Jiangshan's case system
    assert "→ 江山 case system: hit 350722000000-H-1" in text
    # dispute settled in Guangfeng's export → Jiangshan and Pucheng
    assert db.execute("SELECT count(*) FROM disputes").fetchone()[0] == 1
    assert "→ 江山 case system: dispute_settled GF-DSP-" in text
    # the cut link: two alerts waited in Jiangshan's outbox, then arrived in order
    assert "江山 outbox holds 2 events; health degraded" in text
    later = sorted(r for (r,) in db.execute("SELECT alert_id FROM alerts_received"))[1:]
    assert len(later) == 2
    # Two alerts are two entities (two partitions): arrival order between them is not
    # promised; the order they left Jiangshan's outbox in is — the bus ledger keeps it.
    ledger = sqlite3.connect(tmp_path / "state" / "330881000000" / "330881000000.sqlite")
    sent = [
        json.loads(data)["alert_id"]
        for ce_type, data in ledger.execute("SELECT ce_type, data FROM ledger ORDER BY position")
        if ce_type == "cn.silian.alert.issued.v1"
    ]
    assert [a for a in sent if a in later] == later
    # the bad export row was set aside with its reason, not dropped
    reason = next((tmp_path / "guangfeng" / "rejected").glob("*.reason.txt"))
    assert "unknown code '宅基地'" in reason.read_text(encoding="utf-8")
    assert summary["guangfeng"]["set_aside"] == 1
    # a record Pucheng's database refuses: kept there with the reason, answered rejected
    assert "350722000000: " in summary["rejected"]
    assert "division Pucheng does not serve" in summary["rejected"]
    assert db.execute("SELECT status FROM silian_inbox WHERE status = 'rejected'").fetchall()
    # once each: nothing applied twice, nothing pending or refused
    assert summary["pucheng"]["inbound"] == {"applied": 4, "rejected": 1}
    assert summary["jiangshan"]["inbound"] == {"applied": 3}
    for name in ("jiangshan", "pucheng", "guangfeng"):
        report = summary[name]
        assert report["outbox_pending"] == 0
        assert report["publish_failed"] == 0
    health = json.loads((tmp_path / "state" / "330881000000" / "health.json").read_text("utf-8"))
    assert health["agency"] == "330881000000"
    db.close()
