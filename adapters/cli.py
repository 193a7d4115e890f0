"""``silian agency``: run, check and inspect one agency's adapter (its local system ⇄ bus).

::

    silian agency run --config jiangshan.toml      # until SIGTERM/SIGINT (exit 0)
    silian agency check --config jiangshan.toml    # config, mapping, agreement, keys
    silian agency status --config jiangshan.toml   # health report and outbox
    silian agency demo                             # three adapters, three local systems

The group lives with the adapters, above the bus: it reaches the ``silian`` command through
the ``silian.commands`` entry-point group (pyproject.toml), so ``bus`` never imports
``adapters``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path
from typing import Any

from adapters.config import AgencyConfig, load_config
from adapters.mapping import load_mapping
from adapters.runner import AgencyRunner
from agencies.folder import AgreementFolder
from agencies.keys import KeyAlg
from agencies.keystore import KeyStore
from bus.cli import ExitCode, add_json_flag, emit_json
from bus.envelope.ids import now
from bus.errors import ConfigError

__all__ = ["register"]


def register(sub: Any) -> None:
    agency = sub.add_parser("agency", help="run an agency's adapter between its system and the bus")
    commands = agency.add_subparsers(dest="agency_command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="run the adapter until SIGTERM: local records out, events in, health report",
    )
    _config_arguments(run)
    run.set_defaults(func=_run, default_log_level="INFO")

    check = commands.add_parser(
        "check", help="check the config, mapping, agreement and keys without connecting"
    )
    _config_arguments(check)
    add_json_flag(check)
    check.set_defaults(func=_check)

    status = commands.add_parser(
        "status", help="the adapter's last health report: links, loops, outbox"
    )
    _config_arguments(status)
    add_json_flag(status)
    status.set_defaults(func=_status)

    demo = commands.add_parser(
        "demo",
        help="Jiangshan (REST), Pucheng (database) and Guangfeng (file drop) adapters at work",
    )
    demo.add_argument("--kafka", metavar="HOST:PORT", default=None, help="use this Kafka")
    demo.add_argument(
        "--dir", type=Path, default=None, help="keep everything here (default: a temporary one)"
    )
    demo.set_defaults(func=_demo, default_log_level="ERROR")


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, required=True, metavar="FILE", help="the agency's TOML config"
    )
    parser.add_argument(
        "--kafka", metavar="HOST:PORT", default=None, help="override [bus] kafka of the config"
    )
    parser.add_argument(
        "--state", type=Path, default=None, help="override [bus] state of the config"
    )


def _load(args: argparse.Namespace) -> AgencyConfig:
    return load_config(args.config).with_overrides(kafka=args.kafka, state=args.state)


async def _serve(args: argparse.Namespace) -> int:
    runner = AgencyRunner(_load(args))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await runner.run(stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return ExitCode.OK


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))


def _check(args: argparse.Namespace) -> int:
    config = _load(args)
    mapping = load_mapping(config.mapping)
    agreement = AgreementFolder(config.bus.agreement).history().in_force_at(now())
    if not agreement.is_member(config.agency):
        raise ConfigError(f"agency {config.agency} is not a member of the agreement in force")
    keystore = KeyStore(config.bus.keys, passphrase=config.bus.passphrase())
    signing = keystore.current(config.agency, KeyAlg.ED25519, at=now())
    if not keystore.has_private(signing.key_id):
        raise ConfigError(f"no private signing key for {config.agency} in {config.bus.keys}")
    report = {
        "config": str(config.path),
        "agency": config.agency,
        "federation": agreement.federation_id,
        "local": config.local.kind,
        "transport": config.bus.transport_label,
        "state": str(config.state_dir),
        "mapping": str(config.mapping),
        "outbound": {n: m.spec.ce_type for n, m in mapping.outbound.items()},
        "inbound": mapping.inbound_types,
        "signing_key": signing.key_id,
    }
    if args.json:
        emit_json(report)
    else:
        print(f"✔ {config.path.name}: agency {config.agency}, {config.local.kind} local system")
        print(f"  federation {agreement.federation_id}, signing key {signing.key_id}")
        print(f"  transport {config.bus.transport_label}; state {config.state_dir}")
        for name, m in mapping.outbound.items():
            print(f"  out  {name} → {m.spec.ce_type}")
        for ce_type in mapping.inbound_types:
            print(f"  in   {ce_type} → {mapping.inbound[ce_type].name}")
    return ExitCode.OK


def _status(args: argparse.Namespace) -> int:
    config = _load(args)
    path = config.health_file
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no health report at {path}: has the adapter run?") from None
    except ValueError as error:  # JSON that does not parse, or not UTF-8
        raise ConfigError(f"{path} is not a health report: {error}") from None
    if not isinstance(report, dict):
        raise ConfigError(f"{path} is not a health report (not a JSON object)")
    verdict = ExitCode.OK if report.get("status") == "ok" else ExitCode.FAILED
    if args.json:
        emit_json(report)
    else:
        for line in _report_lines(report):
            print(line)
    return verdict


def _report_lines(report: dict[str, Any]) -> list[str]:
    """A health report (adapters/runner.py ``health()``) in words, one line per part.

    A part the report does not hold is left out, not printed as ``None``: the report that
    replaces one that could not be made holds only its ``error``.
    """
    lines = [f"{report.get('agency')} — {report.get('status')} (at {report.get('updated_at')})"]
    if "error" in report:
        lines.append(f"  error  {report['error']}")
    bus, local = report.get("bus"), report.get("local")
    if isinstance(bus, dict):
        link = "connected" if bus.get("connected") else f"unreachable: {bus.get('error')}"
        lines.append(f"  bus    {report.get('transport')}: {link}")
    if isinstance(local, dict):
        reach = "reachable" if local.get("reachable") is not False else local.get("error")
        lines.append(f"  local  {local.get('kind')}: {reach}")
    tasks = report.get("tasks")
    if isinstance(tasks, dict) and tasks:
        running = sorted(name for name, state in tasks.items() if state == "running")
        if running:
            lines.append(f"  tasks  running: {', '.join(running)}")
        lines.extend(
            f"  task   {name} {state}" for name, state in tasks.items() if state != "running"
        )
    if "outbox_pending" in report:
        lines.append(
            f"  outbox {report.get('outbox_pending')} pending (oldest "
            f"{report.get('outbox_oldest_pending') or '-'}), {report.get('published')} "
            f"published, {report.get('publish_failed')} refused, "
            f"{report.get('set_aside')} set aside"
        )
    if "inbound" in report:
        lines.append(f"  inbox  {report.get('inbound')}")
    return lines


def _demo(args: argparse.Namespace) -> int:
    # Imported here: the demo's reference systems bring psycopg, a fifth of a second
    # that every other silian command would wait for.
    from adapters.demo import run_adapter_demo  # noqa: PLC0415

    asyncio.run(run_adapter_demo(kafka=args.kafka, directory=args.dir))
    return ExitCode.OK
