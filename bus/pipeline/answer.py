"""Step 10 for a receipt: a v2 receipt names a record its issuer really published.

A v2 receipt (:class:`contracts.receipts.RecordRef`) names the record it answers by its
record hash. Whoever knows what the answered event's issuer published under that event
id judges the receipt with :func:`check_answer`, one rule for both: the issuer, from its
ledger, when the receipt reaches it (:func:`bus.node.admission.check_answered`); the
auditor, from every record of the history (:mod:`bus.audit.answers`).
"""

from __future__ import annotations

from collections.abc import Collection

from bus.errors import RecordRejectedError
from bus.reasons import Reason
from contracts.base import EventModel
from contracts.receipts import ReceiptEvent

__all__ = ["check_answer", "check_named"]


def check_answer(event: EventModel, published: Collection[str]) -> None:
    """``event``, if a v2 receipt, names one of ``published``: the record hashes the judge
    knows its issuer signed under the answered event id (:func:`check_named`).

    Nothing to judge for an event that is no receipt, or a v1 receipt (it names no record).
    """
    if not isinstance(event, ReceiptEvent) or event.answered_hash is None:
        return
    answered = event.answers
    check_named(
        event.answered_hash,
        published,
        answer=event.answer,
        ce_id=answered.ce_id,
        ce_source=answered.ce_source,
    )


def check_named(
    named: str, published: Collection[str], *, answer: str, ce_id: str, ce_source: str
) -> None:
    """The rule: a receipt's ``answer`` of event ``ce_id`` of ``ce_source`` names record
    ``named``, which must be one of ``published`` — else ``receipt-mismatch``. An empty
    ``published`` (the judge holds no record of that event: another period's, or a store
    from before hashes were kept) leaves nothing to judge."""
    if not published or named in published:
        return
    held = ", ".join(sorted(published))
    many = len(published) > 1
    raise RecordRejectedError(
        Reason.RECEIPT_MISMATCH,
        f"the receipt ({answer}) of event {ce_id} of {ce_source} names record {named}, but "
        f"the record{'s' if many else ''} that issuer published under that id "
        f"{'are' if many else 'is'} {held}",
    )
