"""Checked-in exports: one JSON Schema 2020-12 per event type, one AsyncAPI document.

Output is deterministic (sorted keys, 2-space indent, UTF-8, trailing newline) so that
``git diff`` shows exactly what a model change did. The writer is the only I/O here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.asyncapi import asyncapi_document
from contracts.compat import check_compatibility
from contracts.registry import REGISTRY, EventRegistry, EventSpec

__all__ = [
    "ASYNCAPI_FILE",
    "EXPORT_DIR",
    "JSON_SCHEMA_DIALECT",
    "ExportProblem",
    "check_exports",
    "dumps",
    "event_schema",
    "render_exports",
    "schema_path",
    "write_exports",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
EXPORT_DIR = Path(__file__).resolve().parent
ASYNCAPI_FILE = "asyncapi.json"
_SCHEMAS = "schemas"


def dumps(document: Any) -> str:
    """Deterministic JSON text: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def schema_path(spec: EventSpec) -> str:
    """Path of a type's schema, relative to the export directory."""
    return f"{_SCHEMAS}/{spec.schema_name}.json"


def event_schema(spec: EventSpec) -> dict[str, Any]:
    """The JSON Schema 2020-12 of one event type, with ``$id`` = its dataschema URI."""
    schema = spec.model.model_json_schema()
    schema.update(
        {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": spec.dataschema,
            "title": f"{spec.event_type} v{spec.version}",
            "description": (spec.model.__doc__ or spec.event_type).strip(),
            "x-silian": {
                "ceType": spec.ce_type,
                "family": spec.family.value,
                "version": spec.version,
                "partitionKey": spec.key_field,
                "topic": spec.topic_pattern,
            },
        }
    )
    return schema


def render_exports(registry: EventRegistry = REGISTRY) -> dict[str, str]:
    """Every export file's text, keyed by path relative to the export directory."""
    files = {schema_path(spec): dumps(event_schema(spec)) for spec in registry.specs()}
    files[ASYNCAPI_FILE] = dumps(asyncapi_document(registry))
    return files


def write_exports(directory: Path = EXPORT_DIR, registry: EventRegistry = REGISTRY) -> list[Path]:
    """Write the exports under ``directory``; remove schema files no model produces."""
    files = render_exports(registry)
    (directory / _SCHEMAS).mkdir(parents=True, exist_ok=True)
    for stale in (directory / _SCHEMAS).glob("*.json"):
        if f"{_SCHEMAS}/{stale.name}" not in files:
            stale.unlink()
    written = []
    for relative, text in sorted(files.items()):
        path = directory / relative
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


@dataclass(frozen=True, kw_only=True)
class ExportProblem:
    """One thing wrong with the committed exports."""

    file: str
    kind: str  # "incompatible" | "stale" | "missing" | "orphan"
    detail: str

    def __str__(self) -> str:
        return f"{self.file}: {self.kind}: {self.detail}"


def check_exports(
    directory: Path = EXPORT_DIR, registry: EventRegistry = REGISTRY
) -> list[ExportProblem]:
    """Compare committed exports with the current models; empty when all is well."""
    problems: list[ExportProblem] = []
    rendered = render_exports(registry)
    for spec in registry.specs():
        relative = schema_path(spec)
        problems.extend(_check_schema(directory / relative, relative, spec, rendered[relative]))
    committed = {f"{_SCHEMAS}/{p.name}" for p in (directory / _SCHEMAS).glob("*.json")}
    for relative in sorted(committed - rendered.keys()):
        problems.append(
            ExportProblem(
                file=relative,
                kind="orphan",
                detail="no registered model produces it: removing a type breaks its readers",
            )
        )
    asyncapi = directory / ASYNCAPI_FILE
    if not asyncapi.is_file():
        problems.append(ExportProblem(file=ASYNCAPI_FILE, kind="missing", detail=_RUN_EXPORT))
    elif asyncapi.read_text(encoding="utf-8") != rendered[ASYNCAPI_FILE]:
        problems.append(ExportProblem(file=ASYNCAPI_FILE, kind="stale", detail=_RUN_EXPORT))
    return problems


_RUN_EXPORT = "run `silian contracts export` and commit the result"


def _check_schema(
    path: Path, relative: str, spec: EventSpec, current_text: str
) -> list[ExportProblem]:
    if not path.is_file():
        return [ExportProblem(file=relative, kind="missing", detail=_RUN_EXPORT)]
    text = path.read_text(encoding="utf-8")
    if text == current_text:
        return []
    try:
        committed = json.loads(text)
    except json.JSONDecodeError as error:
        return [ExportProblem(file=relative, kind="stale", detail=f"not JSON ({error})")]
    changes = check_compatibility(committed, json.loads(current_text))
    if not changes:
        return [ExportProblem(file=relative, kind="stale", detail=_RUN_EXPORT)]
    advice = f"keep v{spec.version} as it was and register a v{spec.version + 1} model"
    return [
        ExportProblem(file=relative, kind="incompatible", detail=f"{change}; {advice}")
        for change in changes
    ]
