"""Declarative mapping between an agency's local records and the event contracts (TOML).

A new agency with the same kind of local system needs a mapping file, not code::

    [kinds]                          # optional: local record kinds → outbound section
    "预警" = "alert"

    [values.priority]                # a value map: local code → contract value
    "特急" = "urgent"
    "一般" = "routine"

    [outbound.alert]                 # a local record of kind "alert" becomes …
    event = "alert.issued"           # … this contract (ce type, version 1 unless ".vN")
    [outbound.alert.fields]          # contract path = rule
    alert_id = "预警编号"              # a rename: the local field to read
    "subject.kind" = { const = "vehicle" }
    priority = { from = "优先级", map = "priority" }
    review_at = { from = "复核时间", date = "%Y-%m-%d %H:%M" }   # local time, +08:00
    area = { from = "范围", split = "," }
    warning_markers = { from = "警示", split = ",", optional = true }

    [inbound.alert]                  # an event of this type becomes a local record
    event = "alert.issued"
    [inbound.alert.fields]           # local field = rule
    "预警编号" = "alert_id"
    "优先级" = { from = "priority", map = "priority" }    # the map, inverted
    "来源单位" = { meta = "source" }   # event_id | source | ce_type | time
    "复核时间" = { from = "review_at", date = "%Y-%m-%d %H:%M" }
    "范围" = { from = "area", join = "," }

Rule keys: ``from``, ``const``, ``meta`` (inbound), ``template`` (inbound:
``"{subject.plate} {subject.description}"``), ``map`` (a ``[values]`` name or an inline
table), ``date`` (a ``strptime``/``strftime`` format, or ``"iso"``), ``split`` / ``join``,
``pick`` (inbound: one value of a list — this one if present, else the first),
``optional``, ``default``. A number in a contract path is a list index
(``"parties.0.name.zh"``). Errors name the mapping file, the record (file and
row, table and id, URL) and the field.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from adapters._mapping_rules import FieldRule, InboundMapping, OutboundMapping, parse_mapping
from adapters.base import BadLocalDataError, InboundEvent, LocalRecord
from bus.envelope.ids import FEDERATION_TZ
from contracts.base import EventModel

__all__ = ["FieldRule", "InboundMapping", "Mapping", "OutboundMapping", "load_mapping"]


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """``parties.0.name.zh``: a number is a list index (lists are made by :func:`_lists`)."""
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def _lists(node: Any) -> Any:
    """Turn the dictionaries :func:`_set_path` keyed by numbers into lists, in order."""
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists(node[k]) for k in sorted(node, key=int)]
    return {k: _lists(v) for k, v in node.items()}


def _get_path(data: Any, path: str) -> Any:
    node = data
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.]+)\}")


def _fill(template: str, data: Any) -> str:
    """``"{subject.plate} {subject.description}"`` with the event's values ("" if absent)."""
    return _PLACEHOLDER.sub(lambda m: str(_plain(_get_path(data, m[1])) or ""), template).strip()


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, BaseModel):
        return _plain(value.model_dump())
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Mapping:
    """One agency's mapping file, loaded and checked against the contracts."""

    def __init__(
        self,
        *,
        path: Path,
        outbound: dict[str, OutboundMapping],
        inbound: dict[str, InboundMapping],
        kinds: dict[str, str],
    ) -> None:
        self.path = path
        self.outbound = outbound
        self.inbound = inbound  # by ce_type
        self.kinds = kinds

    @property
    def inbound_types(self) -> list[str]:
        return sorted(self.inbound)

    # -- outbound: local record → contract event -------------------------------------
    def outbound_for(self, record: LocalRecord) -> OutboundMapping:
        name = self.kinds.get(record.kind, record.kind)
        try:
            return self.outbound[name]
        except KeyError:
            known = ", ".join(sorted({*self.outbound, *self.kinds})) or "none"
            raise BadLocalDataError(
                f"record kind {record.kind!r} has no [outbound] mapping in {self.path.name} "
                f"(known: {known})",
                where=record.where,
            ) from None

    def to_event(self, record: LocalRecord) -> EventModel:
        """The contract event for ``record``; :class:`BadLocalDataError` names the field."""
        chosen = self.outbound_for(record)
        data: dict[str, Any] = {}
        for rule in chosen.rules:
            value = self._outbound_value(rule, record)
            if value is not None:
                _set_path(data, rule.target, value)
        try:
            return chosen.spec.model.model_validate(_lists(data))
        except ValidationError as error:
            problem = error.errors(include_url=False)[0]
            loc = [str(p) for p in problem["loc"]]
            if not loc:  # a rule across fields (ends after it starts): no one field to name
                raise BadLocalDataError(
                    f"{problem['msg']} ({chosen.spec.ce_type}, mapping {self.path.name} "
                    f"[outbound.{chosen.name}])",
                    where=record.where,
                ) from None
            # the rule for the failing field (a union adds its tag to the path: skip it)
            matches: list[list[str]] = [
                r.target.split(".")
                for r in chosen.rules
                if r.target.split(".")[0] == loc[0] and set(r.target.split(".")) <= set(loc)
            ]
            best: list[str] = max(matches, key=len) if matches else loc
            target = ".".join(best)
            culprit = next((r for r in chosen.rules if r.target == target), None)
            named = culprit.origin if culprit is not None else repr(target)
            raise BadLocalDataError(
                f"field {named}: {problem['msg']} ({chosen.spec.ce_type}, mapping "
                f"{self.path.name} [outbound.{chosen.name}])",
                where=record.where,
            ) from None

    def _outbound_value(self, rule: FieldRule, record: LocalRecord) -> Any:
        if rule.source is None:
            return rule.const
        raw = record.fields.get(rule.source)
        if _is_empty(raw):
            if rule.default is not None:
                return rule.default
            if rule.optional:
                return None
            raise BadLocalDataError(
                f"field {rule.origin}: missing or empty in the local record", where=record.where
            )
        if rule.separator is not None:
            parts = [p.strip() for p in str(raw).split(rule.separator) if p.strip()]
            return [self._convert_out(rule, p, record) for p in parts]
        return self._convert_out(rule, raw, record)

    def _convert_out(self, rule: FieldRule, raw: Any, record: LocalRecord) -> Any:
        value = raw.strip() if isinstance(raw, str) else raw
        if rule.values is not None:
            if str(value) not in rule.values:
                known = ", ".join(map(str, rule.values))
                raise BadLocalDataError(
                    f"field {rule.origin}: unknown code {value!r} (known: {known})",
                    where=record.where,
                )
            value = rule.values[str(value)]
        if rule.date is not None:
            value = self._parse_date(rule, value, record)
        return value

    @staticmethod
    def _parse_date(rule: FieldRule, value: Any, record: LocalRecord) -> str:
        if isinstance(value, datetime):
            moment = value
        else:
            try:
                text = str(value)
                if rule.date == "iso":
                    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
                else:
                    moment = datetime.strptime(text, rule.date or "")  # local time, no offset
            except ValueError:
                raise BadLocalDataError(
                    f"field {rule.origin}: {value!r} is not a time in the form {rule.date!r}",
                    where=record.where,
                ) from None
        if moment.tzinfo is None:  # local systems keep Beijing time without an offset
            moment = moment.replace(tzinfo=FEDERATION_TZ)
        return moment.isoformat()

    # -- inbound: contract event → local record --------------------------------------
    def to_local(
        self, event: EventModel, *, event_id: str, source: str, ce_type: str, time: datetime
    ) -> InboundEvent:
        """The local fields for ``event``; :class:`BadLocalDataError` names the field."""
        chosen = self.inbound[ce_type]
        where = f"event {event_id} ({ce_type} from {source})"
        data = _plain(event.model_dump())
        meta = {"event_id": event_id, "source": source, "ce_type": ce_type, "time": time}
        fields: dict[str, Any] = {}
        for rule in chosen.rules:
            if rule.meta is not None:
                value: Any = meta[rule.meta]
            elif rule.template is not None:
                value = _fill(rule.template, data)
            elif rule.source is None:
                value = rule.const
            else:
                value = _get_path(data, rule.source)
            if rule.source is not None and rule.date is not None and isinstance(value, str):
                value = datetime.fromisoformat(value)
            if rule.pick is not None and isinstance(value, list):
                # one value of a list: this one if the list holds it, else the first
                value = rule.pick if rule.pick in value else (value[0] if value else None)
            if _is_empty(value) or value == []:
                if rule.default is not None:
                    fields[rule.target] = rule.default
                elif not rule.optional:
                    fields[rule.target] = None
                continue
            fields[rule.target] = self._convert_in(rule, value, where)
        return InboundEvent(
            event_id=event_id, source=source, ce_type=ce_type, kind=chosen.name, fields=fields
        )

    def _convert_in(self, rule: FieldRule, value: Any, where: str) -> Any:
        items = value if isinstance(value, list) else None
        if items is not None:
            converted = [self._convert_one_in(rule, v, where) for v in items]
            if rule.separator is not None:
                return rule.separator.join(str(v) for v in converted)
            return converted
        return self._convert_one_in(rule, value, where)

    @staticmethod
    def _convert_one_in(rule: FieldRule, value: Any, where: str) -> Any:
        if isinstance(value, datetime):
            local = value.astimezone(FEDERATION_TZ)
            if rule.date is None or rule.date == "iso":
                return local.isoformat()
            return local.strftime(rule.date)
        if rule.values is not None:
            if str(value) not in rule.values:
                raise BadLocalDataError(
                    f"field {rule.target!r}: the local system has no code for {value!r} "
                    f"(known: {', '.join(map(str, rule.values))})",
                    where=where,
                )
            return rule.values[str(value)]
        return value


def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping file; :class:`ConfigError` names the file and section."""
    outbound, inbound, kinds = parse_mapping(path)
    return Mapping(path=path, outbound=outbound, inbound=inbound, kinds=kinds)
