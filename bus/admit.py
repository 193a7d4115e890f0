"""Steps 6–9 of the consumer pipeline, as functions of the agency's state: chain order,
authorisation by the agreement in force, decoding (and unsealing), lifecycle. Each returns
what passed or raises :class:`RecordRejectedError` naming the step and the reason."""

from __future__ import annotations

import json

from agencies.errors import PermissionDeniedError, UnknownAgencyError, VerificationError
from bus.context import AgencyContext, parse_handling
from bus.envelope.headers import CONTENT_TYPE_JSON, CONTENT_TYPE_SEALED
from bus.envelope.seal import open_sealed
from bus.rejections import Reason, RecordRejectedError
from bus.store import GENESIS_HASH, LocalStore
from bus.verify import VerifiedRecord
from contracts.base import EventModel, Family
from contracts.errors import ContractError, LifecycleError
from contracts.registry import REGISTRY, EventSpec
from contracts.vocab import Handling

__all__ = ["RedeliveryError", "admit", "check_chain"]


class RedeliveryError(Exception):
    """The same record at the same offset again (a consumer restarted): already dealt with."""


async def check_chain(store: LocalStore, verified: VerifiedRecord, origin: str) -> None:
    """Step 6: the record is the next of its chain (else gap, fork or replay)."""
    attributes = verified.attributes
    head, seen_at = await store.chain_view(
        attributes.chainid, verified.record.topic, attributes.source, attributes.id
    )
    expected = 1 if head is None else head.seq + 1
    if verified.seq < expected:
        if seen_at == origin:
            raise RedeliveryError
        if seen_at is not None:
            raise RecordRejectedError(
                Reason.DUPLICATE,
                f"event {attributes.id} was already delivered from {seen_at}; this copy "
                f"at {origin} is a replay",
            )
        raise RecordRejectedError(
            Reason.CHAIN_FORK,
            f"chain {attributes.chainid} is already at seq {expected - 1}; seq "
            f"{verified.seq} arrives out of order or forks the chain",
        )
    if verified.seq > expected:
        missing = verified.seq - expected
        raise RecordRejectedError(
            Reason.SEQUENCE_GAP,
            f"chain {attributes.chainid} jumps from seq {expected - 1} to {verified.seq}: "
            f"{missing} record{'s' if missing > 1 else ''} missing before this one",
        )
    previous = GENESIS_HASH if head is None else head.hash
    if attributes.prevhash != previous:
        raise RecordRejectedError(
            Reason.CHAIN_FORK,
            f"seq {verified.seq} of chain {attributes.chainid} names a previous record "
            f"{attributes.prevhash[:16]}… but the record seen before it is {previous[:16]}…",
        )
    if seen_at is not None:
        raise RecordRejectedError(
            Reason.DUPLICATE, f"event id {attributes.id} was already used by this agency"
        )


def admit(
    ctx: AgencyContext, verified: VerifiedRecord, *, own: bool = False
) -> tuple[EventModel, Handling, EventSpec]:
    """Authorise, decode and judge the lifecycle. ``own``: a record of this agency from
    another of its processes, which judged the lifecycle before publishing; this process
    may have it in its state already (rebuilt from the ledger they share)."""
    attributes = verified.attributes
    try:
        spec = REGISTRY.spec_for_type(attributes.type)
    except ContractError:
        raise RecordRejectedError(
            Reason.UNKNOWN_TYPE, f"event type {attributes.type} is not in the contracts"
        ) from None
    try:
        handling = parse_handling(attributes.handling)
    except ValueError:
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS, f"ce_handling {attributes.handling!r} is not valid"
        ) from None
    _authorise(ctx, verified, Family(spec.family), handling)
    event = _decode(ctx, verified, spec)
    declared = event.declared_handling()
    if declared is not None and declared != handling:
        raise RecordRejectedError(
            Reason.SCHEMA_INVALID, "ce_handling differs from the event's own handling"
        )
    # lifecycle and case membership
    if own:
        return event, handling, spec
    try:
        ctx.tracker.check(event, publisher=attributes.agency)
    except LifecycleError as error:
        reason = Reason.NOT_A_MEMBER if "member" in error.rule else Reason.LIFECYCLE
        raise RecordRejectedError(reason, str(error)) from None
    return event, handling, spec


def _authorise(
    ctx: AgencyContext, verified: VerifiedRecord, family: Family, handling: Handling
) -> None:
    """The agreement in force at the record's time lets its issuer publish and us read."""
    attributes = verified.attributes
    try:
        ctx.agreements.check_publish(attributes.agency, family, handling.code, at=verified.time)
    except (PermissionDeniedError, UnknownAgencyError, VerificationError) as error:
        raise RecordRejectedError(Reason.NOT_PERMITTED, f"publisher: {error}") from None
    try:
        ctx.agreements.check_read(ctx.agency, family, handling.code, at=verified.time)
    except (PermissionDeniedError, UnknownAgencyError, VerificationError) as error:
        raise RecordRejectedError(Reason.NOT_PERMITTED, f"reader: {error}") from None


def _decode(ctx: AgencyContext, verified: VerifiedRecord, spec: EventSpec) -> EventModel:
    attributes, record = verified.attributes, verified.record
    if attributes.content_type == CONTENT_TYPE_SEALED:
        data = open_sealed(
            record.value,
            agency=ctx.agency,
            key_for=ctx.sealing_key,
            event_id=attributes.id,
            ce_type=attributes.type,
            topic=record.topic,
        )
    elif attributes.content_type == CONTENT_TYPE_JSON:
        data = record.value
    else:
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS, f"content-type {attributes.content_type!r} unknown"
        )
    try:
        json.loads(data)
    except ValueError:
        raise RecordRejectedError(Reason.NOT_JSON, "the value is not JSON") from None
    try:
        event = REGISTRY.decode(attributes.type, data)
    except ContractError as error:
        raise RecordRejectedError(Reason.SCHEMA_INVALID, str(error)) from None
    if event.entity_id() != attributes.subject or record.key != attributes.subject.encode():
        raise RecordRejectedError(
            Reason.SCHEMA_INVALID,
            f"ce_subject {attributes.subject} and the record key must equal the event's "
            f"entity id {event.entity_id()}",
        )
    if spec.topic(ctx.federation, event) != record.topic:
        raise RecordRejectedError(
            Reason.SCHEMA_INVALID,
            f"{attributes.type} belongs on {spec.topic(ctx.federation, event)}, not {record.topic}",
        )
    return event
