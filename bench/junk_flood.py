"""Junk does not delay urgent work: what a flood of bad records costs a consumer.

Measured in one run, on each transport (the local 3-node Kafka from the Maven jars, started
here and stopped after unless ``--bootstrap`` names one; then the embedded SQLite one):

1. **handled** — the baseline: Pucheng's subscription drains N valid ``liaison.meeting``
   events already on the topic (verify, chain, authorise, decode, deduplicate, handler),
   events/s;
2. **junk drained** — the same subscription drains J junk records already on the alert
   topic: forged signatures under a member's key id (an Ed25519 check each), records
   signed by a stranger's key, malformed headers, and (``--mix``) tombstones; each ends
   quarantined with its reason (a copy on the quarantine topic), records/s and the ratio
   to the handled rate;
3. **urgent alert behind the flood** — J junk records, then Jiangshan's urgent
   ``alert.issued``; a fresh consumer starts with all of it waiting: seconds until the
   alert reaches the handler, beside J / the junk rate (the time the junk ahead of it
   must take) and the handled rate's equivalent.

::

    .venv/bin/python bench/junk_flood.py [--junk 20000] [--events 2000] [--json]
        [--bootstrap HOST:PORT] [--mix forged,stranger,malformed,tombstone]
        [--transport both|kafka|embedded]

It uses only the bus's public pieces that every version has, so the same script measures
an older checkout for a "before" figure (``--mix forged,stranger,malformed``: a tombstone
stopped older consumers for good).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agencies.keys import KeyAlg, SigningKey
from bus.devkafka import kafka_for
from bus.envelope.handling import format_handling
from bus.envelope.headers import CONTENT_TYPE_JSON, SIGNATURE_HEADER, SPEC_VERSION, Attributes
from bus.envelope.ids import format_time, new_event_id, now
from bus.envelope.signature import signature_base
from bus.logs import configure_logging
from bus.node.bus import Bus, BusConfig
from bus.node.results import Delivery, Outcome
from bus.node.topics import TopicPlan, plan_topics
from bus.sandbox.federation import Federation, create_federation
from bus.transport import (
    EmbeddedTransport,
    KafkaConfig,
    KafkaTransport,
    OutgoingRecord,
    Transport,
    partition_for_key,
)
from contracts.alerts import AlertHit, AlertIssued
from contracts.base import EventModel, Family
from contracts.examples import GUANGFENG, JIANGSHAN, PUCHENG, example_story
from contracts.liaison import LiaisonMeeting
from contracts.registry import encode, spec_for_model
from contracts.topics import family_topic
from contracts.vocab import Handling, HandlingCode, Place, Priority, Tlp

KAFKA_PLAN = TopicPlan(replication=3, min_insync_replicas=2)
EMBEDDED_PLAN = TopicPlan()
GREEN = Handling(code=HandlingCode.H1, tlp=Tlp.GREEN)
MIXES = ("forged", "stranger", "malformed", "tombstone")


@dataclass(frozen=True, kw_only=True)
class Figures:
    transport: str
    events: int
    handled_per_second: float
    junk: int
    mix: tuple[str, ...]
    junk_per_second: float
    quarantined: int
    urgent_seconds: float  # fresh consumer start → the urgent alert at its handler

    @property
    def junk_to_handled(self) -> float:
        return self.junk_per_second / self.handled_per_second

    @property
    def junk_ahead_seconds(self) -> float:
        """J / the junk rate: what the junk ahead of the alert costs at that rate."""
        return self.junk / self.junk_per_second

    @property
    def as_handled_seconds(self) -> float:
        """What J records ahead would cost if each cost as much as a handled one."""
        return self.junk / self.handled_per_second


# -- records ---------------------------------------------------------------------------------
def _meetings(count: int) -> list[LiaisonMeeting]:
    run = uuid.uuid4().hex[:8]
    return [
        LiaisonMeeting(
            meeting_id=f"JUNK-BENCH-{run}-{i:07d}",
            held_at=datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
            place=Place(division="330881", description="江山市廿八都镇联勤警务站"),
            agencies=(JIANGSHAN, PUCHENG, GUANGFENG),
            topics=("二季度联合巡逻安排",),
            summary="通报案件进展 / case progress",
        )
        for i in range(count)
    ]


def _attributes(
    agency: str, key_id: str, event: EventModel, topic_partitions: int, seq: int
) -> tuple[str, bytes, Attributes]:
    spec = spec_for_model(event)
    key = spec.partition_key(event).encode()
    partition = partition_for_key(key, topic_partitions)
    return (
        spec.ce_type,
        key,
        Attributes(
            specversion=SPEC_VERSION,
            id=new_event_id(),
            source=f"urn:silian:agency:{agency}",
            type=spec.ce_type,
            time=format_time(now()),
            subject=event.entity_id(),
            content_type=CONTENT_TYPE_JSON,
            dataschema=spec.dataschema,
            handling=format_handling(GREEN),
            priority="routine",
            keyid=key_id,
            chainid=f"{agency}.junk.{uuid.uuid4().hex[:8]}.p{partition}",
            chainseq=str(seq),
            prevhash="0" * 64,
        ),
    )


def junk_records(fed: Federation, count: int, mix: Sequence[str]) -> list[OutgoingRecord]:
    """``count`` junk records for the alert topic, the kinds of ``mix`` in turn."""
    topic = family_topic(fed.federation_id, Family.ALERT)
    hit = next(e for _, e in example_story() if isinstance(e, AlertHit))
    member = fed.keystore.current(GUANGFENG, KeyAlg.ED25519, at=now()).key_id
    stranger = SigningKey.generate()
    stranger_id = stranger.public_key.key_id(GUANGFENG)
    rng = random.Random(20261201)
    records = []
    for i in range(count):
        kind = mix[i % len(mix)]
        event = hit.model_copy(update={"alert_id": f"JUNK-{i % 997}", "hit_id": f"H-{i}"})
        value = encode(event)
        if kind == "tombstone":
            records.append(OutgoingRecord(topic=topic, key=f"JUNK-{i}".encode(), value=None))
            continue
        if kind == "malformed":
            garbage = bytes(rng.getrandbits(8) for _ in range(24))
            headers = (("ce_id", garbage), ("ce_source", b"urn:silian:agency:"), ("x", garbage))
            records.append(OutgoingRecord(topic=topic, key=b"JUNK", value=value, headers=headers))
            continue
        key_id = member if kind == "forged" else stranger_id
        _, key, attributes = _attributes(GUANGFENG, key_id, event, 6, 1)
        base = signature_base(topic=topic, key=key, attributes=attributes, value=value)
        signature = (
            rng.randbytes(64) if kind == "forged" else stranger.sign(base)
        )  # forged: a member's key id, a signature it never made (an Ed25519 check fails)
        headers = tuple((n, v.encode()) for n, v in attributes.as_headers())
        headers += ((SIGNATURE_HEADER, base64.b64encode(signature)),)
        records.append(OutgoingRecord(topic=topic, key=key, value=value, headers=headers))
    return records


# -- the run ---------------------------------------------------------------------------------
async def _flood(transport: Transport, records: Sequence[OutgoingRecord]) -> None:
    acks = [await transport.enqueue(record) for record in records]
    for ack in acks:
        await ack


async def _drain(bus: Bus, topics: list[str], until: Callable[[int, int], bool]) -> float:
    """Seconds for a fresh subscription of ``bus`` to reach ``until(delivered, junk)``."""
    delivered = quarantined = 0
    subscription = bus.subscribe(group=f"bench-{uuid.uuid4().hex[:8]}", topics=topics)

    async def handle(delivery: Delivery[Any]) -> str:
        del delivery
        return "ok"

    for model in (LiaisonMeeting, AlertIssued, AlertHit):
        subscription.on(model)(handle)
    async with subscription:
        start = time.perf_counter()
        while not until(delivered, quarantined):
            for result in await subscription.poll(timeout=1.0, max_records=500):
                if result.outcome is Outcome.QUARANTINED:
                    quarantined += 1
                elif result.outcome is Outcome.DELIVERED and result.handled:
                    delivered += 1
        return time.perf_counter() - start


async def _federation(transport: Transport, plan: TopicPlan, directory: Path) -> Federation:
    """A federation of its own, its topics laid out as ``silian topics apply`` does."""
    fed = create_federation(directory, federation_id=f"junk-{uuid.uuid4().hex[:6]}")
    await transport.ensure_topics(plan_topics(fed.federation_id, fed.agreements.latest, plan))
    return fed


async def measure(
    name: str,
    make_transport: Callable[[], Transport],
    plan: TopicPlan,
    directory: Path,
    *,
    events: int,
    junk: int,
    mix: Sequence[str],
) -> Figures:
    transport = make_transport()
    await transport.start()
    try:
        fed = await _federation(transport, plan, directory / "fed")

        def bus(federation: Federation, agency: str, where: str) -> Bus:
            config = BusConfig(
                agency=agency, federation=federation.federation_id, state_dir=directory / where
            )
            return Bus(
                config,
                transport=transport,
                agreements=federation.agreements,
                keystore=federation.keystore,
            )

        liaison = family_topic(fed.federation_id, Family.LIAISON)
        alerts = family_topic(fed.federation_id, Family.ALERT)
        async with bus(fed, JIANGSHAN, "js") as js:
            await asyncio.gather(*(js.publish(e) for e in _meetings(events)))
        # 1. handled: valid events drained and handled
        async with bus(fed, PUCHENG, "pc-handled") as pc:
            handled = await _drain(pc, [liaison], lambda d, _: d >= events)
        # 2. junk drained: every one quarantined
        await _flood(transport, junk_records(fed, junk, mix))
        async with bus(fed, PUCHENG, "pc-junk") as pc:
            drained = await _drain(pc, [alerts], lambda _, q: q >= junk)
        # 3. the urgent alert behind a flood, on topics of their own
        other = await _federation(transport, plan, directory / "fed-urgent")
        await _flood(transport, junk_records(other, junk, mix))
        issued = next(e for _, e in example_story() if isinstance(e, AlertIssued))
        async with bus(other, JIANGSHAN, "js-urgent") as js:
            alert = issued.model_copy(update={"alert_id": f"URGENT-{uuid.uuid4().hex[:6]}"})
            await js.publish(alert, priority=Priority.URGENT)
        async with bus(other, PUCHENG, "pc-urgent") as pc:
            urgent = await _drain(
                pc, [family_topic(other.federation_id, Family.ALERT)], lambda d, _: d >= 1
            )
    finally:
        await transport.stop()
    return Figures(
        transport=name,
        events=events,
        handled_per_second=events / handled,
        junk=junk,
        mix=tuple(mix),
        junk_per_second=junk / drained,
        quarantined=junk,
        urgent_seconds=urgent,
    )


def render(figures: list[Figures], kafka: str) -> str:
    lines = [
        f"junk flood: {figures[0].junk} junk records ({', '.join(figures[0].mix)}) vs "
        f"{figures[0].events} handled events; {os.cpu_count()} cores; Kafka {kafka}",
        "",
        f"{'transport':<10}{'handled/s':>11}{'junk/s':>10}{'junk:handled':>14}"
        f"{'urgent s':>10}{'J/junk rate':>13}{'J/handled':>11}",
    ]
    for f in figures:
        lines.append(
            f"{f.transport:<10}{f.handled_per_second:>11.0f}{f.junk_per_second:>10.0f}"
            f"{f.junk_to_handled:>13.1f}x{f.urgent_seconds:>10.2f}{f.junk_ahead_seconds:>13.2f}"
            f"{f.as_handled_seconds:>11.2f}"
        )
    lines += [
        "",
        "urgent s: a fresh consumer finds the junk and then the urgent alert waiting; seconds",
        "until the alert reaches its handler. J/junk rate and J/handled: what the junk ahead",
        "costs at the junk rate, and would cost if a junk record cost as much as a handled one.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="what a flood of junk records costs")
    parser.add_argument("--junk", type=int, default=20_000, help="junk records (20000)")
    parser.add_argument("--events", type=int, default=2000, help="handled baseline (2000)")
    parser.add_argument("--mix", default="forged,stranger,malformed,tombstone")
    parser.add_argument("--transport", choices=("both", "kafka", "embedded"), default="both")
    parser.add_argument("--bootstrap", help="use this Kafka instead of a local 3-node one")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    mix = tuple(args.mix.split(","))
    if not set(mix) <= set(MIXES):
        parser.error(f"--mix takes {', '.join(MIXES)}")
    figures = []
    kafka = "not used"
    with (
        open(os.devnull, "w", encoding="utf-8") as sink,
        tempfile.TemporaryDirectory(prefix="silian-junk-") as tmp,
    ):
        configure_logging(fmt="json", level="INFO", stream=sink)  # as in production
        directory = Path(tmp)
        if args.transport in ("both", "kafka"):
            if not args.bootstrap:
                print("starting the local 3-node Kafka …", file=sys.stderr)
            with kafka_for(args.bootstrap, directory / "kafka-cluster") as (bootstrap, kafka):
                figures.append(
                    asyncio.run(
                        measure(
                            "kafka",
                            lambda: KafkaTransport(KafkaConfig(bootstrap=bootstrap)),
                            KAFKA_PLAN,
                            directory / "k",
                            events=args.events,
                            junk=args.junk,
                            mix=mix,
                        )
                    )
                )
        if args.transport in ("both", "embedded"):
            figures.append(
                asyncio.run(
                    measure(
                        "embedded",
                        lambda: EmbeddedTransport(directory / "e" / "bus.sqlite"),
                        EMBEDDED_PLAN,
                        directory / "e",
                        events=args.events,
                        junk=args.junk,
                        mix=mix,
                    )
                )
            )
    if args.json:
        rows = [
            {
                **asdict(f),
                "junk_to_handled": f.junk_to_handled,
                "junk_ahead_seconds": f.junk_ahead_seconds,
                "as_handled_seconds": f.as_handled_seconds,
            }
            for f in figures
        ]
        print(json.dumps({"kafka": kafka, "cores": os.cpu_count(), "figures": rows}, indent=2))
    else:
        print(render(figures, kafka))
    return 0


if __name__ == "__main__":
    sys.exit(main())
