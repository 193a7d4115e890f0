"""The declarative mapping: local records ⇄ contract events, and its error messages."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from adapters.base import BadLocalDataError, LocalRecord
from adapters.mapping import load_mapping
from bus.envelope.ids import FEDERATION_TZ
from bus.errors import ConfigError
from contracts.alerts import AlertIssued
from contracts.disputes import DisputeReported

EXAMPLES = Path(__file__).parents[3] / "adapters" / "examples"

ALERT = {
    "alert_no": "JS-ALERT-2024-0117",
    "subject_type": "车辆",
    "plate": "浙H·12345",
    "subject_description": "白色面包车",
    "reason": "涉嫌电信诈骗取款车辆",
    "markers": "逃跑风险, 持械",
    "action_on_hit": "跟踪并通报江山",
    "priority": "特急",
    "area": "330881,350722",
    "review_at": "2024-05-13 09:00",
}


def _record(fields: dict[str, str], kind: str = "alert") -> LocalRecord:
    return LocalRecord(local_id="change:1", kind=kind, fields=fields, where="api record 7")


def test_outbound_renames_value_maps_splits_and_dates() -> None:
    mapping = load_mapping(EXAMPLES / "jiangshan.mapping.toml")
    event = mapping.to_event(_record(ALERT))
    assert isinstance(event, AlertIssued)
    assert event.alert_id == "JS-ALERT-2024-0117"
    assert event.priority == "urgent"  # 特急 → urgent
    assert event.subject.kind == "vehicle"
    assert event.subject.plate == "浙H·12345"  # type: ignore[union-attr]
    assert event.warning_markers == ("escape_risk", "armed")
    assert event.area == ("330881", "350722")
    assert event.review_at == datetime(2024, 5, 13, 9, 0, tzinfo=FEDERATION_TZ)
    assert event.handling.code == "H1"


def test_unknown_code_names_record_field_and_known_codes() -> None:
    mapping = load_mapping(EXAMPLES / "jiangshan.mapping.toml")
    with pytest.raises(BadLocalDataError) as caught:
        mapping.to_event(_record({**ALERT, "priority": "火急"}))
    message = str(caught.value)
    assert message.startswith("api record 7: ")
    assert "'priority' (from 'priority')" in message
    assert "'火急'" in message
    assert "特急" in message


def test_missing_field_and_bad_date_are_named() -> None:
    mapping = load_mapping(EXAMPLES / "jiangshan.mapping.toml")
    missing = {k: v for k, v in ALERT.items() if k != "reason"}
    with pytest.raises(BadLocalDataError, match=r"api record 7: field 'reason'.*missing"):
        mapping.to_event(_record(missing))
    with pytest.raises(BadLocalDataError, match=r"'review_at'.*'13/05/2024'.*%Y-%m-%d %H:%M"):
        mapping.to_event(_record({**ALERT, "review_at": "13/05/2024"}))


def test_contract_violation_is_traced_to_the_local_field() -> None:
    mapping = load_mapping(EXAMPLES / "jiangshan.mapping.toml")
    with pytest.raises(BadLocalDataError, match=r"field 'area' \(from 'area'\)"):
        mapping.to_event(_record({**ALERT, "area": "99999x"}))


def test_a_rule_across_fields_is_bad_data_naming_the_record(tmp_path: Path) -> None:
    """Issue 10: a contract's check across fields has no field to name; the message code
    raised IndexError instead, and the record blocked every one behind it."""
    path = tmp_path / "patrols.mapping.toml"
    path.write_text(
        """
