"""Receipts against the records they answer: who received which record (stage 2).

A v2 receipt names the record it answers by its record hash. Over a whole history the
auditor knows every record an issuer signed under an event id, so it finds:

* ``receipt-mismatch`` — a receipt names a record hash that no record its issuer
  published under that event id has (the consumer's rule, :func:`bus.pipeline.check_named`,
  with every record of the history as what was published);
* ``equivocation`` — an issuer signed two or more different records under one event id.
  The anomaly names each record by its hash and place and, for each, the recipients whose
  receipts name it (and what they answered): the issuer cannot claim a recipient got
  the other one. Its ``received`` lists the (recipient, record hash) pairs.

Only events of a type that expects receipts are kept, with the receipts answering them:
the one part of the audit that grows with the history (a few hundred bytes an answered
event and a recipient). A receipt naming an event the history does not hold (one from
before the range audited) is not judged; a v1 receipt names no record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bus.audit.anomaly import Anomaly
from bus.audit.examined import Examined
from bus.errors import RecordRejectedError
from bus.pipeline import check_named
from bus.reasons import Reason
from contracts.receipts import ReceiptEvent
from contracts.registry import REGISTRY
from contracts.vocab import AGENCY_URN_PREFIX

__all__ = ["AnswerJudge", "concerns"]

_ANSWERED = frozenset(spec.ce_type for spec in REGISTRY.specs() if spec.expects_receipts)

Place = tuple[str, int, int]  # topic, partition, offset


def concerns(item: Examined) -> bool:
    """Whether stage 2 keeps anything of this accepted record here: an event that expects
    receipts, or a v2 receipt."""
    if item.ce_type in _ANSWERED:
        return True
    event = item.event
    return isinstance(event, ReceiptEvent) and event.answered_hash is not None


@dataclass(slots=True)
class _Claim:
    """What one recipient's receipts say of one record: its answers, and where the first was."""

    place: Place
    event_id: str | None
    answers: list[str] = field(default_factory=list)


def _where(place: Place) -> str:
    topic, partition, offset = place
    return f"{topic}/{partition}@{offset}"


class AnswerJudge:
    """Takes accepted records in stored order; :meth:`finish` judges the receipts."""

    def __init__(self) -> None:
        # (issuer, event id) -> record hash -> where its first copy is, in order seen
        self._records: dict[tuple[str, str], dict[str, Place]] = {}
        # (issuer, event id) -> record hash named -> recipient -> its claim
        self._claims: dict[tuple[str, str], dict[str, dict[str, _Claim]]] = {}

    def note(self, item: Examined) -> None:
        """An accepted record (its hash known): kept if :func:`concerns` says so."""
        if item.hash is None or item.agency is None or item.event_id is None:
            return
        place = (item.topic, item.partition, item.offset)
        if item.ce_type in _ANSWERED:
            held = self._records.setdefault((item.agency, item.event_id), {})
            held.setdefault(item.hash.hex(), place)
        event = item.event
        if isinstance(event, ReceiptEvent) and event.answered_hash is not None:
            key = (event.answered_agency, event.answers.ce_id)
            named = self._claims.setdefault(key, {}).setdefault(event.answered_hash, {})
            claim = named.get(item.agency)
            if claim is None:
                claim = named[item.agency] = _Claim(place=place, event_id=item.event_id)
            if event.answer not in claim.answers:
                claim.answers.append(event.answer)

    def finish(self) -> list[Anomaly]:
        """Every receipt that names no record its issuer published, then every event id
        with more than one record, naming who received which."""
        return [*self._mismatches(), *self._equivocations()]

    def _mismatches(self) -> list[Anomaly]:
        found = []
        for (issuer, event_id), named in self._claims.items():
            published = self._records.get((issuer, event_id), {})
            if not published:
                continue  # not in this history: nothing to judge against
            for record_hash, claims in named.items():
                for recipient, claim in claims.items():
                    try:
                        check_named(
                            record_hash,
                            published,
                            answer=", ".join(claim.answers),
                            ce_id=event_id,
                            ce_source=f"{AGENCY_URN_PREFIX}{issuer}",
                        )
                    except RecordRejectedError as error:
                        found.append(
                            _anomaly(
                                error.reason,
                                f"{recipient}: {error.detail}",
                                claim.place,
                                event_id=claim.event_id,
                                agency=recipient,
                                received=((recipient, record_hash),),
                            )
                        )
        return found

    def _equivocations(self) -> list[Anomaly]:
        found = []
        for (issuer, event_id), published in self._records.items():
            if len(published) < 2:
                continue
            named = self._claims.get((issuer, event_id), {})
            parts = []
            received: list[tuple[str, str]] = []
            for record_hash, place in published.items():
                claims = named.get(record_hash, {})
                who = " and ".join(
                    f"{recipient} ({', '.join(claim.answers)})"
                    for recipient, claim in sorted(claims.items())
                )
                received += [(recipient, record_hash) for recipient in sorted(claims)]
                parts.append(
                    f"record {record_hash} at {_where(place)}: "
                    + (f"received by {who}" if who else "no receipt names it")
                )
            found.append(
                _anomaly(
                    Reason.EQUIVOCATION,
                    f"{len(published)} records of {issuer} under event id {event_id}: "
                    + "; ".join(parts),
                    next(iter(published.values())),  # the first of them in stored order
                    event_id=event_id,
                    agency=issuer,
                    received=tuple(received),
                )
            )
        return found


def _anomaly(
    kind: Reason,
    detail: str,
    place: Place,
    *,
    event_id: str | None,
    agency: str,
    received: tuple[tuple[str, str], ...],
) -> Anomaly:
    topic, partition, offset = place
    return Anomaly(
        kind=kind,
        detail=detail,
        topic=topic,
        partition=partition,
        offset=offset,
        event_id=event_id,
        agency=agency,
        received=received,
    )
