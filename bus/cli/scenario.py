"""The 四联 scenario, end to end, as a timeline a person can read (``silian demo``).

Three agencies get fresh keys and sign the agreement; Jiangshan issues an urgent vehicle
alert, its neighbours acknowledge, Pucheng reports a hit; a joint case opens, both
neighbours join, evidence references and tasks flow, the lead closes it; a border dispute
is reported, mediated, settled and followed up; finally a record signed with a wrong key,
a tampered record and a replayed record are injected and shown quarantined with reasons.
Runs on the embedded transport by default, or on Kafka with ``--kafka``.
"""

from __future__ import annotations

import base64
import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from agencies.keys import SigningKey
from bus.cli.timeline import agency_name, event_label, summary
from bus.envelope.headers import SIGNATURE_HEADER
from bus.envelope.ids import FEDERATION_TZ
from bus.envelope.signature import decode_headers, signature_base
from bus.node.bus import Bus, BusConfig
from bus.node.consume import Subscription
from bus.node.quarantine import read_quarantine_headers
from bus.node.results import Delivery, Outcome, Result
from bus.node.topics import TopicPlan, plan_topics
from bus.sandbox.federation import Federation, create_federation
from bus.state.store import PendingReceipt
from bus.transport import connect
from bus.transport.base import OutgoingRecord, Record, Transport, read_to_end
from contracts import examples
from contracts.base import EventModel, Family
from contracts.receipts import ReceiptHandled, ReceiptReceived, ReceiptRejected
from contracts.registry import REGISTRY, spec_for_model
from contracts.topics import family_topic, quarantine_topic

__all__ = ["DemoReport", "run_demo"]

_RECEIPTS = (ReceiptReceived, ReceiptHandled, ReceiptRejected)
_SETTLE_SECONDS = 60.0  # the most a step waits for every agency to catch up
_CASE_ID = next(e.entity_id() for _, e in examples.example_story() if e.opens_topic)


@dataclass(kw_only=True)
class DemoReport:
    """What the demo did, for its caller and its test."""

    federation: str
    transport: str
    published: int = 0
    delivered: int = 0
    receipts: int = 0
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (reason, detail)
    lines: list[str] = field(default_factory=list)


async def _handler(delivery: Delivery[EventModel]) -> str:
    return f"已处理 {delivery.event.event_type}"


@contextlib.asynccontextmanager
async def _transport(kafka: str | None, directory: Path) -> AsyncIterator[Transport]:
    transport = connect(kafka, embedded=directory / "embedded.sqlite", client_id="silian-demo")
    async with transport:
        yield transport


async def _drain(
    subscriptions: list[Subscription], report: DemoReport, *, to_the_end: bool = False
) -> list[Result]:
    """Poll every agency until a whole round brought nothing twice: receipts of receipts
    settle too. ``to_the_end`` also waits until each has read to the end of its topics —
    on a busy Kafka a record acknowledged to its sender can reach a consumer a second
    later — at the cost of asking every broker for its end offsets."""
    seen: list[Result] = []
    quiet_rounds = 0
    deadline = time.monotonic() + _SETTLE_SECONDS
    while time.monotonic() < deadline:
        got = 0
        for subscription in subscriptions:
            results = await subscription.poll(timeout=0.05)
            got += len(results)
            seen.extend(results)
        quiet_rounds = quiet_rounds + 1 if got == 0 else 0
        if quiet_rounds >= 2 and (
            not to_the_end or all([await s.caught_up() for s in subscriptions])
        ):
            break
    for result in seen:
        if result.outcome is Outcome.DELIVERED:
            if result.event is not None and isinstance(result.event, _RECEIPTS):
                report.receipts += 1
            else:
                report.delivered += 1
    return seen


async def _inject_bad_records(fed: Federation, transport: Transport, victim: Record) -> None:
    """A record signed with a wrong key, one tampered, one replayed — as an attacker would."""
    attributes, signature = decode_headers(victim.headers)
    value = victim.value or b""
    # 1. Same claims, signed by a key the agreement does not know.
    forger = SigningKey.generate()
    forged = attributes._replace(
        id=str(uuid.uuid4()), keyid=forger.public_key.key_id(attributes.agency)
    )
    base = signature_base(topic=victim.topic, key=victim.key, attributes=forged, value=value)
    headers = [(n, v.encode()) for n, v in forged.as_headers()]
    headers.append((SIGNATURE_HEADER, base64.b64encode(forger.sign(base))))
    await transport.send(
        OutgoingRecord(
            topic=victim.topic, key=victim.key, value=victim.value, headers=tuple(headers)
        )
    )
    # 2. The real record with one changed byte in its value.
    tampered = value.replace(b"urgent", b"info__", 1)
    if tampered == value:
        tampered = value[:-2] + b" }"
    await transport.send(
        OutgoingRecord(topic=victim.topic, key=victim.key, value=tampered, headers=victim.headers)
    )
    # 3. The real record, byte for byte, sent again.
    await transport.send(
        OutgoingRecord(
            topic=victim.topic, key=victim.key, value=victim.value, headers=victim.headers
        )
    )
    del signature, fed


