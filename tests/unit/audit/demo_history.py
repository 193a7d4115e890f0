"""Shared by the demo-replay tests: run ``bus.cli.scenario`` keeping its federation, then say where
its three injected records (forged, tampered, replayed) must be found."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

import bus.cli.scenario
from bus.audit.source import read_records
from bus.envelope.signature import decode_headers
from bus.sandbox.federation import Federation
from bus.transport.base import Record, Transport
from contracts import examples
from contracts.base import Family
from contracts.topics import case_topic, family_topic, family_topics

_CASE_ID = next(e.entity_id() for _, e in examples.example_story() if e.event_type == "case.opened")


@dataclass(frozen=True)
class DemoHistory:
    federation: Federation
    agreement: Path
    topics: list[str]


def keep_federation(monkeypatch: pytest.MonkeyPatch, directory: Path) -> list[Federation]:
    """Capture the federation the demo creates (it keeps keys, not the agreement folder)."""
    made: list[Federation] = []
    create = bus.cli.scenario.create_federation

    def capturing(*args: object, **kwargs: object) -> Federation:
        fed = create(*args, **kwargs)  # type: ignore[arg-type]
        made.append(fed)
        return fed

    monkeypatch.setattr(bus.cli.scenario, "create_federation", capturing)
    del directory
    return made


def write_agreement(fed: Federation, directory: Path) -> DemoHistory:
    """The agreement folder an auditor is handed: the version the demo ran under, signed."""
    folder = fed.write_agreement(directory / "agreement")
    topics = [*family_topics(fed.federation_id), case_topic(fed.federation_id, _CASE_ID)]
    return DemoHistory(federation=fed, agreement=folder.directory, topics=topics)


async def injected(transport: Transport, fed: Federation) -> list[tuple[str, str, int, int]]:
    """(kind, topic, partition, offset) of the forged, tampered and replayed records.

    The demo sends all three after the alert topic's first record (the victim), with its
    key, so they are the last three records of the victim's partition, in that order.
    """
    topic = family_topic(fed.federation_id, Family.ALERT)
    records: list[Record] = []
    async for batch in read_records(transport, [topic], idle=1.0):
        records += batch
    victim = records[0]
    same = [r for r in records if r.partition == victim.partition]
    forged, tampered, replayed = same[-3:]
    assert replayed.value == victim.value
    assert decode_headers(replayed.headers) == decode_headers(victim.headers)
    return [
        ("unknown-key", topic, forged.partition, forged.offset),
        ("bad-signature", topic, tampered.partition, tampered.offset),
        ("duplicate", topic, replayed.partition, replayed.offset),
    ]
