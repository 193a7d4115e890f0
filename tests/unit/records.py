"""Records signed exactly as a publisher signs them, with any signed field bent.

What the pipeline's steps are tested on: a record can be validly signed and malformed all
the same (a ``ce_chainseq`` of ``0``), or well formed and signed by the wrong key. The
signing itself is the bus's own (:func:`bus.envelope.signature.sign_record`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from agencies.keys import KeyAlg, SigningKey
from bus.envelope.handling import DEFAULT_HANDLING, format_handling
from bus.envelope.headers import (
    AGENCY_SOURCE_PREFIX,
    CONTENT_TYPE_JSON,
    GENESIS,
    SPEC_VERSION,
    Attributes,
)
from bus.envelope.ids import format_time, new_event_id
from bus.envelope.signature import sign_record
from bus.transport.base import Record
from contracts import examples
from contracts.base import EventModel
from contracts.registry import encode, spec_for_model
from tests.unit.histories import JIANGSHAN, T0, Federation

__all__ = ["MEETING", "header", "signed", "with_header"]

# An event no lifecycle rule judges: a record of it is judged by the record steps alone.
MEETING = next(e for _, e in examples.example_story() if e.event_type == "liaison.meeting")


def signed(
    fed: Federation,
    event: EventModel | None = None,
    *,
    agency: str = JIANGSHAN,
    at: datetime = T0,
    key_id: str | None = None,
    signer: SigningKey | None = None,
    value: bytes | None = None,
    topic: str | None = None,
    key: bytes | None = None,
    partition: int = 0,
    offset: int = 0,
    appended: datetime | None = None,
    **changes: str,
) -> Record:
    """``event`` (default :data:`MEETING`) as ``agency`` publishes it at ``at``.

    ``key_id`` names the key in ``ce_keyid`` (default: the agency's current one), which
    ``signer`` signs with (default: that key); ``value``, ``topic`` and ``key`` replace
    what the contract derives; ``appended`` is the broker's time (default ``at``);
    ``changes`` bend any other signed attribute (``chainseq="0"``, ``priority="URGENT"``).
    The chain is ``<agency>.main.0123456789ab.p<partition>`` at seq 1 unless changed.
    """
    event = event or MEETING
    spec = spec_for_model(event)
    key_id = key_id or fed.keystore.current(agency, KeyAlg.ED25519, at=at).key_id
    attributes = Attributes(
        specversion=SPEC_VERSION,
        id=new_event_id(),
        source=f"{AGENCY_SOURCE_PREFIX}{agency}",
        type=spec.ce_type,
        time=format_time(at),
        subject=event.entity_id(),
        content_type=CONTENT_TYPE_JSON,
        dataschema=spec.dataschema,
        handling=format_handling(event.declared_handling() or DEFAULT_HANDLING),
        priority="routine",
        keyid=key_id,
        chainid=f"{agency}.main.0123456789ab.p{partition}",
        chainseq="1",
        prevhash=GENESIS,
    )._replace(**changes)
    topic = topic or spec.topic(fed.federation_id, event)
    record_key = spec.partition_key(event).encode() if key is None else key
    data = encode(event) if value is None else value
    headers, _ = sign_record(
        topic=topic,
        key=record_key,
        attributes=attributes,
        value=data,
        signing_key=signer or fed.keystore.signing_key(key_id),
    )
    return Record(
        topic=topic,
        partition=partition,
        offset=offset,
        key=record_key,
        value=data,
        headers=headers,
        timestamp_ms=int((appended or at).timestamp() * 1000),
    )


def header(record: Record, name: str) -> bytes | None:
    return next(v for n, v in record.headers if n == name)


def with_header(record: Record, name: str, value: bytes | None, **changes: Any) -> Record:
    """``record`` with header ``name`` set to ``value`` in its place (the signature is
    not made again); ``changes`` replace other parts of the record."""
    headers = tuple((n, value if n == name else v) for n, v in record.headers)
    return dataclasses.replace(record, headers=headers, **changes)
