"""``silian publish FILE|- --type alert.issued``: validate one event and publish it.

The file holds the event's data as JSON (UTF-8), exactly as the contract describes it
(``silian contracts list``; schemas in ``contracts/schemas/``). Bad input is one line
naming the field; the event is signed as ``--agency`` and published once the agreement
allows it; the broker's coordinates and the event id are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from agencies.identity import Directory
from bus.cli._common import ExitCode, add_json_flag, emit_json
from bus.cli.timeline import agency_name, directory_of, local_time
from bus.errors import ConfigError, ContractError
from bus.node.publish import Published
from bus.pipeline import VerifyPolicy
from bus.settings import add_bus_arguments, open_bus, settings_from_args
from contracts.base import Family
from contracts.json_depth import nests_deeper
from contracts.registry import CE_TYPE_PREFIX, REGISTRY, EventSpec
from contracts.vocab import Priority

__all__ = ["read_event", "register", "resolve_type"]


def register(sub: Any) -> None:
    p = sub.add_parser("publish", help="validate an event (JSON) and publish it as this agency")
    p.add_argument("file", metavar="FILE", help="the event's data as JSON (UTF-8); - for stdin")
    p.add_argument(
        "--type",
        dest="event_type",
        required=True,
        metavar="TYPE",
        help="event type: alert.issued, alert.issued.v1 or cn.silian.alert.issued.v1",
    )
    p.add_argument(
        "--priority",
        choices=[p.value for p in Priority],
        default=None,
        help="priority (sets the answer deadline); default: the event's own, else routine",
    )
    add_bus_arguments(p)
    add_json_flag(p)
    p.set_defaults(func=_publish)


def resolve_type(name: str) -> EventSpec:
    """The contract for ``alert.issued`` (newest version), ``alert.issued.v1`` or a ce_type."""
    if name.startswith(CE_TYPE_PREFIX):
        return REGISTRY.spec_for_type(name)
    base, _, version = name.rpartition(".v")
    if base and version.isdigit():
        return REGISTRY.spec_for_type(f"{CE_TYPE_PREFIX}{name}")
    versions = [s for s in REGISTRY.specs() if s.event_type == name]
    if not versions:
        raise ContractError(f"unknown event type {name!r}; see: silian contracts list")
    return max(versions, key=lambda s: s.version)


def _read_bytes(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read {source}: {error.strerror or error}") from None


def read_event(source: str, spec: EventSpec) -> Any:
    """Read and validate an event; one-line ConfigError/ContractError on bad input."""
    where = "stdin" if source == "-" else source
    raw = _read_bytes(source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{where}: not UTF-8 (byte {error.start})") from None
    limit = VerifyPolicy().max_json_depth
    if nests_deeper(raw, limit):  # before json.loads recurses into it
        raise ConfigError(
            f"{where}: nests arrays and objects deeper than {limit} levels "
            "(every receiver would refuse it)"
        )
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{where}: not JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    try:
        return REGISTRY.decode(spec.ce_type, text.encode("utf-8"))
    except ContractError as error:
        raise ContractError(f"{where}: {error}") from None


def _publish(args: argparse.Namespace) -> int:
    spec = resolve_type(args.event_type)
    if spec.family is Family.RECEIPT:
        raise ConfigError("receipts are answered by the bus itself (silian serve), not published")
    event = read_event(args.file, spec)
    settings = settings_from_args(args)
    priority = None if args.priority is None else Priority(args.priority)

    async def run() -> tuple[Published, Directory]:
        async with open_bus(settings, publisher_name="cli") as bus:
            return await bus.publish(event, priority=priority), directory_of(bus)

    published, directory = asyncio.run(run())
    payload = {
        "event_id": published.event_id,
        "ce_type": published.ce_type,
        "subject": event.entity_id(),
        "agency": settings.agency,
        "time": local_time(published.time).isoformat(),
        "topic": published.topic,
        "partition": published.coordinates.partition,
        "offset": published.coordinates.offset,
        "chain_id": published.chain_id,
        "seq": published.seq,
        "hash": published.hash,
        "sealed": published.sealed,
        "recipients": list(published.recipients),
    }
    if args.json:
        emit_json(payload)
        return ExitCode.OK
    c = published.coordinates
    print(f"published {published.ce_type} {published.event_id}")
    print(f"  at        {c.topic}/{c.partition}@{c.offset}")
    print(f"  chain     {published.chain_id} #{published.seq}")
    print(f"  time      {local_time(published.time).isoformat(timespec='seconds')}")
    names = ", ".join(agency_name(r, directory) for r in published.recipients) or "none"
    print(f"  awaiting  {names}")
    return ExitCode.OK
