"""One agency's bus process: its :class:`Bus` — publisher, subscriptions, quarantine,
topics — and the audit services it runs beside them.

Records go through :mod:`bus.pipeline` on their way in; what the agency knows between
records is its :class:`AgencyContext` and local store (:mod:`bus.state`).
"""

from __future__ import annotations

from bus.node.bus import Bus, BusConfig
from bus.node.consume import Subscription
from bus.node.context import AgencyContext
from bus.node.publish import Published, Publisher
from bus.node.quarantine import QuarantinedRecord, read_quarantine_headers
from bus.node.results import Delivery, Outcome, Result
from bus.node.topics import Drift, TopicPlan, apply_topics, plan_topics, topic_drift

__all__ = [
    "AgencyContext",
    "Bus",
    "BusConfig",
    "Delivery",
    "Drift",
    "Outcome",
    "Published",
    "Publisher",
    "QuarantinedRecord",
    "Result",
    "Subscription",
    "TopicPlan",
    "apply_topics",
    "plan_topics",
    "read_quarantine_headers",
    "topic_drift",
]
