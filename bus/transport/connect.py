"""The one way to build a transport: Kafka when a bootstrap is named, else embedded."""

from __future__ import annotations

from pathlib import Path

from bus.transport.base import Transport
from bus.transport.embedded import EmbeddedTransport
from bus.transport.kafka import KafkaConfig, KafkaTransport

__all__ = ["connect"]


def connect(
    kafka: str | None,
    *,
    embedded: Path | None = None,
    client_id: str = "silian",
    request_timeout_ms: int = 30_000,
) -> Transport:
    """A transport, not started: Kafka at ``kafka`` (``HOST:PORT,…``), or — when it is None
    or empty — the embedded one in the SQLite file ``embedded``. ``client_id`` names this
    client to the brokers (``silian-<agency>``, ``silian-audit``, …)."""
    if kafka:
        return KafkaTransport(
            KafkaConfig(bootstrap=kafka, client_id=client_id, request_timeout_ms=request_timeout_ms)
        )
    if embedded is None:
        raise ValueError("no Kafka bootstrap and no embedded file: nothing to connect to")
    return EmbeddedTransport(embedded)
