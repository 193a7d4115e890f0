"""The compose file and Dockerfile agree with the local cluster (no engine runs here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bus.devkafka import DEFAULT_BASE_PORT, KAFKA_VERSION
from bus.devkafka.config import NodeInfo, server_properties

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker" / "compose.yaml"


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _kafka_services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    return {k: v for k, v in services.items() if k.startswith("kafka-")}


def test_three_kafka_nodes_on_the_pinned_version() -> None:
    kafka = _kafka_services()
    assert sorted(kafka) == ["kafka-1", "kafka-2", "kafka-3"]
    for service in kafka.values():
        assert service["image"] == f"apache/kafka:{KAFKA_VERSION}"


def test_host_ports_match_the_local_cluster_layout() -> None:
    for name, service in _kafka_services().items():
        node = int(name.split("-")[1])
        port = DEFAULT_BASE_PORT + node - 1
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
        env = service["environment"]
        assert env["KAFKA_NODE_ID"] == str(node)
        assert f"EXTERNAL://127.0.0.1:{port}" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_replication_settings_equal_the_local_three_node_config(tmp_path: Path) -> None:
    local = dict(
        line.split("=", 1)
        for line in server_properties(
            node=NodeInfo(node_id=1, port=DEFAULT_BASE_PORT, controller_port=19192),
            voters="1@x:1,2@x:2,3@x:3",
            data_dir=tmp_path,
            replication=3,
            min_isr=2,
        ).splitlines()
    )
    shared = {
        "default.replication.factor",
        "min.insync.replicas",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "auto.create.topics.enable",
        "num.partitions",
        "unclean.leader.election.enable",
        "process.roles",
    }
    for service in _kafka_services().values():
        env = service["environment"]
        for key in shared:
            env_key = "KAFKA_" + key.upper().replace(".", "_")
            assert env[env_key] == local[key], key
        assert len(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == 3


def test_dockerfile_installs_the_package_and_runs_the_cli() -> None:
    text = (ROOT / "docker" / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM python:3.11" in text
    for package in ("bus", "agencies", "contracts", "adapters"):
        assert f"COPY {package} ./{package}" in text
    assert 'ENTRYPOINT ["silian"' in text
    assert "USER silian" in text
    assert _compose()["services"]["silian"]["build"]["dockerfile"] == "docker/Dockerfile"