[outbound.patrol]
event = "patrol.planned"
[outbound.patrol.fields]
patrol_id = "编号"
agencies = { from = "单位", split = "," }
area = { from = "区域", split = "," }
route = "路线"
starts_at = { from = "开始", date = "%Y-%m-%d %H:%M" }
ends_at = { from = "结束", date = "%Y-%m-%d %H:%M" }
handling = { const = { code = "H1", tlp = "AMBER" } }
""",
        encoding="utf-8",
    )
    fields = {"编号": "GF-P-1", "单位": "361103000000", "区域": "361103", "路线": "界碑",
              "开始": "2030-05-06 10:00", "结束": "2030-05-06 09:00"}  # fmt: skip
    with pytest.raises(BadLocalDataError) as raised:
        load_mapping(path).to_event(_record(fields, kind="patrol"))
    assert str(raised.value) == (
        "api record 7: Value error, ends_at must be after starts_at "
        "(cn.silian.patrol.planned.v1, mapping patrols.mapping.toml [outbound.patrol])"
    )


def test_unknown_kind_is_bad_data() -> None:
    mapping = load_mapping(EXAMPLES / "jiangshan.mapping.toml")
    with pytest.raises(BadLocalDataError, match="record kind 'memo' has no \\[outbound\\]"):
        mapping.to_event(_record(ALERT, kind="memo"))


def test_list_indexes_and_kind_words_build_nested_contracts() -> None:
    mapping = load_mapping(EXAMPLES / "guangfeng.mapping.toml")
    row = {
        "记录类型": "纠纷上报", "纠纷编号": "GF-DSP-1", "纠纷类别": "山林", "甲方": "张三",
        "甲方区划": "361103", "甲方身份": "村民", "乙方": "李四", "乙方区划": "330881",
        "乙方身份": "村民", "地点区划": "361103", "地点": "交界处山林", "概况": "界址争执",
    }  # fmt: skip
    event = mapping.to_event(_record(row, kind="纠纷上报"))
    assert isinstance(event, DisputeReported)
    assert [p.name.zh for p in event.parties] == ["张三", "李四"]
    assert event.parties[1].division == "330881"
    assert event.category == "forest"
    one_party = {k: v for k, v in row.items() if not k.startswith("乙方")}
    assert len(mapping.to_event(_record(one_party, kind="纠纷上报")).parties) == 1  # type: ignore[attr-defined]


def test_inbound_inverts_maps_formats_dates_templates_and_picks() -> None:
    jiangshan = load_mapping(EXAMPLES / "jiangshan.mapping.toml")
    event = jiangshan.to_event(_record(ALERT))
    moment = datetime(2024, 5, 6, 9, 0, tzinfo=FEDERATION_TZ)
    guangfeng = load_mapping(EXAMPLES / "guangfeng.mapping.toml")
    local = guangfeng.to_local(
        event, event_id="E1", source="330881000000", ce_type="cn.silian.alert.issued.v1",
        time=moment,
    )  # fmt: skip
    assert local.kind == "alert"
    assert local.fields["优先级"] == "特急"  # urgent → the first local code that maps to it
    assert local.fields["预警范围"] == "330881,350722"
    assert local.fields["复核时间"] == "2024-05-13 09:00"
    assert local.fields["发布单位"] == "330881000000"
    assert local.fields["预警对象"] == "浙H·12345 白色面包车"
    pucheng = load_mapping(EXAMPLES / "pucheng.mapping.toml")
    row = pucheng.to_local(
        event, event_id="E1", source="330881000000", ce_type="cn.silian.alert.issued.v1",
        time=moment,
    ).fields  # fmt: skip
    assert row["division"] == "350722"  # picked from the alert's area
    assert row["subject"] == "vehicle: 浙H·12345 白色面包车"


def test_inbound_value_without_local_code_is_bad_data(tmp_path: Path) -> None:
    mapping_file = tmp_path / "m.toml"
    mapping_file.write_text(
        '[values.priority]\n"特急" = "urgent"\n'
        '[inbound.alert]\nevent = "alert.issued"\n'
        '[inbound.alert.fields]\n"优先级" = { from = "priority", map = "priority" }\n',
        encoding="utf-8",
    )
    event = load_mapping(EXAMPLES / "jiangshan.mapping.toml").to_event(
        _record({**ALERT, "priority": "一般"})
    )
    with pytest.raises(BadLocalDataError, match="no code for 'routine'"):
        load_mapping(mapping_file).to_local(
            event, event_id="E9", source="330881000000", ce_type="cn.silian.alert.issued.v1",
            time=datetime(2024, 5, 6, tzinfo=FEDERATION_TZ),
        )  # fmt: skip


_HIT = '[outbound.a]\nevent = "alert.hit"\n[outbound.a.fields]\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[outbound.a]\nevent = "alert.nope"\n[outbound.a.fields]\nx = "y"\n', "unknown event"),
        (_HIT + 'nope = "y"\n', "has no field 'nope'"),
        (_HIT + 'hit_id = { from = "a", const = 1 }\n', "exactly one of"),
        (_HIT + 'hit_id = { from = "a", map = "zz" }\n', "no [values.zz] table"),
        (_HIT + 'hit_id = { meta = "source" }\n', "meta is one of"),
        (_HIT + 'hit_id = { from = "a", bogus = 1 }\n', "unknown rule keys"),
        ('[kinds]\n"预警" = "missing"\n', "names no [outbound.missing]"),
        ("this is = not toml [", "not valid TOML"),
    ],
)
def test_mapping_errors_name_the_file_and_section(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "agency.mapping.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_every_example_mapping_loads() -> None:
    for path in sorted(EXAMPLES.glob("*.mapping.toml")):
        mapping = load_mapping(path)
        assert mapping.outbound or mapping.inbound, path
