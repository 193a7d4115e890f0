"""Hand-made records for the bad-input tests: what a buggy or hostile publisher could send.

Everything a real publisher does, but each step can be skipped or bent: the event, the
headers, the key that signs, the chain position.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from datetime import datetime

from agencies.keys import KeyAlg, SigningKey
from bus.envelope.handling import format_handling
from bus.envelope.headers import CONTENT_TYPE_JSON, SIGNATURE_HEADER, SPEC_VERSION, Attributes
from bus.envelope.ids import format_time, new_event_id, now
from bus.envelope.signature import record_hash, signature_base
from bus.pipeline import GENESIS
from bus.sandbox.federation import Federation
from bus.transport.base import OutgoingRecord
from bus.transport.partitioner import partition_for_key
from contracts.base import EventModel, Family
from contracts.registry import encode, spec_for_model
from contracts.vocab import Handling, HandlingCode, Tlp

__all__ = ["Crafted", "craft", "with_header"]

GREEN = Handling(code=HandlingCode.H1, tlp=Tlp.GREEN)


class Crafted:
    def __init__(self, record: OutgoingRecord, attributes: Attributes, hash_: str) -> None:
        self.record = record
        self.attributes = attributes
        self.hash = hash_


def craft(
    fed: Federation,
    *,
    agency: str,
    event: EventModel,
    value: bytes | None = None,
    ce_type: str | None = None,
    chain_id: str | None = None,
    seq: int | str = 1,
    prevhash: str = GENESIS,
    signer: SigningKey | None = None,
    key_id: str | None = None,
    at: datetime | None = None,
    handling: Handling | None = None,
    partitions: int = 3,
    event_id: str | None = None,
    content_type: str = CONTENT_TYPE_JSON,
) -> Crafted:
    """``partitions``: of the event's family topic (a case topic has one), so that the
    chain id names the partition the record lands on, as a real publisher's does."""
    spec = spec_for_model(event)
    topic = spec.topic(fed.federation_id, event)
    key = spec.partition_key(event).encode()
    partition = partition_for_key(key, 1 if spec.family is Family.CASE else partitions)
    moment = at or now()
    if key_id is None or signer is None:
        record = fed.keystore.current(agency, KeyAlg.ED25519, at=moment)
        key_id = key_id or record.key_id
        signer = signer or fed.keystore.signing_key(record.key_id)
    data = encode(event) if value is None else value
    declared = event.declared_handling()
    attributes = Attributes(
        specversion=SPEC_VERSION,
        id=event_id or new_event_id(),
        source=f"urn:silian:agency:{agency}",
        type=ce_type or spec.ce_type,
        time=format_time(moment),
        subject=event.entity_id(),
        content_type=content_type,
        dataschema=spec.dataschema,
        handling=format_handling(handling or declared or GREEN),
        priority="routine",
        keyid=key_id,
        chainid=chain_id or f"{agency}.craft.{uuid.uuid4().hex[:8]}.p{partition}",
        chainseq=str(seq),
        prevhash=prevhash,
    )
    base = signature_base(topic=topic, key=key, attributes=attributes, value=data)
    signature = signer.sign(base)
    headers = [(n, v.encode()) for n, v in attributes.as_headers()]
    headers.append((SIGNATURE_HEADER, base64.b64encode(signature)))
    return Crafted(
        OutgoingRecord(topic=topic, key=key, value=data, headers=tuple(headers)),
        attributes,
        record_hash(base, signature),
    )


def with_header(record: OutgoingRecord, name: str, value: bytes | None) -> OutgoingRecord:
    """The same record with one header replaced (or dropped when ``value`` is None)."""
    headers = tuple((n, v) for n, v in record.headers if n != name)
    if value is not None:
        headers = (*headers, (name, value))
    return replace(record, headers=headers)
