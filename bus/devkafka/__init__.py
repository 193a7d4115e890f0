"""Local Apache Kafka from the Maven jars, for machines without Docker."""

from __future__ import annotations

from bus.devkafka.cluster import (
    DEFAULT_BASE_PORT,
    LocalKafka,
    NodeInfo,
    default_state_dir,
    kafka_for,
)
from bus.devkafka.fetch import KAFKA_VERSION, cache_root, ensure_kafka_libs, find_java

__all__ = [
    "DEFAULT_BASE_PORT",
    "KAFKA_VERSION",
    "LocalKafka",
    "NodeInfo",
    "cache_root",
    "default_state_dir",
    "ensure_kafka_libs",
    "find_java",
    "kafka_for",
]
