"""Signed records made without a broker: for the benchmark, the tests and demos of audit.

A :class:`ChainWriter` is one publishing process of one agency: it signs records exactly
as :mod:`bus.node.publish` does (:func:`bus.envelope.signature.sign_record`, the same chain
fields), but hands back :class:`~bus.transport.base.Record` objects at offsets the caller
chooses, so a history of any size can be written straight into a bundle.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from agencies.keys import SigningKey
from bus.envelope.handling import DEFAULT_HANDLING, format_handling
from bus.envelope.headers import CONTENT_TYPE_JSON, GENESIS, SPEC_VERSION, Attributes
from bus.envelope.ids import format_time, new_event_id
from bus.envelope.signature import sign_record
from bus.transport.base import Record
from contracts.base import EventModel
from contracts.registry import encode, spec_for_model

__all__ = ["ChainWriter"]


@dataclass(kw_only=True)
class ChainWriter:
    """Signs the records of one agency's publisher, one chain per (partition, topic)."""

    agency: str
    key_id: str
    key: SigningKey
    federation: str = "jpg"
    publisher: str = "main"
    chain_base: str = ""
    _heads: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.chain_base:
            self.chain_base = f"{self.agency}.{self.publisher}.{uuid.uuid4().hex[:12]}"

    def chain_id(self, partition: int) -> str:
        return f"{self.chain_base}.p{partition}"

    def event_record(
        self, event: EventModel, *, at: datetime, offset: int, partition: int = 0
    ) -> Record:
        """A signed record of a contract event, on the topic its contract names."""
        spec = spec_for_model(event)
        handling = event.declared_handling() or DEFAULT_HANDLING
        return self.record(
            topic=spec.topic(self.federation, event),
            partition=partition,
            offset=offset,
            key=spec.partition_key(event).encode(),
            value=encode(event),
            ce_type=spec.ce_type,
            dataschema=spec.dataschema,
            subject=event.entity_id(),
            handling=format_handling(handling),
            at=at,
        )

    def record(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes,
        value: bytes,
        ce_type: str,
        dataschema: str,
        subject: str,
        handling: str,
        at: datetime,
        priority: str = "routine",
        event_id: str | None = None,
    ) -> Record:
        chain = self.chain_id(partition)
        seq, previous = self._heads.get((chain, topic), (0, GENESIS))
        attributes = Attributes(
            specversion=SPEC_VERSION,
            id=event_id or new_event_id(),
            source=f"urn:silian:agency:{self.agency}",
            type=ce_type,
            time=format_time(at),
            subject=subject,
            content_type=CONTENT_TYPE_JSON,
            dataschema=dataschema,
            handling=handling,
            priority=priority,
            keyid=self.key_id,
            chainid=chain,
            chainseq=str(seq + 1),
            prevhash=previous,
        )
        headers, digest = sign_record(
            topic=topic, key=key, attributes=attributes, value=value, signing_key=self.key
        )
        self._heads[(chain, topic)] = (seq + 1, digest)
        return Record(
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            value=value,
            headers=headers,
            timestamp_ms=int(at.timestamp() * 1000),
        )
