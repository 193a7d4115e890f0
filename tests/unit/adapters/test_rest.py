"""The REST adapter against the reference case system, on a real loopback HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.base import InboundEvent, LocalRejectionError, LocalUnavailableError
from adapters.config import LocalSection
from adapters.reference.rest_case_system import RestCaseSystem
from adapters.rest import RestConfig, RestSystem


@pytest.fixture
def case_system() -> Iterator[RestCaseSystem]:
    system = RestCaseSystem().start()
    yield system
    system.stop()


def _adapter(url: str, state: Path) -> RestSystem:
    section = LocalSection(
        kind="rest", settings={"base_url": url, "timeout": 2}, base_dir=state,
        state_dir=state, source="jiangshan.toml [local]",
    )  # fmt: skip
    return RestSystem(RestConfig.from_section(section))


async def test_changes_come_in_order_and_the_cursor_survives_a_restart(
    case_system: RestCaseSystem, tmp_path: Path
) -> None:
    adapter = _adapter(case_system.url, tmp_path)
    await adapter.start()
    case_system.create("alert", {"alert_no": "JS-1"})
    case_system.create("alert", {"alert_no": "JS-2"})
    first = await adapter.fetch_outbound()
    assert [(r.kind, r.fields["alert_no"]) for r in first] == [("alert", "JS-1"), ("alert", "JS-2")]
    assert first[0].where.endswith("/api/records/JS-ALERT-0001 (change 1)")
    await adapter.confirm_outbound(first[0])
    await adapter.stop()

    again = _adapter(case_system.url, tmp_path)  # a restart: resumes after change 1
    await again.start()
    assert [r.local_id for r in await again.fetch_outbound()] == ["change:2"]
    await again.set_aside(first[1], "field 'priority': unknown code")
    assert case_system.rejections() == [{"cursor": 2, "reason": "field 'priority': unknown code"}]
    assert await again.fetch_outbound() == []
    await again.stop()


async def test_inbound_is_idempotent_and_refusals_are_rejections(
    case_system: RestCaseSystem, tmp_path: Path
) -> None:
    adapter = _adapter(case_system.url, tmp_path)
    await adapter.start()
    hit = InboundEvent(
        event_id="E-1", source="350722000000", ce_type="cn.silian.alert.hit.v1", kind="hit",
        fields={"alert_no": "JS-1", "hit_no": "H-1", "seen_at": "2024-05-06", "place": "G205"},
    )  # fmt: skip
    await adapter.write_inbound(hit)
    await adapter.write_inbound(hit)
    assert len(case_system.inbound()) == 1
    assert case_system.records("hit")[0]["data"]["hit_no"] == "H-1"
    incomplete = InboundEvent(
        event_id="E-2", source="350722000000", ce_type="cn.silian.alert.hit.v1", kind="hit",
        fields={"alert_no": "JS-1"},
    )  # fmt: skip
    with pytest.raises(LocalRejectionError, match=r"HTTP 422.*lacks hit_no, seen_at, place"):
        await adapter.write_inbound(incomplete)
    await adapter.stop()


async def test_an_unreachable_case_system_is_unavailable_not_refused(tmp_path: Path) -> None:
    system = RestCaseSystem().start()
    url = system.url
    system.stop()
    adapter = _adapter(url, tmp_path)
    await adapter.start()
    with pytest.raises(LocalUnavailableError, match="ConnectError"):
        await adapter.fetch_outbound()
    with pytest.raises(LocalUnavailableError):
        await adapter.write_inbound(
            InboundEvent(event_id="E", source="x", ce_type="t", kind="hit", fields={})
        )
    await adapter.stop()
