"""The public surface of bus.transport is deliberate; changing it should be a decision."""

from __future__ import annotations

import bus.transport


def test_public_names_are_pinned() -> None:
    assert bus.transport.__all__ == [
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
    assert all(hasattr(bus.transport, name) for name in bus.transport.__all__)


def test_kafka_config_hides_the_password() -> None:
    config = bus.transport.KafkaConfig(bootstrap="b:9092", sasl_password="s3cret")
    assert "s3cret" not in repr(config)
