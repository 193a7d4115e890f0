"""The auditor: replay a signed history, from Kafka or a bundle, and report every anomaly.

See docs/audit.md. Stage 1 judges each record with the pipeline's own steps
(:mod:`bus.audit.examine`, on all cores; a bundle a byte range at a time,
:mod:`bus.audit.spans`); stage 2 judges chains, lifecycle sense and the Merkle roots of
the signed checkpoints (:mod:`bus.audit.replay`, with :mod:`bus.tlog`).
"""

from __future__ import annotations

from bus.audit.anomaly import Anomaly
from bus.audit.bundle import BUNDLE_FORMAT, Bundle, BundleWriter, open_bundle
from bus.audit.replay import AuditReport, Mode, Replayer, ReplayOptions, replay
from bus.audit.report import render_html, render_json, render_text
from bus.audit.runner import export_bundle, replay_bundle, replay_transport
from bus.audit.source import RecordRange

__all__ = [
    "BUNDLE_FORMAT",
    "Anomaly",
    "AuditReport",
    "Bundle",
    "BundleWriter",
    "Mode",
    "RecordRange",
    "ReplayOptions",
    "Replayer",
    "export_bundle",
    "open_bundle",
    "render_html",
    "render_json",
    "render_text",
    "replay",
    "replay_bundle",
    "replay_transport",
]
