"""Steps 7–10 of the pipeline for one agency: against its store and its state.

The record-level steps and rules are :mod:`bus.pipeline`'s; here they meet what this
agency knows: the chain heads it read before (step 7), its own read permission and
sealing keys (steps 8–9), the lifecycle state it keeps and, for a receipt of one of its
records, the record it published (step 10) — and what its store keeps of a record once
judged (:func:`remember_delivered`, :func:`remember_refused`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, TypeVar

from bus.envelope.seal import open_sealed
from bus.errors import RecordRejectedError, RedeliveryError
from bus.logs import get_logger
from bus.node.context import AgencyContext
from bus.pipeline import (
    GENESIS,
    Place,
    VerifiedRecord,
    authorise,
    check_answer,
    check_placement,
    decode,
    event_spec,
    judge_lifecycle,
    judged,
    place,
)
from bus.reasons import Reason
from bus.state.store import ChainHead, LedgerEntry, ReceiptNote
from contracts.base import EventModel
from contracts.receipts import ReceiptEvent, ReceiptRejected, ReceiptReleased
from contracts.registry import EventSpec
from contracts.vocab import Handling

__all__ = [
    "Admitted",
    "admit",
    "admit_all",
    "check_answered",
    "check_chain",
    "remember_delivered",
    "remember_refused",
    "remember_released",
    "unseal",
]

log = get_logger("silian.consume")
T = TypeVar("T")


async def check_chain(ctx: AgencyContext, verified: VerifiedRecord, origin: str) -> None:
    """Step 7 against this agency's store: the record is the next of its chain (else a
    gap, a fork or a replay — or the same record at the same offset again)."""
    attributes = verified.attributes
    check_placement(
        attributes.chainid, agency=attributes.agency, partition=verified.record.partition
    )
    head, seen = await ctx.store.chain_view(
        attributes.chainid, verified.record.topic, attributes.source, attributes.id
    )
    seq, head_seq = verified.seq, 0 if head is None else head.seq
    head_hash = GENESIS if head is None else head.hash
    placed = place(head_seq, head_hash, seq, attributes.prevhash)
    if placed is Place.BEHIND:
        if seen is not None and seen.origin == origin:
            raise RedeliveryError(seen.outcome, seen.detail)
        if seen is not None:
            raise RecordRejectedError(
                Reason.DUPLICATE,
                f"event {attributes.id} was already delivered from {seen.origin}; this "
                f"copy at {origin} is a replay",
            )
        raise RecordRejectedError(
            Reason.CHAIN_FORK,
            f"chain {attributes.chainid} is already at seq {head_seq}; seq {seq} "
            "arrives out of order or forks the chain",
        )
    if placed is Place.AHEAD:
        missing = seq - head_seq - 1
        raise RecordRejectedError(
            Reason.SEQUENCE_GAP,
            f"chain {attributes.chainid} jumps from seq {head_seq} to {seq}: "
            f"{missing} record{'s' if missing > 1 else ''} missing before this one",
        )
    if placed is Place.FORKED:
        raise RecordRejectedError(
            Reason.CHAIN_FORK,
            f"seq {seq} of chain {attributes.chainid} names a previous record "
            f"{attributes.prevhash[:16]}… but the record seen before it is "
            f"{head_hash[:16]}…",
        )
    if seen is not None:
        raise RecordRejectedError(
            Reason.DUPLICATE, f"event id {attributes.id} was already used by this agency"
        )


class Admitted(NamedTuple):
    """A record that passed steps 8–10 here: its event, handling and contract, and the
    event's JSON as received (:class:`bus.pipeline.Decoded`), which the ledger keeps."""

    event: EventModel
    handling: Handling
    spec: EventSpec
    data: bytes


def admit(
    ctx: AgencyContext, verified: VerifiedRecord, *, own: bool, lifecycle: bool = True
) -> Admitted:
    """Steps 8–10 for this agency. ``own``: a record of this agency from another of its
    processes, which judged the lifecycle before publishing; this process may have it
    in its state already (rebuilt from the ledger they share). ``lifecycle=False``: step
    10's lifecycle left to the caller (:func:`admit_all`), or waived for a record an
    officer releases that the lifecycle refused (:mod:`bus.node.release`)."""
    spec = event_spec(verified)
    handling = authorise(ctx.agreements, verified, spec, reader=ctx.agency)
    decoded = decode(
        verified,
        spec,
        federation=ctx.federation,
        depth=ctx.policy.max_json_depth,
        unseal=functools.partial(unseal, ctx),
    )
    if decoded is None:  # pragma: no cover - a consumer opens every seal it reads
        raise RecordRejectedError(Reason.SEALED_NOT_FOR_US, "the sealed value was not opened")
    if not own and lifecycle:
        judge_lifecycle(ctx.tracker, decoded.event, publisher=verified.agency)
    return Admitted(decoded.event, handling, spec, decoded.data)


