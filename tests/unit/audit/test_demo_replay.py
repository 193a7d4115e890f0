"""The demo's history (embedded transport) replays clean but for the three records the demo
injects on purpose, each found at its offset."""

from __future__ import annotations

from pathlib import Path

import pytest

from agencies.folder import AgreementFolder
from bus.audit.replay import ReplayOptions
from bus.audit.runner import replay_transport
from bus.cli.scenario import run_demo
from bus.transport.embedded import EmbeddedTransport
from tests.unit.audit.demo_history import injected, keep_federation, write_agreement


@pytest.mark.timeout(120)
async def test_the_demo_history_replays_clean_but_for_its_injected_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = keep_federation(monkeypatch, tmp_path)
    report = await run_demo(directory=tmp_path / "demo", emit=lambda _: None)
    assert len(report.quarantined) >= 3  # the demo's own consumers refused them too
    history = write_agreement(made[0], tmp_path)
    agreements = AgreementFolder(history.agreement).history()  # as an auditor reads it
    async with EmbeddedTransport(tmp_path / "demo" / "embedded.sqlite") as transport:
        expected = await injected(transport, history.federation)
        audit = await replay_transport(
            transport,
            history.topics,
            agreements,
            federation=history.federation.federation_id,
            options=ReplayOptions(workers=1),
            idle=0.3,
        )
    found = sorted((a.kind.value, a.topic, a.partition, a.offset) for a in audit.anomalies)
    assert found == sorted(expected), [(a.kind, a.where, a.detail) for a in audit.anomalies]
    assert audit.records > 30  # the whole story: alerts, a case, a dispute, receipts
