"""The record headers of the wire format (CloudEvents 1.0, Kafka binding, binary mode).

The order of :data:`SIGNED_ATTRIBUTES` is the order in the signature base; it is part of
the wire format (docs/wire-format.md) and never changes within ``silian-record-v1``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONTENT_TYPE_JSON",
    "CONTENT_TYPE_SEALED",
    "SIGNATURE_HEADER",
    "SIGNED_ATTRIBUTES",
    "SPEC_VERSION",
    "Attributes",
]

SPEC_VERSION = "1.0"
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_SEALED = "application/vnd.silian.sealed+json"
SIGNATURE_HEADER = "ce_signature"

# Every header that the signature covers, in signature-base order.
SIGNED_ATTRIBUTES: tuple[str, ...] = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "ce_subject",
    "content-type",
    "ce_dataschema",
    "ce_handling",
    "ce_priority",
    "ce_keyid",
    "ce_chainid",
    "ce_chainseq",
    "ce_prevhash",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Attributes:
    """The signed CloudEvents attributes of one record, as ASCII strings."""

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
        return list(zip(SIGNED_ATTRIBUTES, self.values(), strict=True))

    def values(self) -> tuple[str, ...]:
        """The values in :data:`SIGNED_ATTRIBUTES` order."""
        return (
            self.specversion,
            self.id,
            self.source,
            self.type,
            self.time,
            self.subject,
            self.content_type,
            self.dataschema,
            self.handling,
            self.priority,
            self.keyid,
            self.chainid,
            self.chainseq,
            self.prevhash,
        )

    @classmethod
    def from_mapping(cls, values: dict[str, str]) -> Attributes:
        return cls(
            specversion=values["ce_specversion"],
            id=values["ce_id"],
            source=values["ce_source"],
            type=values["ce_type"],
            time=values["ce_time"],
            subject=values["ce_subject"],
            content_type=values["content-type"],
            dataschema=values["ce_dataschema"],
            handling=values["ce_handling"],
            priority=values["ce_priority"],
            keyid=values["ce_keyid"],
            chainid=values["ce_chainid"],
            chainseq=values["ce_chainseq"],
            prevhash=values["ce_prevhash"],
        )

    @property
    def agency(self) -> str:
        """The agency code of ``ce_source`` (``urn:silian:agency:<code>``)."""
        return self.source.removeprefix("urn:silian:agency:")
