"""A local Apache Kafka in KRaft mode, run from the Maven jars as plain ``java`` processes.

One combined node, or a cluster of N nodes each acting as broker and controller. The
state folder holds ``cluster.json`` (ports, pids), one ``node-<id>/`` per node with its
``server.properties``, ``data/`` and ``kafka.log``. Nodes run in their own process group so
they outlive the command that started them; :meth:`LocalKafka.down` stops them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bus.devkafka.config import (
    CONTROLLER_OFFSET,
    DEFAULT_BASE_PORT,
    LOG4J2,
    NodeInfo,
    free_ports,
    kafka_uuid,
    port_free,
    server_properties,
)
from bus.devkafka.fetch import KAFKA_VERSION, ensure_kafka_libs, find_java
from bus.errors import ConfigError, KafkaStartError, SilianEnvironmentError

__all__ = ["DEFAULT_BASE_PORT", "LocalKafka", "NodeInfo", "default_state_dir", "kafka_for"]

_STATE_FILE = "cluster.json"


def default_state_dir() -> Path:
    """``$SILIAN_STATE_DIR/kafka`` or ``~/.local/state/silian/kafka``."""
    base = os.environ.get("SILIAN_STATE_DIR") or str(Path.home() / ".local/state/silian")
    return Path(base) / "kafka"


@dataclass(kw_only=True)
class _State:
    version: str
    cluster_id: str
    nodes: list[NodeInfo] = field(default_factory=list)


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


class LocalKafka:
    """Handle on a local KRaft cluster kept in ``state_dir``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._ready = False
        self._last_error = "no answer"
        self._state: _State | None = self._load()

    # -- public API -----------------------------------------------------------------
    @property
    def nodes(self) -> list[NodeInfo]:
        return list(self._state.nodes) if self._state else []

    @property
    def bootstrap(self) -> str:
        return ",".join(n.address for n in self.nodes)

    def log_path(self, node_id: int) -> Path:
        return self.state_dir / f"node-{node_id}" / "kafka.log"

    def running(self) -> list[NodeInfo]:
        return [n for n in self.nodes if _alive(n.pid)]

    def up(
        self, *, nodes: int = 1, base_port: int = DEFAULT_BASE_PORT, timeout: float = 90.0
    ) -> str:
        """Configure (first time), format and start every node; return the bootstrap list."""
        if nodes < 1:
            raise ConfigError("--nodes must be at least 1")
        if self._state and self.running():
            if len(self._state.nodes) != nodes:
                raise ConfigError(
                    f"a {len(self._state.nodes)}-node cluster already runs in {self.state_dir};"
                    " stop it first (silian dev kafka down)"
                )
            return self.bootstrap
        java = find_java()
        libs = ensure_kafka_libs()
        if self._state is None or len(self._state.nodes) != nodes:
            self._state = self._configure(nodes=nodes, base_port=base_port)
        for node in self._state.nodes:
            for port in (node.port, node.controller_port):
                if not port_free(port):
                    raise SilianEnvironmentError(
                        f"port {port} on 127.0.0.1 is taken; stop what uses it or pass"
                        " --base-port (0 picks free ports)"
                    )
        self._format(java, libs)
        for node in self._state.nodes:
            self.start_node(node.node_id, java=java, libs=libs)
        try:
            self.wait_ready(timeout=timeout)
        except KafkaStartError:
            self.down()
            raise
        return self.bootstrap

    def start_node(
        self, node_id: int, *, java: str | None = None, libs: Path | None = None
    ) -> None:
        """Start one node (after :meth:`kill_node`, or as part of :meth:`up`)."""
        state = self._require_state()
        java = java or find_java()
        libs = libs or ensure_kafka_libs()
        node_dir = self.state_dir / f"node-{node_id}"
        argv = [
            java,
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.state_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={node_dir}",
            "-cp",
            f"{libs}/*",
            "kafka.Kafka",
            str(node_dir / "server.properties"),
        ]
        # posix_spawn in a new session rather than Popen: the node must outlive this process
        # (``silian dev kafka up`` returns at once) and no Popen object is left to warn.
        pid = os.posix_spawn(
            java,
            argv,
            dict(os.environ),
            setsid=True,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (
                    os.POSIX_SPAWN_OPEN,
                    1,
                    str(self.log_path(node_id)),
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                    0o644,
                ),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
        )
        state.nodes = [
            NodeInfo(
                node_id=n.node_id,
                port=n.port,
                controller_port=n.controller_port,
                pid=pid if n.node_id == node_id else n.pid,
            )
            for n in state.nodes
        ]
        self._save()

    def kill_node(self, node_id: int, *, hard: bool = True) -> None:
        """Stop one node: SIGKILL by default (a crash), SIGTERM with ``hard=False``."""
        node = next((n for n in self.nodes if n.node_id == node_id), None)
        if node is None:
            raise ConfigError(f"no node {node_id} in {self.state_dir}")
        self._stop_pid(node.pid, sig=signal.SIGKILL if hard else signal.SIGTERM)

    def down(self, *, timeout: float = 30.0) -> None:
        """Stop every node (SIGTERM, then SIGKILL after ``timeout``); data is kept."""
        for node in self.nodes:
            if _alive(node.pid):
                self._signal(node.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            while _alive(node.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(node.pid):
                self._stop_pid(node.pid, sig=signal.SIGKILL)

    def wait_ready(self, *, timeout: float = 90.0, expect: int | None = None) -> None:
        """Block until the cluster reports ``expect`` brokers (default all) in its metadata."""
        want = expect if expect is not None else len(self.nodes)
        deadline = time.monotonic() + timeout
        # aiokafka logs every refused connection while nodes boot; that is expected here.
        quiet = logging.getLogger("aiokafka")
        previous = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            self._poll_ready(want, deadline)
        finally:
            quiet.setLevel(previous)
        if self._ready:
            return
        first = self.nodes[0].node_id if self.nodes else 1
        raise KafkaStartError(
            f"Kafka did not report {want} brokers within {timeout:.0f}s ({self._last_error})",
            log_path=self.log_path(first),
        )

    def _poll_ready(self, want: int, deadline: float) -> None:
        self._ready = False
        self._last_error = "no answer"
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.pid is not None and not _alive(node.pid):
                    raise KafkaStartError(
                        f"Kafka node {node.node_id} exited during start-up",
                        log_path=self.log_path(node.node_id),
                    )
            try:
                seen = asyncio.run(_count_brokers(self.bootstrap))
            except Exception as error:  # noqa: BLE001 - any failure just means "not yet"
                self._last_error = f"{type(error).__name__}: {error}"
                seen = 0
            if seen >= want:
                self._ready = True
                return
            time.sleep(0.5)

    def describe(self) -> dict[str, object]:
        return {
            "state_dir": str(self.state_dir),
            "version": self._state.version if self._state else None,
            "bootstrap": self.bootstrap,
            "nodes": [
                {**asdict(n), "running": _alive(n.pid), "log": str(self.log_path(n.node_id))}
                for n in self.nodes
            ],
        }

    # -- internals ------------------------------------------------------------------
    def _require_state(self) -> _State:
        if self._state is None:
            raise ConfigError(f"no local Kafka configured in {self.state_dir}; run up first")
        return self._state

    def _load(self) -> _State | None:
        path = self.state_dir / _STATE_FILE
        if not path.exists():
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
        return _State(
            version=raw["version"],
            cluster_id=raw["cluster_id"],
            nodes=[NodeInfo(**n) for n in raw["nodes"]],
        )

    def _save(self) -> None:
        state = self._require_state()
        payload = {
            "version": state.version,
            "cluster_id": state.cluster_id,
            "nodes": [asdict(n) for n in state.nodes],
        }
        tmp = self.state_dir / f"{_STATE_FILE}.tmp"
        tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        tmp.replace(self.state_dir / _STATE_FILE)

    def _configure(self, *, nodes: int, base_port: int) -> _State:
        if base_port == 0:
            ports = free_ports(2 * nodes)
            pairs = [(ports[i], ports[nodes + i]) for i in range(nodes)]
        else:
            pairs = [(base_port + i, base_port + CONTROLLER_OFFSET + i) for i in range(nodes)]
        infos = [
            NodeInfo(node_id=i + 1, port=p, controller_port=c) for i, (p, c) in enumerate(pairs)
        ]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "log4j2.properties").write_text(LOG4J2, encoding="utf-8")
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in infos)
        replication = min(3, nodes)
        min_isr = 2 if nodes >= 3 else 1
        for node in infos:
            node_dir = self.state_dir / f"node-{node.node_id}"
            node_dir.mkdir(parents=True, exist_ok=True)
            (node_dir / "server.properties").write_text(
                server_properties(
                    node=node,
                    voters=voters,
                    data_dir=node_dir / "data",
                    replication=replication,
                    min_isr=min_isr,
                ),
                encoding="utf-8",
            )
        state = _State(version=KAFKA_VERSION, cluster_id=kafka_uuid(), nodes=infos)
        self._state = state
        self._save()
        return state

    def _format(self, java: str, libs: Path) -> None:
        state = self._require_state()
        procs = []
        for node in state.nodes:
            node_dir = self.state_dir / f"node-{node.node_id}"
            if (node_dir / "data" / "meta.properties").exists():
                continue
            procs.append(
                (
                    node,
                    subprocess.Popen(
                        [
                            java,
                            "-Xmx256m",
                            "-cp",
                            f"{libs}/*",
                            f"-Dlog4j2.configurationFile={self.state_dir / 'log4j2.properties'}",
                            "kafka.tools.StorageTool",
                            "format",
                            "--ignore-formatted",
                            "-t",
                            state.cluster_id,
                            "-c",
                            str(node_dir / "server.properties"),
                        ],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    ),
                )
            )
        for node, proc in procs:
            out, _ = proc.communicate(timeout=120)
            if proc.returncode != 0:
                log = self.log_path(node.node_id)
                log.write_bytes(out)
                raise KafkaStartError(
                    f"formatting storage of node {node.node_id} failed", log_path=log
                )

    @staticmethod
    def _signal(pid: int | None, sig: signal.Signals) -> None:
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)

    def _stop_pid(self, pid: int | None, *, sig: signal.Signals) -> None:
        self._signal(pid, sig)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


async def _count_brokers(bootstrap: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415 - keep CLI start fast

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        described = await admin.describe_cluster()
        return len(described.get("brokers", []))
    finally:
        await admin.close()


@contextlib.contextmanager
def kafka_for(
    bootstrap: str | None, state_dir: Path, *, nodes: int = 3
) -> Iterator[tuple[str, str]]:
    """The Kafka to run against: ``bootstrap`` as given, else a local cluster of ``nodes``
    in ``state_dir``, started here and stopped when the block ends. Yields the bootstrap
    list and what it is, in words (for a benchmark's report)."""
    if bootstrap:
        yield bootstrap, "external (--bootstrap)"
        return
    cluster = LocalKafka(state_dir)
    try:
        yield cluster.up(nodes=nodes, base_port=0), f"{KAFKA_VERSION} ({nodes} local KRaft nodes)"
    finally:
        cluster.down()
