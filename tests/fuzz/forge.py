"""Validly signed records a hostile (or buggy) member could send: every field bendable.

:class:`Forge` makes what a real publisher makes — the event's topic and key, a fresh
chain of its own at seq 1, the member's current signing key, sealed for every reader
when the handling says so — and then lets any signed attribute or the value be replaced
*before* signing, so the signature verifies over whatever hostile bytes were chosen.
Unchanged, a forged record is valid: the fuzz tests use that as their control.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, replace
from datetime import datetime

from agencies.keys import KeyAlg, SigningKey
from bus.envelope.handling import format_handling
from bus.envelope.headers import (
    CONTENT_TYPE_JSON,
    CONTENT_TYPE_SEALED,
    GENESIS,
    SIGNATURE_HEADER,
    SPEC_VERSION,
    Attributes,
)
from bus.envelope.ids import new_event_id, now
from bus.envelope.seal import seal
from bus.envelope.signature import decode_headers, signature_base
from bus.sandbox.federation import Federation
from bus.transport.base import OutgoingRecord
from bus.transport.partitioner import partition_for_key
from contracts.base import EventModel, Family
from contracts.registry import encode, spec_for_model
from contracts.vocab import Handling, HandlingCode, Tlp
from tests.fuzz.world import CONSUMER, RecordWorld

__all__ = ["Draft", "Forge", "Scene", "scene_of"]

_DEFAULT = Handling(code=HandlingCode.H1, tlp=Tlp.GREEN)


@dataclass(frozen=True, kw_only=True)
class Draft:
    """A record before signing: what a real publisher would send, to be bent."""

    agency: str
    topic: str
    partition: int  # where the key puts it: its chain id names it
    key: bytes
    attributes: Attributes
    canonical: Attributes  # as the publisher made them, whatever they are bent to
    ce_type: str  # the event's own type
    value: bytes
    plaintext: bytes  # the event JSON (what ``value`` seals, when sealed)
    sealed: bool

    def with_attributes(self, **changes: str) -> Draft:
        return replace(self, attributes=self.attributes._replace(**changes))


class Forge:
    """Drafts and signs records as ``fed``'s members, on fresh chains (one per record)."""

    def __init__(self, fed: Federation, *, partitions: dict[str, int]) -> None:
        self._fed = fed
        self._partitions = partitions  # topic -> partition count, as provisioned
        self._signers: dict[str, tuple[str, SigningKey]] = {}
        self._chains = itertools.count(1)

    def signer(self, agency: str) -> tuple[str, SigningKey]:
        if agency not in self._signers:
            record = self._fed.keystore.current(agency, KeyAlg.ED25519, at=now())
            self._signers[agency] = (record.key_id, self._fed.keystore.signing_key(record.key_id))
        return self._signers[agency]

    def sealing_kid(self, agency: str) -> str:
        return self._fed.keystore.current(agency, KeyAlg.X25519, at=now()).key_id

    def draft(self, agency: str, event: EventModel, *, at: datetime | None = None) -> Draft:
        spec = spec_for_model(event)
        topic = spec.topic(self._fed.federation_id, event)
        key = spec.partition_key(event).encode("utf-8")
        partitions = 1 if spec.family is Family.CASE else self._partitions[topic]
        partition = partition_for_key(key, partitions)
        moment = at or now()
        handling = event.declared_handling() or _DEFAULT
        event_id = new_event_id()
        plaintext = encode(event)
        value = plaintext
        if handling.confidential:
            value = self.seal(plaintext, event_id=event_id, ce_type=spec.ce_type, topic=topic)
        key_id, _ = self.signer(agency)
        attributes = Attributes(
            specversion=SPEC_VERSION,
            id=event_id,
            source=f"urn:silian:agency:{agency}",
            type=spec.ce_type,
            time=moment.isoformat(timespec="milliseconds"),
            subject=event.entity_id(),
            content_type=CONTENT_TYPE_SEALED if handling.confidential else CONTENT_TYPE_JSON,
            dataschema=spec.dataschema,
            handling=format_handling(handling),
            priority="routine",
            keyid=key_id,
            chainid=f"{agency}.fuzz{next(self._chains)}.p{partition}",
            chainseq="1",
            prevhash=GENESIS,
        )
        return Draft(
            agency=agency,
            topic=topic,
            partition=partition,
            key=key,
            attributes=attributes,
            canonical=attributes,
            ce_type=spec.ce_type,
            value=value,
            plaintext=plaintext,
            sealed=handling.confidential,
        )

    def seal(self, plaintext: bytes, *, event_id: str, ce_type: str, topic: str) -> bytes:
        """``plaintext`` sealed for every member, as the publisher seals an H2 record."""
        at = now()
        agreement = self._fed.agreements.in_force_at(at)
        recipients = {}
        for member in agreement.members:
            record = agreement.sealing_record(member.code, at)
            recipients[member.code] = (record.key_id, record.sealing_key())
        return seal(plaintext, recipients, event_id=event_id, ce_type=ce_type, topic=topic)

    def sign(self, draft: Draft, *, signer: str | None = None) -> OutgoingRecord:
        """The record with every attribute of ``draft`` signed by ``signer``'s real key
        (the draft's agency by default), whatever those attributes say."""
        _, key = self.signer(signer or draft.agency)
        base = signature_base(
            topic=draft.topic, key=draft.key, attributes=draft.attributes, value=draft.value
        )
        headers = [(name, text.encode("ascii")) for name, text in draft.attributes.as_headers()]
        headers.append((SIGNATURE_HEADER, base64.b64encode(key.sign(base))))
        return OutgoingRecord(
            topic=draft.topic, key=draft.key, value=draft.value, headers=tuple(headers)
        )


@dataclass(frozen=True, kw_only=True)
class Scene:
    """What hostile strategies need to know of the federation the records are sent into."""

    forge: Forge
    members: tuple[str, ...]  # who signs the hostile records (not the consumer)
    consumer: str
    used_ids: dict[str, list[str]]  # event ids each agency already used on the bus
    real_chains: dict[tuple[str, str], list[str]]  # (agency, topic) -> chains with a head


async def scene_of(world: RecordWorld) -> Scene:
    """The scene of a world: its real records' ids and chains, a forge for its topics."""
    described = await world.transport.describe_topics(world.topics)
    used: dict[str, list[str]] = {}
    chains: dict[tuple[str, str], set[str]] = {}
    for record in world.real:
        attributes, _ = decode_headers(record.headers)
        used.setdefault(attributes.agency, []).append(attributes.id)
        chains.setdefault((attributes.agency, record.topic), set()).add(attributes.chainid)
    return Scene(
        forge=Forge(world.fed, partitions={t: d.partitions for t, d in described.items()}),
        members=tuple(m for m in world.fed.members if m != CONSUMER),
        consumer=CONSUMER,
        used_ids=used,
        real_chains={k: sorted(v) for k, v in chains.items()},
    )
