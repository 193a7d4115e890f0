"""Releasing: an officer lets through a record this agency refused — signed, never silent.

Re-judging (:mod:`bus.node.rejudge`) delivers a refused record when the facts change; a
release delivers one because a person decided to (``silian quarantine release``): the
predecessors of a record will never come (``sequence-gap``), an update whose alert was lost
is to be acted on (``lifecycle``), the issuer's clock was off (``time-skew``), the local
system is mended (``handler-failed``). Only those reasons may be waived
(:attr:`bus.reasons.Reason.releasable`), one at a time: every other step of the pipeline
holds — above all the signature, checked against the agreement in force before anything
of the record is used. A record refused for who signed it, what it holds or who may read
it is never released: that takes a new agreement version or a new record.

A release is first a signed ``receipt.released`` for the record's issuer — who decided,
why, and which record (its record hash and where it was refused) — published and
acknowledged before the record is handed on, so that every release is in the signed
history the issuer and every audit read. Then the record is answered and handled as a
delivered one, kept in the store as ``released`` (its chain's head left where it is), and
its quarantined copy is settled: released once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from bus.envelope.ids import now
from bus.errors import RecordRejectedError, ReleaseRefusedError
from bus.logs import bound_record, get_logger
from bus.node.admission import admit_all
from bus.node.consume import Subscription
from bus.node.context import AgencyContext
from bus.node.publish import Publisher
from bus.node.quarantine import original_record, read_quarantine_headers
from bus.node.results import Result
from bus.pipeline import check_placement, verify_record
from bus.reasons import Reason
from bus.transport.base import Record
from contracts.receipts import ReceiptReleased, RecordRef

__all__ = ["RELEASABLE", "Released", "release"]

log = get_logger(__name__)

RELEASABLE = tuple(sorted(r.value for r in Reason if r.releasable))
"""The reasons an officer may waive, as their codes."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Released:
    """What one release did: the record let through, the signed receipt that says so, and
    how the record came out of being handed on (delivered, or its handler failed again)."""

    origin: str
    refused_for: Reason
    source: str
    event_id: str
    record_hash: str
    receipt_id: str
    result: Result


def _refuse(origin: str, why: str) -> ReleaseRefusedError:
    return ReleaseRefusedError(f"cannot release {origin}: {why}")


async def release(
    ctx: AgencyContext,
    subscription: Subscription,
    publisher: Publisher,
    copy: Record,
    *,
    officer: str,
    justification: str,
) -> Released:
    """Release the record ``copy`` keeps in this agency's quarantine (see the module)."""
    why = read_quarantine_headers(copy)
    if why is None:
        raise ReleaseRefusedError("not a record a consumer quarantined: nothing to release")
    origin, reason = why.origin, why.reason
    if not reason.releasable:
        raise _refuse(
            origin,
            f"it was refused for {reason.value} ({reason.meaning}); no officer may waive "
            f"that — only {', '.join(RELEASABLE)}",
        )
    again = reason is Reason.HANDLER_FAILED  # released before, its handler failed again
    settled = (await ctx.store.rejudged()).get(origin)
    if settled is not None and not (again and settled == "released"):
        raise _refuse(origin, f"it is settled already ({settled})")
    original = original_record(copy)
    if original is None:
        raise _refuse(origin, "it was kept by reference, not copied: there are no bytes to judge")
    # The one waiver: a clock window stretched for a record refused for its time.
    policy = ctx.policy
    if reason is Reason.TIME_SKEW:
        policy = replace(policy, max_ahead=timedelta.max, max_behind=timedelta.max)
    try:
        verified = verify_record(original, ctx.agreements, policy)
        attributes = verified.attributes
        check_placement(attributes.chainid, agency=attributes.agency, partition=original.partition)
    except RecordRejectedError as error:
        raise _refuse(
            origin, f"{error.reason.value}: {error.detail} (a release never waives that)"
        ) from None
    with bound_record(event_id=attributes.id, topic=original.topic, agency=attributes.agency):
        _, seen = await ctx.store.chain_view(
            attributes.chainid, original.topic, attributes.source, attributes.id
        )
        dealt_with = seen is not None and seen.outcome in ("delivered", "released")
        if seen is not None and dealt_with and not (again and seen.origin == origin):
            raise _refuse(
                origin, f"event {attributes.id} was {seen.outcome} here from {seen.origin}"
            )
        try:
            admitted = await admit_all(
                ctx, verified, own=False, lifecycle=reason is not Reason.LIFECYCLE
            )
        except RecordRejectedError as error:
            raise _refuse(
                origin, f"{error.reason.value}: {error.detail} (a release never waives that)"
            ) from None
        # Signed and acknowledged first: no record is let through without its release.
        receipt = await publisher.publish(
            ReceiptReleased(
                answers=RecordRef(
                    ce_source=attributes.source,
                    ce_id=attributes.id,
                    ce_type=attributes.type,
                    record_hash=verified.hash,
                ),
                released_at=now(),
                refused_for=reason.value,
                origin=origin,
                officer=officer,
                justification=justification,
            )
        )
        detail = f"released by {officer} (receipt {receipt.event_id}): {justification}"
        result = await subscription.deliver_released(verified, admitted, origin, detail=detail)
        log.warning(
            "record.released",
            origin=origin,
            refused_for=reason.value,
            officer=officer,
            receipt=receipt.event_id,
            outcome=result.outcome.value,
        )
    return Released(
        origin=origin,
        refused_for=reason,
        source=attributes.agency,
        event_id=attributes.id,
        record_hash=verified.hash,
        receipt_id=receipt.event_id,
        result=result,
    )
