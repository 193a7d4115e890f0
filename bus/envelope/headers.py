"""The record headers of the wire format (CloudEvents 1.0, Kafka binding, binary mode).

The order of :data:`SIGNED_ATTRIBUTES` is the order in the signature base; it is part of
the wire format (docs/wire-format.md) and never changes within ``silian-record-v1``.
:class:`Attributes` holds the values in that same order: it is a tuple, so every position
(``attributes[i]``) is the header ``SIGNED_ATTRIBUTES[i]``, and there is no other list of
positions to keep in step.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "AGENCY_SOURCE_PREFIX",
    "CONTENT_TYPE_JSON",
    "CONTENT_TYPE_SEALED",
    "GENESIS",
    "SIGNATURE_HEADER",
    "SIGNED_ATTRIBUTES",
    "SPEC_VERSION",
    "Attributes",
]

SPEC_VERSION = "1.0"
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_SEALED = "application/vnd.silian.sealed+json"
SIGNATURE_HEADER = "ce_signature"
AGENCY_SOURCE_PREFIX = "urn:silian:agency:"
GENESIS = "0" * 64
"""``ce_prevhash`` of the first record of every chain: it names no record before it."""


class Attributes(NamedTuple):
    """The signed CloudEvents attributes of one record, as ASCII strings, in order."""

    specversion: str
    id: str
    source: str
    type: str
    time: str
    subject: str
    content_type: str
    dataschema: str
    handling: str
    priority: str
    keyid: str
    chainid: str
    chainseq: str
    prevhash: str

    def as_headers(self) -> list[tuple[str, str]]:
        return list(zip(SIGNED_ATTRIBUTES, self, strict=True))

    @property
    def agency(self) -> str:
        """The agency code of ``ce_source`` (``urn:silian:agency:<code>``)."""
        return self.source.removeprefix(AGENCY_SOURCE_PREFIX)


def _header_name(field: str) -> str:
    return "content-type" if field == "content_type" else f"ce_{field}"


# Every header that the signature covers, in signature-base order (Attributes' order).
SIGNED_ATTRIBUTES: tuple[str, ...] = tuple(_header_name(f) for f in Attributes._fields)
