"""silian's bus: one agency's end of the cooperation bus — publish signed events, receive
the verified ones, answer with receipts — over Kafka or an embedded SQLite transport.

::

    from bus import Delivery, Settings, open_bus

    async with open_bus(settings) as bus:
        await bus.publish(alert)
        subscription = bus.subscribe()

        @subscription.on(AlertHit)
        async def on_hit(delivery: Delivery[AlertHit]) -> None: ...

This is the surface a user of the library needs; the rooms below it (:mod:`bus.envelope`,
:mod:`bus.pipeline`, :mod:`bus.tlog`, :mod:`bus.audit`, …) have surfaces of their own.
Only rooms are imported here, never a module that imports ``bus`` back.
"""

from __future__ import annotations

from bus.errors import (
    BusError,
    ConfigError,
    ContractError,
    EventRejectedError,
    LifecycleError,
    NotConnectedError,
    PermissionDeniedError,
    RecordRejectedError,
    RedeliverError,
    SilianError,
    TransportError,
    VerificationError,
)
from bus.logs import configure_logging
from bus.node import Bus, BusConfig, Delivery, Outcome, Published, Result, Subscription
from bus.reasons import Reason
from bus.settings import Settings, open_bus, open_transport
from bus.transport import EmbeddedTransport, KafkaConfig, KafkaTransport, Transport

__all__ = [
    "Bus",
    "BusConfig",
    "BusError",
    "ConfigError",
    "ContractError",
    "Delivery",
    "EmbeddedTransport",
    "EventRejectedError",
    "KafkaConfig",
    "KafkaTransport",
    "LifecycleError",
    "NotConnectedError",
    "Outcome",
    "PermissionDeniedError",
    "Published",
    "Reason",
    "RecordRejectedError",
    "RedeliverError",
    "Result",
    "Settings",
    "SilianError",
    "Subscription",
    "Transport",
    "TransportError",
    "VerificationError",
    "configure_logging",
    "open_bus",
    "open_transport",
]