async def admit_all(
    ctx: AgencyContext, verified: VerifiedRecord, *, own: bool, lifecycle: bool = True
) -> Admitted:
    """Steps 8–10 as a subscription runs them: :func:`admit`, then a receipt's record
    (:func:`check_answered`) before its lifecycle — so that every receipt of a record this
    agency did not publish is refused as ``receipt-mismatch``, not the later ones as
    answers out of order. ``lifecycle=False``: the lifecycle waived, for a record an
    officer releases that it refused (:mod:`bus.node.release`)."""
    admitted = judged("admit", admit, ctx, verified, own=own, lifecycle=False)
    await check_answered(ctx, admitted)
    if not own and lifecycle:
        judged("lifecycle", judge_lifecycle, ctx.tracker, admitted.event, publisher=verified.agency)
    return admitted


async def check_answered(ctx: AgencyContext, admitted: Admitted) -> None:
    """Step 10, the rest, for a v2 receipt of one of this agency's events: it names the
    record this agency published under that event id, as its ledger keeps it (else
    ``receipt-mismatch``: the recipient answers another record, or says it does)."""
    event = admitted.event
    if not isinstance(event, ReceiptEvent) or event.answered_hash is None:
        return
    if event.answered_agency != ctx.agency:
        return  # another issuer's record: only it knows what it published
    published = await ctx.store.record_hash(event.answers.ce_source, event.answers.ce_id)
    check_answer(event, () if published is None else (published,))


def unseal(ctx: AgencyContext, verified: VerifiedRecord) -> bytes:
    """The plaintext of a sealed record, for this agency (else sealed-not-for-us)."""
    attributes = verified.attributes
    return open_sealed(
        verified.value,
        agency=ctx.agency,
        key_for=ctx.sealing_key,
        event_id=attributes.id,
        ce_type=attributes.type,
        topic=verified.record.topic,
    )


# -- what the store keeps of a judged record -----------------------------------------------


def _answer_note(
    ctx: AgencyContext, verified: VerifiedRecord, event: EventModel
) -> ReceiptNote | None:
    """For a receipt answering this agency, the answer its store keeps (a release is no
    answer of its own: the receipts that follow it answer)."""
    if not isinstance(event, ReceiptEvent) or event.answered_agency != ctx.agency:
        return None
    if isinstance(event, ReceiptReleased):
        return None
    return ReceiptNote(
        source=event.answers.ce_source,
        event_id=event.answers.ce_id,
        recipient=verified.attributes.agency,
        kind=event.answer,
        at=verified.attributes.time,
        reason=event.detail if isinstance(event, ReceiptRejected) else None,
    )


async def remember_delivered(
    ctx: AgencyContext, verified: VerifiedRecord, admitted: Admitted, origin: str
) -> None:
    """A delivered record in one transaction: its chain head, that it was dealt with
    here, its ledger line (the event's bytes as received) and, for a receipt answering
    this agency, the answer."""
    note = _answer_note(ctx, verified, admitted.event)
    entry = LedgerEntry.of(
        verified.attributes,
        topic=verified.record.topic,
        data=admitted.data,
        record_hash=verified.hash,
    )
    await _accept(ctx, verified, origin, "delivered", receipt=note, entry=entry)


async def remember_released(
    ctx: AgencyContext, verified: VerifiedRecord, admitted: Admitted, origin: str, detail: str
) -> None:
    """A record an officer released (:mod:`bus.node.release`): kept like a delivered one,
    as ``released``, its quarantined copy settled, its chain's head left where it is."""
    attributes = verified.attributes
    await ctx.store.release(
        source=attributes.source,
        event_id=attributes.id,
        origin=origin,
        entry=LedgerEntry.of(
            attributes, topic=verified.record.topic, data=admitted.data, record_hash=verified.hash
        ),
        receipt=_answer_note(ctx, verified, admitted.event),
        detail=detail,
    )


async def remember_refused(
    ctx: AgencyContext, verified: VerifiedRecord, error: RecordRejectedError, origin: str
) -> None:
    """A refused record the chain moves past (its place is taken): head and outcome."""
    outcome = f"quarantined:{error.reason.value}"
    await _accept(ctx, verified, origin, outcome, detail=error.detail)


async def _accept(
    ctx: AgencyContext,
    verified: VerifiedRecord,
    origin: str,
    outcome: str,
    *,
    detail: str | None = None,
    entry: LedgerEntry | None = None,
    receipt: ReceiptNote | None = None,
) -> None:
    """The record's chain moves to it and it is dealt with here, as ``outcome``."""
    attributes = verified.attributes
    await ctx.store.accept(
        source=attributes.source,
        event_id=attributes.id,
        topic=verified.record.topic,
        chain_id=attributes.chainid,
        head=ChainHead(seq=verified.seq, hash=verified.hash),
        origin=origin,
        outcome=outcome,
        detail=detail,
        entry=entry,
        receipt=receipt,
    )
