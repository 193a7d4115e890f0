"""The rules of a mapping file and their checks (see :mod:`adapters.mapping`)."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.config import read_toml
from bus.errors import ConfigError, ContractError
from contracts.registry import CE_TYPE_PREFIX, REGISTRY, EventSpec

__all__ = ["FieldRule", "InboundMapping", "OutboundMapping", "parse_mapping"]

_META = frozenset({"event_id", "source", "ce_type", "time"})
_RULE_KEYS = frozenset({"from", "const", "meta", "template", "map", "date", "split", "join"})
_RULE_KEYS |= {"optional", "default", "pick"}


@dataclass(frozen=True, kw_only=True, slots=True)
class FieldRule:
    """How one field is filled: ``target`` from a source field, a constant or metadata."""

    target: str
    source: str | None = None
    const: Any = None
    meta: str | None = None
    values: MappingABC[str, Any] | None = None
    date: str | None = None
    separator: str | None = None
    optional: bool = False
    default: Any = None
    template: str | None = None
    pick: str | None = None

    @property
    def origin(self) -> str:
        if self.source is not None:
            return f"{self.target!r} (from {self.source!r})"
        return repr(self.target)


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboundMapping:
    name: str
    spec: EventSpec
    rules: tuple[FieldRule, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class InboundMapping:
    name: str
    spec: EventSpec
    rules: tuple[FieldRule, ...]


def _spec(text: str, where: str) -> EventSpec:
    ce_type = text if text.startswith(CE_TYPE_PREFIX) else f"{CE_TYPE_PREFIX}{text}"
    if not ce_type.rsplit(".", 1)[-1].startswith("v"):
        ce_type += ".v1"
    try:
        return REGISTRY.spec_for_type(ce_type)
    except ContractError:
        raise ConfigError(f"{where}: unknown event type {text!r}") from None


def _rule(
    target: str, raw: Any, *, values: MappingABC[str, Any], where: str, inbound: bool
) -> FieldRule:
    if isinstance(raw, str):
        return FieldRule(target=target, source=raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: field {target!r}: a rule is a field name or a table")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ConfigError(f"{where}: field {target!r}: unknown rule keys {sorted(unknown)}")
    given = [k for k in ("from", "const", "meta", "template") if k in raw]
    if len(given) != 1:
        raise ConfigError(
            f"{where}: field {target!r}: give exactly one of from, const, meta, template"
        )
    if "meta" in raw and (not inbound or raw["meta"] not in _META):
        raise ConfigError(f"{where}: field {target!r}: meta is one of {sorted(_META)} (inbound)")
    if ("template" in raw or "pick" in raw) and not inbound:
        raise ConfigError(f"{where}: field {target!r}: template and pick are for [inbound]")
    table = raw.get("map")
    chosen: MappingABC[str, Any] | None = None
    if isinstance(table, str):
        if table not in values:
            raise ConfigError(f"{where}: field {target!r}: no [values.{table}] table")
        chosen = values[table]
        if inbound:  # the local→contract map, inverted: the first local code of each value
            inverted: dict[str, Any] = {}
            for local, contract in chosen.items():
                inverted.setdefault(str(contract), local)
            chosen = inverted
    elif isinstance(table, dict):
        chosen = table
    elif table is not None:
        raise ConfigError(f"{where}: field {target!r}: map is a [values] name or a table")
    return FieldRule(
        target=target,
        source=raw.get("from"),
        const=raw.get("const"),
        meta=raw.get("meta"),
        values=chosen,
        date=raw.get("date"),
        separator=raw.get("join" if inbound else "split"),
        optional=bool(raw.get("optional", False)),
        default=raw.get("default"),
        template=raw.get("template"),
        pick=raw.get("pick"),
    )


def _rules(
    section: dict[str, Any], *, values: Any, where: str, inbound: bool
) -> tuple[FieldRule, ...]:
    fields = section.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise ConfigError(f"{where}: a [...fields] table with at least one field is required")
    return tuple(
        _rule(target, raw, values=values, where=where, inbound=inbound)
        for target, raw in fields.items()
    )


def parse_mapping(
    path: Path,
) -> tuple[dict[str, OutboundMapping], dict[str, InboundMapping], dict[str, str]]:
    """Read and check a mapping file: (outbound by name, inbound by ce type, kinds)."""
    document = read_toml(path, "mapping")
    values = document.get("values", {})
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise ConfigError(f"mapping {path}: [values.NAME] tables map local codes to values")
    outbound: dict[str, OutboundMapping] = {}
    for name, section in document.get("outbound", {}).items():
        where = f"mapping {path} [outbound.{name}]"
        spec = _spec(str(section.get("event", "")), where)
        rules = _rules(section, values=values, where=where, inbound=False)
        _check_targets(spec, rules, where)
        outbound[name] = OutboundMapping(name=name, spec=spec, rules=rules)
    inbound: dict[str, InboundMapping] = {}
    for name, section in document.get("inbound", {}).items():
        where = f"mapping {path} [inbound.{name}]"
        spec = _spec(str(section.get("event", "")), where)
        if spec.ce_type in inbound:
            raise ConfigError(f"{where}: {spec.ce_type} is already mapped inbound")
        rules = _rules(section, values=values, where=where, inbound=True)
        for rule in rules:
            if rule.source is not None:
                _check_path(spec, rule.source, where)
        inbound[spec.ce_type] = InboundMapping(name=name, spec=spec, rules=rules)
    kinds = {str(k): str(v) for k, v in document.get("kinds", {}).items()}
    for local, name in kinds.items():
        if name not in outbound:
            raise ConfigError(f"mapping {path} [kinds]: {local!r} names no [outbound.{name}]")
    return outbound, inbound, kinds


def _check_targets(spec: EventSpec, rules: tuple[FieldRule, ...], where: str) -> None:
    for rule in rules:
        _check_path(spec, rule.target, where)


def _check_path(spec: EventSpec, path: str, where: str) -> None:
    """The first part of a dotted path must be a field of the contract."""
    head = path.split(".", 1)[0]
    if head not in spec.model.model_fields:
        fields = ", ".join(spec.model.model_fields)
        raise ConfigError(f"{where}: {spec.ce_type} has no field {head!r} (fields: {fields})")
