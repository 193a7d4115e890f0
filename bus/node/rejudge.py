"""Re-judging: a refusal that later facts cure is judged again when they arrive, once.

A record refused because its key or its issuer was not in the agreement this agency held
(``unknown-key``, ``not-a-member``: :attr:`bus.reasons.Reason.curable`) may be fine under a
version that had not arrived yet — a key declared by the next version, a member joining.
When the agreement feed takes up a version, the service reads its own quarantine topic and
judges each such copy again through the one pipeline, by the versions it now holds:

- passes now → delivered, handled and answered as if it had just arrived;
- refused for a reason still curable → left where it is, judged again at the next version;
- refused for another reason → quarantined with that reason.

The first and the last of those are settled: kept in the store's ``rejudged`` table
(origin → outcome), so that no copy is delivered twice or judged again; a record
quarantined twice is judged once. The chain and duplicate checks of the pipeline
hold as for any record: a copy that a forger wrote to the quarantine topic is judged like
any forged record.
"""

from __future__ import annotations

from dataclasses import dataclass

from bus.logs import bound_record, get_logger
from bus.node.consume import Subscription
from bus.node.context import AgencyContext
from bus.node.quarantine import original_record, read_quarantine, read_quarantine_headers
from bus.node.results import Outcome, Result
from bus.transport.base import Record

__all__ = ["Rejudged", "curable_copies", "outcome_of", "rejudge_quarantine", "settle"]

log = get_logger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class Rejudged:
    """What one pass did: the results of the records judged again, and how many copies
    were still refused for a curable reason (left for the next version)."""

    results: tuple[Result, ...] = ()
    still_curable: int = 0

    @property
    def delivered(self) -> int:
        return sum(1 for r in self.results if r.outcome is Outcome.DELIVERED)


async def curable_copies(ctx: AgencyContext) -> list[Record]:
    """The originals of this agency's quarantined copies refused for a curable reason and
    not settled yet, in the order they were quarantined."""
    settled = await ctx.store.rejudged()
    found: dict[str, Record] = {}
    for copy in await read_quarantine(ctx.transport, ctx.federation, ctx.agency):
        why = read_quarantine_headers(copy)
        if why is None or not why.reason.curable or why.origin in settled:
            continue
        original = original_record(copy)
        if original is not None:
            found.setdefault(why.origin, original)  # quarantined twice: judged once
    return list(found.values())


def outcome_of(result: Result) -> str:
    """``delivered``, ``quarantined:<reason>``, …: how a record came out, in words."""
    if result.reason is None:
        return result.outcome.value
    return f"{result.outcome.value}:{result.reason.value}"


async def settle(ctx: AgencyContext, origin: str, result: Result) -> str | None:
    """Keep how the record from ``origin`` came out of being judged again, unless it was
    refused for a reason still curable (then None: it is judged again at the next version)."""
    again = result.reason if result.outcome is Outcome.QUARANTINED else None
    if again is not None and again.curable:
        return None
    outcome = outcome_of(result)
    await ctx.store.mark_rejudged(origin, outcome, result.detail)
    return outcome


async def rejudge_quarantine(ctx: AgencyContext, subscription: Subscription) -> Rejudged:
    """Judge again every curable quarantined record of this agency (see the module)."""
    results: list[Result] = []
    still = 0
    for record in await curable_copies(ctx):
        origin = f"{record.topic}/{record.partition}/{record.offset}"
        with bound_record(consumer=ctx.agency, topic=record.topic):
            result = await subscription.rejudge(record)
            outcome = await settle(ctx, origin, result)
            if outcome is None:
                still += 1
                continue
            log.info(
                "record.rejudged",
                origin=origin,
                outcome=outcome,
                event_id=result.event_id,
                agency=result.source,
            )
            results.append(result)
    return Rejudged(results=tuple(results), still_curable=still)
