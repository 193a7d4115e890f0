"""Steps 8–10 of the pipeline: from a verified record to an event that makes sense.

8. authorise — the event type is in the contracts and ``ce_dataschema`` names its schema,
   and the agreement in force at ``ce_time`` lets the issuer publish its family at its
   handling code (and, for a consumer, lets the reader read it);
9. decode — the value nests no deeper than the limit (checked before any parser recurses),
   a sealed value is opened for the reader (an auditor reads no sealed value), the JSON
   validates against the contract of ``ce_type``, the entity id equals ``ce_subject`` and
   the record key, the topic is the one the contract derives, a declared handling equals
   ``ce_handling``;
10. lifecycle — the event makes sense after what came before (contracts.lifecycle).

Each step returns what passed or raises :class:`RecordRejectedError` with its reason; the
consumer stops at the first, the auditor notes every one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NamedTuple

from agencies.errors import PermissionDeniedError, UnknownAgencyError, VerificationError
from agencies.history import AgreementHistory
from bus.envelope.handling import parse_handling
from bus.envelope.headers import CONTENT_TYPE_SEALED
from bus.errors import RecordRejectedError
from bus.pipeline.record import VerifiedRecord
from bus.reasons import Reason
from contracts.base import EventModel
from contracts.errors import ContractError, LifecycleError
from contracts.json_depth import nests_deeper
from contracts.lifecycle import LifecycleTracker
from contracts.registry import REGISTRY, EventSpec
from contracts.vocab import Handling

__all__ = [
    "Decoded",
    "authorise",
    "check_json_depth",
    "decode",
    "event_spec",
    "judge_lifecycle",
]

Unseal = Callable[[VerifiedRecord], bytes]


class Decoded(NamedTuple):
    """What step 9 found in a record: the event, and its JSON exactly as received — the
    value itself, or the plaintext the seal opened to (authenticated by the seal, whose
    bytes the signature covers). The ledger keeps ``data``, never a re-encoding."""

    event: EventModel
    data: bytes


def event_spec(verified: VerifiedRecord) -> EventSpec:
    """Step 8, first half: the contract of the record's ``ce_type``, which its
    ``ce_dataschema`` must name (a record claiming another schema is not this event)."""
    attributes = verified.attributes
    try:
        spec = REGISTRY.spec_for_type(attributes.type)
    except ContractError:
        raise RecordRejectedError(
            Reason.UNKNOWN_TYPE, f"event type {attributes.type} is not in the contracts"
        ) from None
    if attributes.dataschema != spec.dataschema:
        raise RecordRejectedError(
            Reason.SCHEMA_INVALID,
            f"ce_dataschema {attributes.dataschema[:80]!r} is not the schema of "
            f"{attributes.type} ({spec.dataschema})",
        )
    return spec


def authorise(
    agreements: AgreementHistory,
    verified: VerifiedRecord,
    spec: EventSpec,
    *,
    reader: str | None = None,
) -> Handling:
    """Step 8: the issuer may publish this (and ``reader``, if given, may read it)."""
    handling = parse_handling(verified.attributes.handling)  # well formed since step 6
    for who, check in (
        (verified.agency, agreements.check_publish),
        (reader, agreements.check_read),
    ):
        if who is None:
            continue
        try:
            check(who, spec.family, handling.code, at=verified.time)
        except UnknownAgencyError as error:
            raise RecordRejectedError(Reason.NOT_A_MEMBER, str(error)) from None
        except (PermissionDeniedError, VerificationError) as error:
            role = "publisher" if who == verified.agency else "reader"
            raise RecordRejectedError(Reason.NOT_PERMITTED, f"{role}: {error}") from None
    return handling


def check_json_depth(data: bytes, limit: int, *, what: str = "the value") -> None:
    """Refuse JSON nested deeper than ``limit`` before any parser recurses into it.

    Judged on the bytes, in linear time (:func:`contracts.json_depth.nests_deeper`).
    Unbalanced brackets are not JSON: the parser says so.
    """
    if nests_deeper(data, limit):
        raise RecordRejectedError(
            Reason.TOO_DEEP, f"{what} nests arrays and objects deeper than {limit} levels"
        )


def decode(
    verified: VerifiedRecord,
    spec: EventSpec,
    *,
    federation: str,
    depth: int,
    unseal: Unseal | None,
) -> Decoded | None:
    """Step 9: the event the record carries and its bytes; None when it is sealed and
    ``unseal`` is None (an auditor judges what is sealed by its signature alone)."""
    attributes, record = verified.attributes, verified.record
    if attributes.content_type == CONTENT_TYPE_SEALED:
        if unseal is None:
            return None
        check_json_depth(verified.value, depth, what="the sealed value")
        data = unseal(verified)
    else:
        data = verified.value
    check_json_depth(data, depth)
    try:
        event = REGISTRY.decode(attributes.type, data)
    except ContractError as error:
        _check_json(data, depth)  # not JSON at all is a reason of its own
        raise RecordRejectedError(Reason.SCHEMA_INVALID, str(error)) from None
    if event.entity_id() != attributes.subject or record.key != attributes.subject.encode():
        raise RecordRejectedError(
            Reason.SCHEMA_INVALID,
            f"ce_subject {attributes.subject} and the record key must equal the event's "
            f"entity id {event.entity_id()}",
        )
    if spec.topic(federation, event) != record.topic:
        raise RecordRejectedError(
            Reason.SCHEMA_INVALID,
            f"{attributes.type} belongs on {spec.topic(federation, event)}, not {record.topic}",
        )
    declared = event.declared_handling()
    if declared is not None and declared != parse_handling(attributes.handling):
        raise RecordRejectedError(
            Reason.SCHEMA_INVALID, "ce_handling differs from the event's own handling"
        )
    return Decoded(event, data)


def _check_json(data: bytes, depth: int) -> None:
    """The value is JSON: asked only of a value its contract refused (a parse costs)."""
    try:
        json.loads(data)
    except RecursionError:  # unbalanced brackets, deep: not JSON, and no parser gets far
        raise RecordRejectedError(
            Reason.TOO_DEEP, f"the value nests deeper than {depth} levels"
        ) from None
    except ValueError:
        raise RecordRejectedError(Reason.NOT_JSON, "the value is not JSON") from None


def judge_lifecycle(tracker: LifecycleTracker, event: EventModel, *, publisher: str) -> None:
    """Step 10: the event makes sense after what ``tracker`` has seen."""
    try:
        tracker.check(event, publisher=publisher)
    except LifecycleError as error:
        reason = Reason.NOT_A_MEMBER if error.rule.is_membership else Reason.LIFECYCLE
        raise RecordRejectedError(reason, str(error)) from None
