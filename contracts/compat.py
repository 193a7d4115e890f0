"""Backward-compatibility check between two JSON Schemas of one event type.

*Compatible* means every document valid under the old schema stays valid under the new
one — so readers on the new model still read everything already written. Anything else
(a field removed, a new required field, a type narrowed, an enum value removed, a pattern
or bound tightened) needs a new major version of the type.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_compatibility"]

Schema = dict[str, Any]

_TIGHTER_IF_GREATER = ("minLength", "minItems", "minimum", "exclusiveMinimum")
_TIGHTER_IF_SMALLER = ("maxLength", "maxItems", "maximum", "exclusiveMaximum")


def check_compatibility(old_schema: Schema, new_schema: Schema) -> list[str]:
    """Every incompatible change from ``old_schema`` to ``new_schema``; empty if none."""
    return _Compare(old_schema, new_schema).run()


class _Compare:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self._old_root = old_root
        self._new_root = new_root

    def run(self) -> list[str]:
        problems: list[str] = []
        self._node(self._old_root, self._new_root, "$", problems, depth=0)
        return problems

    @staticmethod
    def _resolve(schema: Schema, root: Schema) -> Schema:
        hops = 0
        while isinstance(schema.get("$ref"), str) and hops < 32:
            target: Any = root
            for part in schema["$ref"].removeprefix("#/").split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **siblings}
            hops += 1
        return schema

    def _variants(self, schema: Schema, root: Schema) -> list[Schema]:
        schema = self._resolve(schema, root)
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                return [self._resolve(v, root) for v in schema[key]]
        return [schema]

    def _node(self, old: Schema, new: Schema, path: str, out: list[str], *, depth: int) -> None:
        if depth > 64:  # pragma: no cover - recursive schemas; pydantic emits none here
            return
        old_vs = self._variants(old, self._old_root)
        new_vs = self._variants(new, self._new_root)
        if len(old_vs) == 1 and len(new_vs) == 1:
            self._single(old_vs[0], new_vs[0], path, out, depth=depth)
            return
        for index, variant in enumerate(old_vs):
            best: list[str] | None = None
            for candidate in new_vs:
                found: list[str] = []
                self._single(variant, candidate, path, found, depth=depth)
                if best is None or len(found) < len(best):
                    best = found
            if best:
                where = f"{path} (alternative {index + 1})" if len(old_vs) > 1 else path
                out.append(f"type changed: {where} no longer accepts what it accepted")
                out.extend(best)

    def _single(self, old: Schema, new: Schema, path: str, out: list[str], *, depth: int) -> None:
        old_types, new_types = _types(old), _types(new)
        if "number" in new_types:
            new_types.add("integer")  # every integer is a number: widening is fine
        if old_types and new_types and not old_types <= new_types:
            out.append(f"type changed: {path}: {sorted(old_types)} -> {sorted(new_types)}")
            return
        self._values(old, new, path, out)
        self._bounds(old, new, path, out)
        self._object(old, new, path, out, depth=depth)
        if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
            self._node(old["items"], new["items"], f"{path}[]", out, depth=depth + 1)

    @staticmethod
    def _values(old: Schema, new: Schema, path: str, out: list[str]) -> None:
        if "const" in new and old.get("const", object()) != new["const"]:
            out.append(f"const changed: {path}: {old.get('const')!r} -> {new['const']!r}")
        if "enum" in new:
            old_values = old.get("enum", [old["const"]] if "const" in old else None)
            if old_values is None:
                out.append(f"enum added: {path} now only accepts {new['enum']}")
            else:
                out.extend(
                    f"enum value removed: {path}: {value!r}"
                    for value in old_values
                    if value not in new["enum"]
                )
        for key in ("pattern", "format"):
            if key in new and old.get(key) != new[key]:
                out.append(f"{key} changed: {path}: {old.get(key)!r} -> {new[key]!r}")

    @staticmethod
    def _bounds(old: Schema, new: Schema, path: str, out: list[str]) -> None:
        for key in (*_TIGHTER_IF_GREATER, *_TIGHTER_IF_SMALLER):
            if key not in new:
                continue
            tighter = key not in old or (
                new[key] > old[key] if key in _TIGHTER_IF_GREATER else new[key] < old[key]
            )
            if tighter:
                out.append(f"constraint tightened: {path}: {key} {old.get(key)} -> {new[key]}")

    def _object(self, old: Schema, new: Schema, path: str, out: list[str], *, depth: int) -> None:
        old_props: Schema = old.get("properties", {})
        new_props: Schema = new.get("properties", {})
        for name in old_props:
            if name not in new_props:
                out.append(f"field removed: {path}.{name}")
        old_required = set(old.get("required", ()))
        for name in new.get("required", ()):
            if name not in old_required:
                out.append(f"new required field: {path}.{name}")
        newly_closed = new.get("additionalProperties") is False
        if newly_closed and old.get("additionalProperties") is not False and "properties" in old:
            out.append(f"additional properties now forbidden: {path}")
        for name, old_prop in old_props.items():
            if name in new_props:
                self._node(old_prop, new_props[name], f"{path}.{name}", out, depth=depth + 1)


def _types(schema: Schema) -> set[str]:
    declared = schema.get("type")
    if declared is None:
        return set()
    return {declared} if isinstance(declared, str) else set(declared)
