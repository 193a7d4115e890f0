"""Publishing: validate → lifecycle → authorise → (seal) → sign → chain → send.

``await publisher.publish(event)`` returns the record's coordinates once the broker
acknowledged it. Records of one publisher go out one at a time per chain, so sequence
numbers and previous-record hashes are exactly the order the broker stored them in.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from datetime import datetime

from bus.context import AgencyContext, format_handling
from bus.envelope.headers import (
    CONTENT_TYPE_JSON,
    CONTENT_TYPE_SEALED,
    SIGNATURE_HEADER,
    SPEC_VERSION,
    Attributes,
)
from bus.envelope.ids import format_time, new_event_id, now
from bus.envelope.seal import seal
from bus.envelope.signature import record_hash, signature_base
from bus.errors import NotConnectedError
from bus.logs import bound_record, get_logger
from bus.store import ChainHead, LedgerEntry
from bus.topics import case_topic_spec
from bus.transport.base import Coordinates, OutgoingRecord
from bus.transport.partitioner import partition_for_key
from contracts.base import EventModel, Family
from contracts.registry import encode, spec_for_model
from contracts.vocab import Priority

__all__ = ["Published", "Publisher", "expects_receipts"]

log = get_logger("silian.publish")

# Families whose events every recipient must acknowledge (事事有回音).
_RECEIPTED = frozenset({Family.ALERT, Family.CASE, Family.DISPUTE, Family.PATROL})


def expects_receipts(event: EventModel) -> bool:
    return Family(event.family) in _RECEIPTED


@dataclass(frozen=True, kw_only=True, slots=True)
class Published:
    """What the broker acknowledged for one published event."""

    event_id: str
    ce_type: str
    topic: str
    coordinates: Coordinates
    chain_id: str
    seq: int
    hash: str
    recipients: tuple[str, ...]
    sealed: bool
    time: datetime


class Publisher:
    """Signs and sends one agency's events on its chains (one chain per topic partition)."""

    def __init__(self, ctx: AgencyContext, *, name: str = "main") -> None:
        self._ctx = ctx
        self._name = name
        self._chain_base: str | None = None
        self._partitions: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._chain_base = await self._ctx.store.process_chain_id(self._ctx.agency, self._name)

    @property
    def chain_base(self) -> str:
        """This publisher's chain id prefix (``<agency>.<name>.<id>``); chains add ``.p<n>``."""
        if self._chain_base is None:
            raise NotConnectedError("the publisher is not started")
        return self._chain_base

    async def _partitions_of(self, topic: str) -> int:
        if topic not in self._partitions:
            described = await self._ctx.transport.describe_topics([topic])
            if topic not in described:
                from bus.errors import TransportError  # noqa: PLC0415

                raise TransportError(
                    f"topic {topic} does not exist; provision it first (silian topics apply)"
                )
            self._partitions[topic] = described[topic].partitions
        return self._partitions[topic]

    async def publish(self, event: EventModel, *, priority: Priority | None = None) -> Published:
        ctx = self._ctx
        if self._chain_base is None:
            await self.start()
        spec = spec_for_model(event)  # 1. a known contract (ContractError otherwise)
        moment = now()
        ctx.tracker.check(event, publisher=ctx.agency)  # 2. lifecycle (LifecycleError)
        handling = ctx.handling_of(event)
        family = Family(event.family)
        # 3. the agreement in force lets this agency publish this family at this handling
        ctx.agreements.check_publish(ctx.agency, family, handling.code, at=moment)
        topic = spec.topic(ctx.federation, event)
        key = spec.partition_key(event).encode("utf-8")
        recipients = ctx.recipients(event, handling, moment)
        event_id = new_event_id()
        data = encode(event)
        level = priority or getattr(event, "priority", None) or Priority.ROUTINE
        if handling.confidential:  # 4. seal for the recipients (and the issuer)
            value = seal(
                data,
                ctx.sealing_recipients(ctx.readers(family, handling, moment), moment),
                event_id=event_id,
                ce_type=spec.ce_type,
                topic=topic,
            )
            content_type = CONTENT_TYPE_SEALED
        else:
            value, content_type = data, CONTENT_TYPE_JSON
        if event.event_type == "case.opened":  # a joint case gets its own topic as it opens
            await ctx.transport.ensure_topics(
                [case_topic_spec(ctx.federation, event.entity_id(), ctx.plan)]
            )
        partition = partition_for_key(key, await self._partitions_of(topic))
        chain_id = f"{self._chain_base}.p{partition}"
        with bound_record(event_id=event_id, topic=topic, agency=ctx.agency):
            async with self._lock:
                head = await ctx.store.chain_head(chain_id, topic)
                key_id, signing_key = ctx.signing_key(moment)
                attributes = Attributes(
                    specversion=SPEC_VERSION,
                    id=event_id,
                    source=f"urn:silian:agency:{ctx.agency}",
                    type=spec.ce_type,
                    time=format_time(moment),
                    subject=event.entity_id(),
                    content_type=content_type,
                    dataschema=spec.dataschema,
                    handling=format_handling(handling),
                    priority=Priority(level).value,
                    keyid=key_id,
                    chainid=chain_id,
                    chainseq=str(head.seq + 1),
                    prevhash=head.hash,
                )
                base = signature_base(topic=topic, key=key, attributes=attributes, value=value)
                signature = signing_key.sign(base)  # 5. sign the exact bytes
                headers = [(n, v.encode("ascii")) for n, v in attributes.as_headers()]
                headers.append((SIGNATURE_HEADER, base64.b64encode(signature)))
                coordinates = await ctx.transport.send(
                    OutgoingRecord(topic=topic, key=key, value=value, headers=tuple(headers))
                )
                digest = record_hash(base, signature)
                await ctx.store.advance_chain(
                    chain_id, topic, ChainHead(seq=head.seq + 1, hash=digest)
                )
            await self._remember(
                event,
                attributes=attributes,
                topic=topic,
                data=data,
                recipients=recipients,
                moment=moment,
                priority=level,
            )
            log.info(
                "event.published",
                ce_type=spec.ce_type,
                seq=head.seq + 1,
                partition=coordinates.partition,
                offset=coordinates.offset,
                recipients=recipients,
                sealed=handling.confidential,
            )
        return Published(
            event_id=event_id,
            ce_type=spec.ce_type,
            topic=topic,
            coordinates=coordinates,
            chain_id=chain_id,
            seq=head.seq + 1,
            hash=digest,
            recipients=tuple(recipients),
            sealed=handling.confidential,
            time=moment,
        )

    async def _remember(
        self,
        event: EventModel,
        *,
        attributes: Attributes,
        topic: str,
        data: bytes,
        recipients: list[str],
        moment: datetime,
        priority: Priority,
    ) -> None:
        ctx = self._ctx
        ctx.remember(event, publisher=ctx.agency)
        await ctx.store.record(
            LedgerEntry(
                source=attributes.source,
                event_id=attributes.id,
                ce_type=attributes.type,
                ce_time=attributes.time,
                subject=attributes.subject,
                topic=topic,
                data=data,
            )
        )
        if expects_receipts(event) and recipients:
            due = moment + ctx.agreements.in_force_at(moment).deadline(priority)
            await ctx.store.expect_receipts(
                source=attributes.source,
                event_id=attributes.id,
                ce_type=attributes.type,
                subject=attributes.subject,
                priority=Priority(priority).value,
                due=format_time(due),
                recipients=recipients,
            )
