"""``silian dev``: developer tooling — a local Kafka from the Maven jars."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bus.cli._common import ExitCode, add_json_flag, emit_json
from bus.devkafka import (
    DEFAULT_BASE_PORT,
    KAFKA_VERSION,
    LocalKafka,
    default_state_dir,
    ensure_kafka_libs,
)

__all__ = ["register"]


def register(sub: Any) -> None:
    dev = sub.add_parser("dev", help="developer tooling (local Kafka without Docker)")
    dev_sub = dev.add_subparsers(dest="dev_command", metavar="COMMAND", required=True)
    kafka = dev_sub.add_parser(
        "kafka",
        help=f"run Apache Kafka {KAFKA_VERSION} (KRaft) from the Maven jars as local processes",
        description=(
            "Fetch Apache Kafka from Maven Central into ~/.cache/silian (once), then run it "
            "as local java processes in KRaft mode on 127.0.0.1."
        ),
    )
    k_sub = kafka.add_subparsers(dest="kafka_command", metavar="ACTION", required=True)

    def with_dir(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--dir",
            type=Path,
            default=None,
            help=f"state folder: configs, data, logs (default {default_state_dir()})",
        )
        add_json_flag(p)
        return p

    fetch = with_dir(k_sub.add_parser("fetch", help="fetch the broker jars into the cache"))
    fetch.set_defaults(func=_fetch)
    up = with_dir(k_sub.add_parser("up", help="start a local cluster and wait until it answers"))
    up.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="number of nodes, each broker+controller (default 1; 3 for a cluster)",
    )
    up.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help=f"client port of node 1; node i uses base+i-1 and base+100+i-1 "
        f"(default {DEFAULT_BASE_PORT}; 0 picks free ports)",
    )
    up.add_argument(
        "--timeout",
        type=float,
        default=90.0,
        help="seconds to wait for the cluster to answer (default 90)",
    )
    up.set_defaults(func=_up)
    down = with_dir(k_sub.add_parser("down", help="stop every node of the local cluster"))
    down.set_defaults(func=_down)
    status = with_dir(k_sub.add_parser("status", help="show the nodes and whether they run"))
    status.set_defaults(func=_status)


def _cluster(args: argparse.Namespace) -> LocalKafka:
    return LocalKafka(args.dir or default_state_dir())


def _fetch(args: argparse.Namespace) -> int:
    started = time.monotonic()
    libs = ensure_kafka_libs()
    jars = sorted(p.name for p in libs.glob("*.jar"))
    size = sum(p.stat().st_size for p in libs.glob("*.jar"))
    if args.json:
        emit_json(
            {
                "version": KAFKA_VERSION,
                "libs": str(libs),
                "jars": len(jars),
                "bytes": size,
                "seconds": round(time.monotonic() - started, 2),
            }
        )
    else:
        print(f"Kafka {KAFKA_VERSION}: {len(jars)} jars, {size / 1e6:.1f} MB in {libs}")
    return ExitCode.OK


def _up(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    started = time.monotonic()
    if not args.json:
        print(f"starting {args.nodes} Kafka node(s) in {cluster.state_dir} …", file=sys.stderr)
    bootstrap = cluster.up(nodes=args.nodes, base_port=args.base_port, timeout=args.timeout)
    elapsed = time.monotonic() - started
    if args.json:
        emit_json({**cluster.describe(), "seconds": round(elapsed, 2)})
    else:
        print(f"Kafka {KAFKA_VERSION} up with {len(cluster.nodes)} node(s) in {elapsed:.1f}s")
        print(f"export SILIAN_KAFKA_BOOTSTRAP={bootstrap}")
    return ExitCode.OK


def _down(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    was = len(cluster.running())
    cluster.down()
    if args.json:
        emit_json({"stopped": was, "state_dir": str(cluster.state_dir)})
    else:
        print(f"stopped {was} node(s); data kept in {cluster.state_dir}")
    return ExitCode.OK


def _status(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    info = cluster.describe()
    running = len(cluster.running())
    if args.json:
        emit_json(info)
    elif not cluster.nodes:
        print(f"no local Kafka configured in {cluster.state_dir}")
    else:
        for node in cluster.nodes:
            mark = "running" if node in cluster.running() else "stopped"
            log = cluster.log_path(node.node_id)
            print(f"node {node.node_id}  {node.address}  {mark}  log {log}")
    # Exit 0 only when every configured node runs: scripts can test it.
    return ExitCode.OK if cluster.nodes and running == len(cluster.nodes) else ExitCode.FAILED