async def run_demo(
    *,
    kafka: str | None = None,
    directory: Path | None = None,
    emit: Callable[[str], None] = print,
) -> DemoReport:
    """Run the scenario; ``emit`` receives each line of the timeline."""
    with contextlib.ExitStack() as stack:
        work = directory or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="silian-demo-"))
        )
        federation_id = f"jpg-demo-{uuid.uuid4().hex[:6]}" if kafka else "jpg"
        fed = create_federation(work, federation_id=federation_id)
        report = DemoReport(
            federation=fed.federation_id, transport=f"Kafka {kafka}" if kafka else "embedded SQLite"
        )
        emit(
            f"四联 demo — federation {fed.federation_id}, {len(fed.members)} agencies signed "
            f"agreement v1, transport {report.transport}"
        )
        async with _transport(kafka, work) as transport:
            plan = TopicPlan()
            # The case topic is made up front so that every agency's consumer can subscribe
            # before the case opens (Kafka refuses a subscription to a missing topic).
            await transport.ensure_topics(
                plan_topics(fed.federation_id, fed.agreements.latest, plan, cases=(_CASE_ID,))
            )
            await _play(fed, transport, work, report, emit)
        return report


async def _play(
    fed: Federation,
    transport: Transport,
    work: Path,
    report: DemoReport,
    emit: Callable[[str], None],
) -> None:
    buses = {
        code: Bus(
            BusConfig(agency=code, federation=fed.federation_id, state_dir=work / code),
            transport=transport,
            agreements=fed.agreements,
            keystore=fed.keystore,
        )
        for code in fed.members
    }
    async with contextlib.AsyncExitStack() as stack:
        for bus in buses.values():
            await stack.enter_async_context(bus)
        subscriptions = []
        for bus in buses.values():
            sub = bus.subscribe(cases=[_CASE_ID])
            for spec in REGISTRY.specs():
                sub.on(spec.model)(_handler)
            await stack.enter_async_context(sub)
            subscriptions.append(sub)
        victim: Record | None = None
        for publisher, event in examples.example_story():
            if isinstance(event, _RECEIPTS):
                continue  # the bus makes real receipts; the story's are for the contracts
            published = await buses[publisher].publish(event)
            report.published += 1
            await _drain(subscriptions, report)
            receipts = await buses[publisher].store.receipts()
            mine = [r for r in receipts if r.event_id == published.event_id]
            line = _event_line(
                clock=published.time.astimezone(FEDERATION_TZ).strftime("%H:%M:%S"),
                publisher=publisher,
                event=event,
                recipients=published.recipients,
                receipts=mine,
                sealed=published.sealed,
            )
            report.lines.append(line)
            emit(line)
        emit("— injecting a forged, a tampered and a replayed record on the alert topic —")
        alert_topic = family_topic(fed.federation_id, Family.ALERT)
        victim = await _first_record(transport, alert_topic)
        await _inject_bad_records(fed, transport, victim)
        await _drain(subscriptions, report, to_the_end=True)
        for code in fed.members:
            for record in await _all_records(transport, quarantine_topic(fed.federation_id, code)):
                q = read_quarantine_headers(record)
                if q is None:
                    continue  # not written by a consumer: nothing to show
                report.quarantined.append((q.reason.value, q.detail))
                line = (
                    f"  ✘ {agency_name(code)} quarantined {q.origin}: {q.reason.value} — {q.detail}"
                )
                report.lines.append(line)
                emit(line)
        emit(
            f"done: {report.published} events published, {report.delivered} deliveries "
            f"verified and handled, {report.receipts} signed receipts, "
            f"{len(report.quarantined)} records quarantined"
        )


async def _all_records(transport: Transport, topic: str) -> list[Record]:
    group = f"demo-reader-{uuid.uuid4().hex[:8]}"
    return await read_to_end(transport, topic, group_id=group, within=_SETTLE_SECONDS)


async def _first_record(transport: Transport, topic: str) -> Record:
    records = await _all_records(transport, topic)
    return next(r for r in records if r.headers)


def _event_line(
    *,
    clock: str,
    publisher: str,
    event: EventModel,
    recipients: tuple[str, ...],
    receipts: list[PendingReceipt],
    sealed: bool,
) -> str:
    answers = []
    for code in recipients:
        receipt = next((r for r in receipts if r.recipient == code), None)
        if receipt is None or (receipt.received_at is None and receipt.rejected is None):
            state = "未回执"
        elif receipt.rejected is not None:
            state = "拒收"
        elif receipt.handled_at is not None:
            state = "已处理"
        else:
            state = "已签收"
        answers.append(f"{agency_name(code)}:{state}")
    lock = " 🔒sealed" if sealed else ""
    acks = (
        ("  回执 " + ", ".join(answers))
        if answers and spec_for_model(event).expects_receipts
        else ""
    )
    what = f"{event_label(spec_for_model(event).ce_type)}  {summary(event)}"
    return f"{clock} +08:00 ✔ {agency_name(publisher)}  {what}{lock}{acks}"
