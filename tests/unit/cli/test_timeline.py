"""bus.cli.timeline: every event type has its Chinese name; lines read as officers expect."""

from __future__ import annotations

from datetime import UTC, datetime

from bus.cli.timeline import EVENT_LABELS, event_label, render_line, result_json
from bus.node.results import Outcome, Result
from bus.reasons import Reason
from bus.transport.base import Coordinates
from contracts import examples
from contracts.alerts import AlertIssued
from contracts.registry import REGISTRY

_AT = Coordinates(topic="silian.jpg.alert.v1", partition=0, offset=7)


def test_every_event_type_has_a_label() -> None:
    assert {spec.event_type for spec in REGISTRY.specs()} <= set(EVENT_LABELS)
    assert event_label("cn.silian.alert.issued.v1") == "预警发布 alert.issued"


def test_delivered_line_and_json() -> None:
    event = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
    result = Result(
        outcome=Outcome.DELIVERED,
        coordinates=_AT,
        event_id="e-1",
        source=examples.JIANGSHAN,
        ce_type="cn.silian.alert.issued.v1",
        time=datetime(2024, 5, 6, 1, 0, 5, tzinfo=UTC),
        event=event,
    )
    line = render_line(result, pending=[examples.PUCHENG])
    assert line.startswith(
        "09:00:05 +08:00  江山市公安局  预警发布 alert.issued  JS-ALERT-2024-0117"
    )
    assert line.endswith("✔ 已验证 verified  待回复 pending: 浦城县公安局")
    data = result_json(result, pending=[examples.PUCHENG])
    assert data["time"] == "2024-05-06T09:00:05+08:00"
    assert data["pending_names"] == ["浦城县公安局"]
    assert data["verified"] is True


def test_quarantined_line_names_the_reason() -> None:
    result = Result(
        outcome=Outcome.QUARANTINED,
        coordinates=_AT,
        reason=Reason.BAD_SIGNATURE,
        detail="signature does not verify",
    )
    line = render_line(result, pending=[])
    assert line.startswith("--:--:--  ?  ?  signature does not verify")
    assert line.endswith("✘ 隔离 quarantined: bad-signature")
    assert result_json(result)["verified"] is False
