"""Consuming: verify → chain → authorise → decode → deduplicate → handle → commit.

Receipts are v2: each names the answered record by its record hash (:class:`RecordRef`).

A record that fails any step goes to the agency's quarantine topic with its reason and
original bytes, and the subscription goes on with the next record. Handlers get typed
events only after every step passed; their effects must be idempotent (keyed on the event
id), which turns at-least-once delivery into exactly-once effects.

The pipeline is total: whatever a record holds, it ends delivered or quarantined with a
reason. A step that fails in a way nobody foresaw quarantines the record as
``unprocessable`` (and logs the traceback) rather than stop the partition; a handler that
crashes is tried again, then its record is quarantined as ``handler-failed``. Only a
failure of the transport or the local store — nothing a record's bytes can cause —
leaves a record unprocessed, to be read again.

Quarantine copies of a batch are handed to the transport as they are made and their
acknowledgements awaited together before the batch is committed, so junk costs a
fraction of a delivery (bench/junk_flood.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from bus.envelope.headers import CONTENT_TYPE_SEALED
from bus.envelope.ids import now
from bus.errors import (
    RecordRejectedError,
    RedeliveryError,
)
from bus.logs import bound_record, get_logger
from bus.node.admission import (
    Admitted,
    admit_all,
    check_chain,
    remember_delivered,
    remember_refused,
    remember_released,
)
from bus.node.context import AgencyContext
from bus.node.publish import Publisher
from bus.node.quarantine import quarantine
from bus.node.results import Delivery, Handled, Handler, Outcome, Result, call_handler
from bus.pipeline import VerifiedRecord, judged, verify_record
from bus.reasons import Reason
from bus.transport.base import Consumer, Coordinates, Record
from contracts.base import EventModel
from contracts.errors import LifecycleError
from contracts.receipts import (
    ReceiptHandledV2,
    ReceiptReceivedV2,
    ReceiptRejectedV2,
    RecordRef,
)
from contracts.registry import REGISTRY, EventSpec

__all__ = ["Subscription"]

log = get_logger("silian.consume")
E = TypeVar("E", bound=EventModel)
T = TypeVar("T")


class Subscription:
    """One consumer group of one agency over some topics, with typed handlers."""

    def __init__(
        self,
        ctx: AgencyContext,
        publisher: Publisher,
        *,
        group: str,
        topics: Iterable[str],
        pattern: str | None = None,
        observe: bool = False,
    ) -> None:
        self._ctx = ctx
        self._publisher = publisher
        self._group = group
        self._topics = list(topics)
        self._observe = observe  # a watcher: no receipts, no handlers, no quarantine, no commit
        self._handlers: dict[str, Handler] = {}
        self._consumer: Consumer = ctx.transport.consumer(
            group_id=group, topics=self._topics, pattern=pattern
        )
        # The quarantine acknowledgement of the record being processed, if any.
        self._ack: Awaitable[Coordinates] | None = None
        self._rejudging = False  # judging a quarantined record again (see rejudge)

    def on(self, model: type[E]) -> Callable[[Callable[[Delivery[E]], Awaitable[str | None]]], Any]:
        """Register ``handler`` for one event type: ``@subscription.on(AlertIssued)``."""
        spec = REGISTRY.spec_for_model(model)

        def register(handler: Callable[[Delivery[E]], Awaitable[str | None]]) -> Any:
            self._handlers[spec.ce_type] = handler
            return handler

        return register

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def __aenter__(self) -> Subscription:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def assignment(self) -> frozenset[tuple[str, int]]:
        """The (topic, partition) pairs the group gave this subscription to read."""
        return self._consumer.assignment()

    async def caught_up(self) -> bool:
        """Read to the end of every partition the group assigned it."""
        return await self._consumer.caught_up()

    async def lag(self) -> dict[tuple[str, int], int]:
        """Per assigned (topic, partition), the records not read yet (operators' metrics)."""
        return await self._consumer.lag()

    async def run(
        self, stop: asyncio.Event, *, on_result: Callable[[Result], None] | None = None
    ) -> None:
        while not stop.is_set():
            for result in await self.poll(timeout=0.5):
                if on_result is not None:
                    on_result(result)

    async def poll(self, *, timeout: float = 1.0, max_records: int = 500) -> list[Result]:
        """Process one batch; offsets are committed for every record dealt with.

        A record is dealt with once its step ran and, if it was quarantined, the
        quarantine copy was acknowledged. A partition is committed up to its first record
        not dealt with and read again from there.
        """
        records = await self._consumer.fetch(max_records=max_records, timeout=timeout)
        results: list[Result] = []
        acks: list[Awaitable[Coordinates] | None] = []
        try:
            for record in records:
                self._ack = None
                results.append(await self.process(record))
                acks.append(self._ack)
        finally:
            failure = await self._settle(records, acks)
        if failure is not None:
            raise failure
        return results

    async def _settle(
        self, records: list[Record], acks: list[Awaitable[Coordinates] | None]
    ) -> BaseException | None:
        """Await the batch's quarantine acknowledgements, commit what was dealt with and
        rewind the rest; the first acknowledgement that failed, if one did."""
        done: dict[tuple[str, int], int] = {}
        stuck: dict[tuple[str, int], int] = {}
        failure: BaseException | None = None
        for index, record in enumerate(records):
            where = (record.topic, record.partition)
            if where in stuck:
                continue
            ack = acks[index] if index < len(acks) else None
            if index >= len(acks):
                stuck[where] = record.offset  # not processed: the batch was interrupted
                continue
            if ack is not None:
                try:
                    await ack
                except Exception as error:  # noqa: BLE001 - the transport's: read it again
                    failure = failure or error
                    stuck[where] = record.offset
                    continue
            done[where] = record.offset + 1
        if stuck:
            # The fetch position is already past this batch: rewind every partition to its
            # first record not dealt with, so the next poll (or process) reads it again.
            await self._consumer.seek(stuck)
        if done and not self._observe:
            await self._consumer.commit(done)
        return failure

    # -- the pipeline ------------------------------------------------------------------
    async def process(self, record: Record) -> Result:
        with bound_record(consumer=self._ctx.agency, topic=record.topic):
            return await self._process(record)

    async def rejudge(self, record: Record) -> Result:
        """Judge a quarantined record again — its original bytes and coordinates
        (:func:`bus.node.quarantine.original_record`) — with every step, as if it had just
        arrived: delivered and answered if it passes now. Refused again for a reason still
        curable, it stays where it is (no second quarantine copy); refused for another
        reason, it is quarantined with that one."""
        self._rejudging = True
        self._take_ack()
        try:
            result = await self.process(record)
        finally:
            self._rejudging = False
        ack = self._take_ack()
        if ack is not None:
            await ack
        return result

    async def deliver_released(
        self, verified: VerifiedRecord, admitted: Admitted, origin: str, *, detail: str
    ) -> Result:
        """Hand on a record an officer released — verified and admitted with the one waiver
        the release grants (:func:`bus.node.release.release` judges it) — as a delivered
        one: answered, handled, kept as ``released``."""
        self._take_ack()
        result = await self._deliver(verified, admitted, origin, released=detail)
        ack = self._take_ack()
        if ack is not None:
            await ack
        return result

    def _take_ack(self) -> Awaitable[Coordinates] | None:
        ack, self._ack = self._ack, None
        return ack

    async def _process(self, record: Record) -> Result:
        origin = f"{record.topic}/{record.partition}/{record.offset}"
        try:
            verified = judged(
                "verify", verify_record, record, self._ctx.agreements, self._ctx.policy
            )
        except RecordRejectedError as error:
            return await self._reject(record, error, None)
        attributes = verified.attributes
        with bound_record(
            event_id=attributes.id,
            topic=record.topic,
            agency=attributes.agency,
            consumer=self._ctx.agency,
        ):
            own = attributes.agency == self._ctx.agency and not self._observe
            if own and attributes.chainid.startswith(f"{self._publisher.chain_base}.p"):
                return Result(
                    outcome=Outcome.OWN,
                    coordinates=record.coordinates,
                    event_id=attributes.id,
                    source=attributes.agency,
                    ce_type=attributes.type,
                    time=verified.time,
                )
            try:
                await check_chain(self._ctx, verified, origin)
            except RedeliveryError as again:
                reason = again.quarantined
                if reason is not None and not self._observe and not self._rejudging:
                    # Its quarantine copy may never have been acknowledged: send it again.
                    refusal = RecordRejectedError(
                        reason, again.detail or reason.value, signer=attributes.agency
                    )
                    self._ack = await self._quarantine(record, refusal)
                return Result(
                    outcome=Outcome.REDELIVERY,
                    coordinates=record.coordinates,
                    event_id=attributes.id,
                    source=attributes.agency,
                )
            except RecordRejectedError as error:
                return await self._reject(
                    record, error, verified, advance=error.reason is Reason.SEQUENCE_GAP
                )
            try:
                admitted = await admit_all(self._ctx, verified, own=own)
            except RecordRejectedError as error:
                return await self._reject(record, error, verified, advance=True)
            return await self._deliver(verified, admitted, origin, own=own)

    def _addressed(self, event: EventModel, spec: EventSpec) -> bool:
        """This agency is one of those the contract addresses ``event`` to (a case's events:
        its lead, members and invitees; a receipt: the issuer of what it answers)."""
        members = [m.code for m in self._ctx.agreements.latest.members]
        case_members = self._ctx.tracker.case_members(event.entity_id())
        addressees = spec.addressees(event, members=members, case_members=case_members)
        return self._ctx.agency in addressees

    async def _deliver(
        self,
        verified: VerifiedRecord,
        admitted: Admitted,
        origin: str,
        *,
        own: bool = False,
        released: str | None = None,
    ) -> Result:
        """Receipts, handler, state. ``own``: this agency's record from another of its
        processes (``silian publish`` beside ``silian serve``): state only, no answer.
        ``released``: an officer's release of it (:mod:`bus.node.release`), in words."""
        ctx, attributes = self._ctx, verified.attributes
        event, handling, spec = admitted.event, admitted.handling, admitted.spec
        # Only an agency the event is addressed to answers it and hands it to its local
        # system: a case's events reach the case's members, not every agency that reads them.
        acting = not own and not self._observe  # an observer, or our own record: state only
        addressed = acting and self._addressed(event, spec)
        answer = addressed and spec.expects_receipts
        ref = RecordRef(
            ce_source=attributes.source,
            ce_id=attributes.id,
            ce_type=attributes.type,
            record_hash=verified.hash,
        )
        if answer:
            await self._receipt(ReceiptReceivedV2(answers=ref, received_at=now()))
        handler = self._handlers.get(spec.ce_type) if addressed else None
        if acting and not addressed and spec.ce_type in self._handlers:
            log.info("event.not_addressed", ce_type=attributes.type)  # kept, not handled here
        handled = Handled()
        if handler is not None:
            delivery: Delivery[EventModel] = Delivery(
                event=event,
                source=attributes.agency,
                event_id=attributes.id,
                ce_type=attributes.type,
                time=verified.time,
                handling=handling,
                priority=attributes.priority,
                coordinates=verified.record.coordinates,
                sealed=attributes.content_type == CONTENT_TYPE_SEALED,
            )
            handled = await call_handler(handler, delivery)
        if own or released is not None:
            # Own: already in this state when it was rebuilt from the shared ledger.
            # Released: an officer let it through although the lifecycle refused it.
            with contextlib.suppress(LifecycleError):
                ctx.remember(event, publisher=attributes.agency)
        else:
            ctx.remember(event, publisher=attributes.agency)
        if released is not None:
            await remember_released(ctx, verified, admitted, origin, released)
        else:
            # An observer (silian watch) keeps chain heads too, in its own scratch store.
            await remember_delivered(ctx, verified, admitted, origin)
        rejected = handled.rejected
        if handled.failed is not None:
            # No answer: the issuer sees "received" and no "handled" — owed, then overdue.
            return await self._reject(
                verified.record,
                RecordRejectedError(Reason.HANDLER_FAILED, handled.failed),
                verified,
                advance=False,
            )
        if rejected is not None:
            if answer:
                await self._receipt(
                    ReceiptRejectedV2(
                        answers=ref,
                        rejected_at=now(),
                        reason=rejected.reason,
                        detail=rejected.detail,
                    )
                )
            return await self._reject(
                verified.record,
                RecordRejectedError(Reason.HANDLER_FAILED, rejected.detail),
                verified,
                advance=False,
            )
        if answer and handler is not None:
            await self._receipt(
                ReceiptHandledV2(
                    answers=ref,
                    handled_at=now(),
                    action=handled.action or "已处理 handled",
                )
            )
        log.info(
            "event.released" if released is not None else "event.delivered",
            ce_type=attributes.type,
            handled=handler is not None,
        )
        return Result(
            outcome=Outcome.DELIVERED,
            coordinates=verified.record.coordinates,
            event_id=attributes.id,
            source=attributes.agency,
            ce_type=attributes.type,
            time=verified.time,
            event=event,
            handled=handler is not None,
        )

    async def _receipt(self, receipt: EventModel) -> None:
        # LifecycleError: already answered (a redelivery after a crash); one receipt is enough.
        with contextlib.suppress(LifecycleError):
            await self._publisher.publish(receipt)

    async def _quarantine(
        self, record: Record, error: RecordRejectedError
    ) -> Awaitable[Coordinates]:
        ctx = self._ctx
        return await quarantine(
            ctx.transport,
            federation=ctx.federation,
            agency=ctx.agency,
            record=record,
            reason=error.reason,
            detail=error.detail,
            signer=error.signer,
        )

    async def _reject(
        self,
        record: Record,
        error: RecordRejectedError,
        verified: VerifiedRecord | None,
        *,
        advance: bool = False,
    ) -> Result:
        ctx = self._ctx
        origin = f"{record.topic}/{record.partition}/{record.offset}"
        signer = error.signer or (None if verified is None else verified.agency)
        if signer is not None and error.signer is None:
            error = RecordRejectedError(error.reason, error.detail, signer=signer)
        if not self._observe and not (self._rejudging and error.reason.curable):
            self._ack = await self._quarantine(record, error)
        if verified is not None and advance:
            await remember_refused(ctx, verified, error, origin)
        log.warning(
            "record.quarantined",
            reason=error.reason.value,
            detail=error.detail,
            origin=origin,
            signer=signer,
        )
        return Result(
            outcome=Outcome.QUARANTINED,
            coordinates=record.coordinates,
            event_id=None if verified is None else verified.attributes.id,
            source=signer,
            ce_type=None if verified is None else verified.attributes.type,
            time=None if verified is None else verified.time,
            reason=error.reason,
            detail=error.detail,
        )
