"""Audit bundles: a signed history on one file that verifies with no Kafka and no network.

JSON Lines, UTF-8, one object a line, in this order (docs/audit.md gives every field)::

    {"kind": "header", "format": "silian-audit-bundle-v3", "federation": …, "log_keeper": …}
    {"kind": "agreement", "version": 1, "document": <base64 exact bytes>, "signatures": <base64>}
    {"kind": "key", "version": V, …}         a key record version V declares, for outside tools
    {"kind": "checkpoint", "note": "<signed note text, with cosignatures>"}
    {"kind": "record", "topic", "partition", "offset", "timestamp_ms", "key", "value",
     "headers": [[name, "text"], [name, {"base64": …}], …]}  key/value base64, as stored
    {"kind": "proof", "type": "inclusion" | "consistency", "origin", …}  (v3) proofs to a
     cosigned checkpoint line of the bundle
    {"kind": "end", "records": N, "checkpoints": M, "proofs": P}

A header value is its text when every byte is printable ASCII (every well-formed silian
header is: an auditor can grep a bundle for an event id), else ``{"base64": …}``; either
way the reader gets the exact stored bytes back. Kafka allows what silian refuses, and a
bundle keeps it as stored: ``"value": null`` for a tombstone, ``[name, null]`` for a null
header value, a name that is not UTF-8 as ``{"base64": …}``, and ``"timestamp_type":
"create"`` on a record whose time its producer set (absent: the broker's append time).
Format v1 (every header value base64) and v2 (no proof lines) are still read.

Nothing in a bundle is trusted because it is in the bundle: agreement versions are
verified (every member's signature, chained by digest), records by their signatures,
checkpoints by the log's and witnesses' keys from the agreement; a key line must repeat
exactly a key record of the version it names. The ``end`` line only catches a file cut
short by accident (its counts must match, nothing may follow it); deletion at the end of
a partition is caught by the signed checkpoints. Every line is checked before use (JSON
depth first, then each field's type and range) and a malformed one is a BundleError
naming its line in the file, 1 being the header.
"""

from __future__ import annotations

from bus.audit.bundle.lines import (
    BUNDLE_FORMAT,
    BUNDLE_FORMATS,
    header_bytes,
    header_json,
    record_of_line,
)
from bus.audit.bundle.reader import Bundle, byte_spans, open_bundle
from bus.audit.bundle.writer import BundleWriter, agreement_documents

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_FORMATS",
    "Bundle",
    "BundleWriter",
    "agreement_documents",
    "byte_spans",
    "header_bytes",
    "header_json",
    "open_bundle",
    "record_of_line",
]
