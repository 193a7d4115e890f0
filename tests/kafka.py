"""How the test suite finds a real Kafka, in the order DESIGN.md gives.

1. ``SILIAN_KAFKA_BOOTSTRAP`` — a broker someone else runs (and, for ``cluster`` tests,
   ``SILIAN_KAFKA_CLUSTER_DIR`` naming the state folder of ``silian dev kafka up --nodes 3``
   so that tests may kill and restart its nodes);
2. a local three-node KRaft cluster started here from the Apache Kafka jars (Maven);
3. testcontainers' ``KafkaContainer`` where a Docker engine answers;
4. otherwise skip with the reason — or fail when ``SILIAN_REQUIRE_KAFKA=1`` (CI).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bus.devkafka import LocalKafka
from bus.errors import SilianError


@dataclass(frozen=True, kw_only=True)
class KafkaTarget:
    """A broker the tests may use; ``local`` is set when nodes can be killed and restarted."""

    bootstrap: str
    origin: str
    local: LocalKafka | None = None


class KafkaUnavailableError(Exception):
    """No Kafka could be found or started; the message says what was tried."""


def _docker_kafka() -> Iterator[KafkaTarget]:
    try:
        from testcontainers.kafka import KafkaContainer  # noqa: PLC0415

        import docker  # noqa: PLC0415

        docker.from_env().ping()
    except Exception as error:  # noqa: BLE001 - any failure means "no engine here"
        raise KafkaUnavailableError(f"no Docker engine answers ({type(error).__name__})") from None
    with KafkaContainer().with_kraft() as container:
        yield KafkaTarget(bootstrap=container.get_bootstrap_server(), origin="testcontainers")


@contextlib.contextmanager
def resolve_kafka() -> Iterator[KafkaTarget]:
    """Yield a usable Kafka; stop whatever this function itself started."""
    if bootstrap := os.environ.get("SILIAN_KAFKA_BOOTSTRAP"):
        cluster_dir = os.environ.get("SILIAN_KAFKA_CLUSTER_DIR")
        local = LocalKafka(Path(cluster_dir)) if cluster_dir else None
        yield KafkaTarget(bootstrap=bootstrap, origin="SILIAN_KAFKA_BOOTSTRAP", local=local)
        return
    reasons = []
    state_dir = Path(tempfile.mkdtemp(prefix="silian-test-kafka-"))
    cluster = LocalKafka(state_dir)
    try:
        bootstrap = cluster.up(nodes=3, base_port=0, timeout=120)
    except SilianError as error:
        reasons.append(f"local jars: {error}")
    else:
        try:
            yield KafkaTarget(bootstrap=bootstrap, origin="local jars", local=cluster)
        finally:
            cluster.down()
            shutil.rmtree(state_dir, ignore_errors=True)
        return
    try:
        yield from _docker_kafka()
    except KafkaUnavailableError as error:
        reasons.append(f"testcontainers: {error}")
        raise KafkaUnavailableError("; ".join(reasons)) from None
