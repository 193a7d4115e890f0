"""Transports: Kafka for deployment, embedded SQLite for one machine, one interface."""

from __future__ import annotations

from bus.transport.base import (
    ConfigChange,
    Consumer,
    Coordinates,
    OutgoingRecord,
    PartitionShortfall,
    Record,
    TimestampType,
    TopicChanges,
    TopicDescription,
    TopicSpec,
    Transport,
    estimated_size,
)
from bus.transport.connect import connect
from bus.transport.embedded import EmbeddedConsumer, EmbeddedTransport
from bus.transport.kafka import KafkaConfig, KafkaConsumer, KafkaTransport
from bus.transport.partitioner import partition_for_key

__all__ = [
    "ConfigChange",
    "Consumer",
    "Coordinates",
    "EmbeddedConsumer",
    "EmbeddedTransport",
    "KafkaConfig",
    "KafkaConsumer",
    "KafkaTransport",
    "OutgoingRecord",
    "PartitionShortfall",
    "Record",
    "TimestampType",
    "TopicChanges",
    "TopicDescription",
    "TopicSpec",
    "Transport",
    "connect",
    "estimated_size",
    "partition_for_key",
]
