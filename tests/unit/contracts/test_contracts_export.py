"""Checked-in exports are up to date; the compatibility checker catches breaking changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contracts.asyncapi import asyncapi_document
from contracts.compat import check_compatibility
from contracts.export import (
    ASYNCAPI_FILE,
    EXPORT_DIR,
    JSON_SCHEMA_DIALECT,
    check_exports,
    dumps,
    event_schema,
    render_exports,
    schema_path,
    write_exports,
)
from contracts.registry import REGISTRY, spec_for_type


def test_committed_exports_are_up_to_date() -> None:
    rendered = render_exports()
    for relative, text in rendered.items():
        committed = (EXPORT_DIR / relative).read_text(encoding="utf-8")
        assert committed == text, f"{relative} is stale: run `silian contracts export`"
    committed_schemas = {f"schemas/{p.name}" for p in (EXPORT_DIR / "schemas").glob("*.json")}
    assert committed_schemas == {k for k in rendered if k.startswith("schemas/")}
    assert check_exports() == []


def test_schema_headers() -> None:
    spec = spec_for_type("cn.silian.dispute.settled.v1")
    schema = event_schema(spec)
    assert schema["$schema"] == JSON_SCHEMA_DIALECT
    assert schema["$id"] == "urn:silian:schema:dispute.settled.v1"
    assert schema["title"] == "dispute.settled v1"
    assert "signed a written settlement" in schema["description"]
    assert schema["additionalProperties"] is False
    assert schema["x-silian"]["partitionKey"] == "dispute_id"
    assert schema_path(spec) == "schemas/dispute.settled.v1.json"


def test_output_is_deterministic() -> None:
    assert render_exports() == render_exports()
    text = dumps({"b": 1, "a": "江山"})
    assert text == '{\n  "a": "江山",\n  "b": 1\n}\n'


def test_write_then_check_in_a_fresh_dir(tmp_path: Path) -> None:
    problems = check_exports(tmp_path)
    assert {p.kind for p in problems} == {"missing"}
    assert len(problems) == len(REGISTRY) + 1
    written = write_exports(tmp_path)
    assert len(written) == len(REGISTRY) + 1
    assert check_exports(tmp_path) == []
    (tmp_path / "schemas" / "alert.gone.v1.json").write_text("{}\n", encoding="utf-8")
    assert [p.kind for p in check_exports(tmp_path)] == ["orphan"]
    write_exports(tmp_path)  # removes files no model produces
    assert not (tmp_path / "schemas" / "alert.gone.v1.json").exists()


def _edit(tmp_path: Path, name: str, change: Any) -> None:
    path = tmp_path / "schemas" / f"{name}.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    change(schema)
    path.write_text(dumps(schema), encoding="utf-8")


def test_check_reports_stale_and_incompatible(tmp_path: Path) -> None:
    write_exports(tmp_path)
    # committed schema had an extra optional field the model lost: model removed a field
    _edit(
        tmp_path,
        "alert.hit.v1",
        lambda s: s["properties"].update({"plate_photo": {"type": "string"}}),
    )
    # committed schema lacks a field the model now requires: new required field
    _edit(tmp_path, "case.note.v1", lambda s: s["properties"].pop("text"))
    _edit(tmp_path, "case.note.v1", lambda s: s["required"].remove("text"))
    # a cosmetic difference only: stale, not incompatible
    _edit(tmp_path, "patrol.planned.v1", lambda s: s.update({"description": "old words"}))
    (tmp_path / ASYNCAPI_FILE).write_text("{}\n", encoding="utf-8")
    problems = {(p.file, p.kind, p.detail.split(";")[0]) for p in check_exports(tmp_path)}
    assert problems == {
        ("schemas/alert.hit.v1.json", "incompatible", "field removed: $.plate_photo"),
        ("schemas/case.note.v1.json", "incompatible", "new required field: $.text"),
        (
            "schemas/patrol.planned.v1.json",
            "stale",
            "run `silian contracts export` and commit the result",
        ),
        (ASYNCAPI_FILE, "stale", "run `silian contracts export` and commit the result"),
    }


OLD: dict[str, Any] = {
    "$defs": {"Colour": {"enum": ["red", "green"], "type": "string"}},
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z]+$"},
        "count": {"type": "integer", "minimum": 0},
        "colour": {"$ref": "#/$defs/Colour"},
        "note": {"anyOf": [{"type": "string", "maxLength": 100}, {"type": "null"}]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["id", "count"],
}


def _new(**changes: Any) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(json.dumps(OLD))
    for dotted, value in changes.items():
        target = schema
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return schema


_DELETE = object()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"properties__tags": _DELETE}, "field removed: $.tags"),
        ({"required": ["id", "count", "note"]}, "new required field: $.note"),
        ({"properties__count__type": "string"}, "type changed: $.count"),
        ({"$defs__Colour__enum": ["red"]}, "enum value removed: $.colour: 'green'"),
        ({"properties__id__pattern": "^[a-z]{3}$"}, "pattern changed: $.id"),
        ({"properties__note__anyOf": [{"type": "string"}]}, "type changed: $.note"),
        (
            {"properties__note__anyOf": [{"type": "string", "maxLength": 10}, {"type": "null"}]},
            "constraint tightened: $.note: maxLength 100 -> 10",
        ),
        ({"properties__tags__items": {"type": "integer"}}, "type changed: $.tags[]"),
        ({"properties__count__minimum": 1}, "constraint tightened: $.count: minimum 0 -> 1"),
    ],
)
def test_incompatible_changes_are_listed(changes: dict[str, Any], expected: str) -> None:
    problems = check_compatibility(OLD, _new(**changes))
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"properties__extra": {"type": "string"}},  # new optional field
        {"required": ["id"]},  # a required field became optional
        {"$defs__Colour__enum": ["red", "green", "blue"]},  # enum value added
        {"properties__count__type": "number"},  # widened
        {"properties__note__anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}]},
        {"properties__count__minimum": _DELETE},
    ],
)
def test_compatible_changes_pass(changes: dict[str, Any]) -> None:
    assert check_compatibility(OLD, _new(**changes)) == []


def test_real_models_are_compatible_with_themselves() -> None:
    for spec in REGISTRY.specs():
        schema = event_schema(spec)
        assert check_compatibility(schema, schema) == []


def test_asyncapi_covers_every_event_type() -> None:
    doc = asyncapi_document()
    assert doc["asyncapi"] == "3.0.0"
    messages = doc["components"]["messages"]
    schemas = doc["components"]["schemas"]
    channel_messages = {
        name: channel.get("messages", {}) for name, channel in doc["channels"].items()
    }
    for spec in REGISTRY.specs():
        family = spec.family.value
        message = messages[spec.schema_name]
        assert spec.schema_name in channel_messages[family]
        assert message["payload"] == {"$ref": f"#/components/schemas/{spec.schema_name}"}
        assert spec.schema_name in schemas
        headers = message["headers"]
        assert headers["properties"]["ce_type"]["const"] == spec.ce_type
        assert {"ce_id", "ce_source", "ce_type", "ce_specversion"} <= set(headers["required"])
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        for action in ("send", "receive"):
            operation = doc["operations"][f"{action}.{family}"]
            assert operation["action"] == action
            assert operation["channel"] == {"$ref": f"#/channels/{family}"}
            ref = {"$ref": f"#/channels/{family}/messages/{spec.schema_name}"}
            assert ref in operation["messages"]
    assert doc["channels"]["case"]["address"] == "silian.{federation}.case.{caseId}"
    assert set(doc["channels"]["case"]["parameters"]) == {"federation", "caseId"}
    assert doc["channels"]["alert"]["address"] == "silian.{federation}.alert.v1"
    kafka = doc["channels"]["alert"]["bindings"]["kafka"]
    assert kafka["topicConfiguration"]["retention.ms"] == -1
    assert {"agreement", "checkpoints", "quarantine"} <= set(doc["channels"])


def test_asyncapi_refs_all_resolve() -> None:
    doc = asyncapi_document()
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            assert part in target, ref
            target = target[part]
