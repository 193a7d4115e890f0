"""Local-Kafka tooling without starting Java: configs, ports, clear errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bus.cli.main import main
from bus.devkafka import LocalKafka, kafka_for
from bus.devkafka.config import NodeInfo, kafka_uuid, server_properties


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_three_node_config_replicates_three_with_min_isr_two(tmp_path: Path) -> None:
    node = NodeInfo(node_id=2, port=19093, controller_port=19193)
    props = _props(
        server_properties(
            node=node,
            voters="1@127.0.0.1:19192,2@127.0.0.1:19193,3@127.0.0.1:19194",
            data_dir=tmp_path,
            replication=3,
            min_isr=2,
        )
    )
    assert props["process.roles"] == "broker,controller"
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["listeners"].startswith("PLAINTEXT://127.0.0.1:19093")
    assert props["auto.create.topics.enable"] == "false"


def test_port_taken_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["dev", "kafka", "up", "--dir", str(tmp_path), "--base-port", str(port)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert len(err) == 2  # the "starting" progress line, then the one-line error
    assert f"port {port} on 127.0.0.1 is taken" in err[-1]
    assert "Traceback" not in "".join(err)


def test_missing_java_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no java, no mvn
    code = main(["dev", "kafka", "up", "--dir", str(tmp_path / "k")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert err[-1].startswith("silian: error: java not found on PATH")


def test_missing_maven_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    java_dir = tmp_path / "bin"
    java_dir.mkdir()
    java = java_dir / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"17.0.9\"' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("PATH", str(java_dir))
    monkeypatch.setenv("SILIAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SILIAN_KAFKA_LIBS", raising=False)
    code = main(["dev", "kafka", "fetch"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert err[-1].startswith("silian: error: mvn not found on PATH")


def test_status_of_unconfigured_dir_exits_nonzero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev", "kafka", "status", "--dir", str(tmp_path)]) == 1
    assert "no local Kafka configured" in capsys.readouterr().out
    assert LocalKafka(tmp_path).nodes == []


def test_a_cluster_id_never_starts_with_a_dash() -> None:
    # 1 random id in 64 would; the storage tool then takes it for an option and refuses
    # to format (a local cluster failed to start that way now and then)
    ids = [kafka_uuid() for _ in range(5000)]
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)
    assert len(set(ids)) == len(ids)
    assert {i[0] for i in ids} > {"A", "_"}  # still random over the alphabet


def test_a_given_bootstrap_is_used_as_it_is_and_nothing_starts(tmp_path: Path) -> None:
    with kafka_for("kafka1:9092,kafka2:9092", tmp_path / "cluster") as (bootstrap, what):
        assert bootstrap == "kafka1:9092,kafka2:9092"
        assert what == "external (--bootstrap)"
    assert not (tmp_path / "cluster").exists()  # no local cluster was configured
