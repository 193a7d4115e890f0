"""Steps 7–10 of the consumer pipeline, as functions of the agency's state: chain order,
authorisation by the agreement in force, decoding (and unsealing), lifecycle. Each returns
what passed or raises :class:`RecordRejectedError` naming the step and the reason."""

from __future__ import annotations

import json

from agencies.errors import PermissionDeniedError, UnknownAgencyError, VerificationError
from bus.context import AgencyContext, parse_handling
from bus.envelope.headers import CONTENT_TYPE_JSON, CONTENT_TYPE_SEALED
from bus.envelope.seal import open_sealed
from bus.rejections import Reason, RecordRejectedError
from bus.store import GENESIS_HASH, LocalStore, Seen
from bus.verify import VerifiedRecord, check_json_depth
from contracts.base import EventModel, Family
from contracts.errors import ContractError, LifecycleError
from contracts.registry import REGISTRY, EventSpec
from contracts.vocab import Handling

__all__ = ["RedeliveryError", "admit", "check_chain"]


class RedeliveryError(Exception):
    """The same record at the same offset again (a consumer restarted): already dealt with.

    ``seen`` says how: a record quarantined before may need its quarantine copy again
    (the copy's acknowledgement may never have come).
    """

    def __init__(self, seen: Seen) -> None:
        super().__init__(seen.outcome)
        self.seen = seen


def check_placement(verified: VerifiedRecord) -> None:
    """Step 7, first half: the chain id is the issuer's own and this partition's.

    Without it one member could name another's chain and advance it at every consumer,
    so that the other's next honest record looked like a fork.
    """
    attributes, partition = verified.attributes, verified.record.partition
    chain = attributes.chainid
    if not chain.startswith(f"{attributes.agency}."):
        raise RecordRejectedError(
            Reason.CHAIN_MISPLACED,
            f"chain {chain[:80]!r} is not {attributes.agency}'s (validly signed by "
            f"{attributes.agency})",
            signer=attributes.agency,
        )
    if not chain.endswith(f".p{partition}"):
        raise RecordRejectedError(
            Reason.CHAIN_MISPLACED,
            f"chain {chain[:80]!r} belongs to another partition than {partition} (validly "
            f"signed by {attributes.agency})",
            signer=attributes.agency,
        )


async def check_chain(store: LocalStore, verified: VerifiedRecord, origin: str) -> None:
    """Step 7: the record is the next of its chain (else gap, fork or replay)."""
    check_placement(verified)
    attributes = verified.attributes
    head, seen = await store.chain_view(
        attributes.chainid, verified.record.topic, attributes.source, attributes.id
    )
    seen_at = None if seen is None else seen.origin
    expected = 1 if head is None else head.seq + 1
    if verified.seq < expected:
        if seen is not None and seen_at == origin:
            raise RedeliveryError(seen)
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
        reason = Reason.NOT_A_MEMBER if error.rule in _MEMBERSHIP_RULES else Reason.LIFECYCLE
        raise RecordRejectedError(reason, str(error)) from None
    return event, handling, spec


# Lifecycle rules that say the publisher is not (or not yet) in the case it posts to.
_MEMBERSHIP_RULES = frozenset({"case.members_only", "case.task_to_member"})


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
    limit = ctx.policy.max_json_depth
    if attributes.content_type == CONTENT_TYPE_SEALED:
        check_json_depth(verified.value, limit, what="the sealed value")
        data = open_sealed(
            verified.value,
            agency=ctx.agency,
            key_for=ctx.sealing_key,
            event_id=attributes.id,
            ce_type=attributes.type,
            topic=record.topic,
        )
    elif attributes.content_type == CONTENT_TYPE_JSON:
        data = verified.value
    else:
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS, f"content-type {attributes.content_type!r} unknown"
        )
    check_json_depth(data, limit)
    try:
        json.loads(data)
    except RecursionError:  # unbalanced brackets, deep: not JSON, and no parser gets far
        raise RecordRejectedError(
            Reason.TOO_DEEP, f"the value nests deeper than {limit} levels"
        ) from None
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
