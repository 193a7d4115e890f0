"""The log keeper and the witnesses as services, on the embedded transport, step by step."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bus.audit.replay import ReplayOptions
from bus.audit.runner import replay_transport
from bus.audit.source import read_records
from bus.envelope.ids import now
from bus.node.bus import Bus, BusConfig
from bus.node.keeper import LogKeeper
from bus.node.quarantine import read_quarantine_headers
from bus.node.services import AuditServiceConfig, run_audit_services
from bus.node.topics import TopicPlan, plan_topics
from bus.node.witnessing import WitnessService
from bus.reasons import Reason
from bus.sandbox.federation import Federation, create_federation
from bus.tlog.checkpoint import (
    Checkpoint,
    CosignatureVerifier,
    NoteSigner,
    SignedNote,
    open_checkpoint,
)
from bus.tlog.log import MerkleLog
from bus.tlog.merkle import verify_consistency
from bus.tlog.messages import NoteKind, checkpoint_message, read_message
from bus.tlog.trust import log_keys_of
from bus.tlog.witness import witness_name
from bus.transport.base import Record, Transport
from bus.transport.embedded import EmbeddedTransport
from contracts import examples
from contracts.topics import checkpoints_topic, family_topics, quarantine_topic

JS, PC, GF = examples.JIANGSHAN, examples.PUCHENG, examples.GUANGFENG
_MEETING = next(e for _, e in examples.example_story() if e.event_type == "liaison.meeting")
# Liaison meetings by every agency in turn: independent entities, so no lifecycle order.
_EVENTS = [
    ((JS, PC, GF)[i % 3], _MEETING.model_copy(update={"meeting_id": f"LM-SVC-{i:03d}"}))
    for i in range(30)
]


@contextlib.asynccontextmanager
async def _federation(
    tmp_path: Path,
) -> AsyncIterator[tuple[Federation, Transport, dict[str, Bus]]]:
    fed = create_federation(tmp_path / "fed")
    async with EmbeddedTransport(tmp_path / "embedded.sqlite") as transport:
        await transport.ensure_topics(
            plan_topics(fed.federation_id, fed.agreements.latest, TopicPlan())
        )
        async with contextlib.AsyncExitStack() as stack:
            buses = {}
            for code in fed.members:
                bus = Bus(
                    BusConfig(agency=code, federation=fed.federation_id, state_dir=tmp_path / code),
                    transport=transport,
                    agreements=fed.agreements,
                    keystore=fed.keystore,
                )
                buses[code] = await stack.enter_async_context(bus)
            yield fed, transport, buses


async def _all(transport: Transport, topics: list[str]) -> list[Record]:
    found: list[Record] = []
    async for batch in read_records(transport, topics, idle=0.2):
        found += batch
    return found


async def _checkpoint_round(
    keeper: LogKeeper, witnesses: list[WitnessService], transport: Transport, fed: Federation
) -> list[Record]:
    """Keeper reads everything and checkpoints; each witness handles the new records."""
    keeper.ingest(await _all(transport, family_topics(fed.federation_id)))
    await keeper.publish_checkpoints()
    notes = await _all(transport, [checkpoints_topic(fed.federation_id)])
    for witness in witnesses:
        for record in notes:
            await witness.handle(record)
    return await _all(transport, [checkpoints_topic(fed.federation_id)])


async def test_checkpoints_are_published_cosigned_and_a_split_view_refused(tmp_path: Path) -> None:
    async with _federation(tmp_path) as (fed, transport, buses):
        for who, event in _EVENTS[:12]:
            await buses[who].publish(event)
        keeper = LogKeeper(buses[JS].context, state_dir=tmp_path / "keeper")
        witnesses = [
            WitnessService(buses[code].context, state_dir=tmp_path / f"witness-{code}")
            for code in (PC, GF)
        ]
        topic_records = await _checkpoint_round(keeper, witnesses, transport, fed)
        messages = [m for m in map(read_message, topic_records) if m is not None]
        first = [m for m in messages if m.kind is NoteKind.CHECKPOINT]
        assert first
        assert all(m.agency == JS and m.proof_from == 0 for m in first)
        # every checkpoint is cosigned by both other agencies, verifiably
        verifiers = {
            code: CosignatureVerifier(witness_name(fed.federation_id, code), key)
            for code in (PC, GF)
            for key in log_keys_of(fed.agreements, code)
        }
        cosigned = [m for m in messages if m.kind is NoteKind.COSIGNED]
        assert sorted((m.origin, m.agency) for m in cosigned) == sorted(
            (m.origin, code) for m in first for code in (PC, GF)
        )
        for message in cosigned:
            _, parsed = open_checkpoint(message.value, log_keys_of(fed.agreements, JS))
            assert verifiers[message.agency].find(parsed) is not None

        # more events: the next checkpoints carry a consistency proof and are cosigned again
        for who, event in _EVENTS[12:]:
            await buses[who].publish(event)
        topic_records = await _checkpoint_round(keeper, witnesses, transport, fed)
        messages = [m for m in map(read_message, topic_records) if m is not None]
        grown = [m for m in messages if m.kind is NoteKind.CHECKPOINT and m.proof_from > 0]
        assert grown, "no log grew between the rounds"
        for message in grown:
            old = next(m for m in first if m.origin == message.origin)
            verify_consistency(
                old.size,
                message.size,
                Checkpoint.parse_body(old.value.decode().split("\n\n")[0] + "\n").root,
                Checkpoint.parse_body(message.value.decode().split("\n\n")[0] + "\n").root,
                message.proof,
            )
        assert sum(m.kind is NoteKind.COSIGNED for m in messages) == 2 * sum(
            m.kind is NoteKind.CHECKPOINT for m in messages
        )
        assert not [m for m in messages if m.kind is NoteKind.REFUSAL]

        # the log's key signs a second, different checkpoint of the same size
        target = grown[0]
        honest = Checkpoint.parse_body(target.value.decode().split("\n\n")[0] + "\n")
        forged = Checkpoint(origin=honest.origin, size=honest.size, root=bytes(32))
        _, js_key = buses[JS].context.signing_key(now())
        note = NoteSigner(honest.origin, js_key).sign_checkpoint(forged).to_bytes()
        await transport.send(
            checkpoint_message(
                checkpoints_topic(fed.federation_id),
                note,
                origin=honest.origin,
                size=honest.size,
                keeper=JS,
                proof_from=honest.size,
                proof=[],
            )
        )
        records = await _all(transport, [checkpoints_topic(fed.federation_id)])
        for witness in witnesses:
            assert await witness.handle(records[-1]) is None
        after = [
            m
            for m in map(
                read_message, await _all(transport, [checkpoints_topic(fed.federation_id)])
            )
            if m
        ]
        refusals = [m for m in after if m.kind is NoteKind.REFUSAL]
        assert sorted(m.agency for m in refusals) == sorted([PC, GF])
        assert {m.refusal()["reason"] for m in refusals} == {"split-view"}
        for witness in witnesses:
            line = json.loads(witness.refusals_path.read_text("utf-8").splitlines()[-1])
            assert line["origin"] == honest.origin
            assert line["reason"] == "split-view"
        assert not [
            m
            for m in after
            if m.kind is NoteKind.COSIGNED
            and Checkpoint.parse_body(SignedNote.parse(m.value).text) == forged
        ]

        report = await replay_transport(
            transport,
            family_topics(fed.federation_id),
            fed.agreements,
            federation=fed.federation_id,
            options=ReplayOptions(workers=1),
            keeper=JS,
            idle=0.2,
        )
        # the split view, and the auditor's own root shows which of the two roots is false
        where = _place(honest.origin)
        assert sorted((a.kind, a.topic, a.partition) for a in report.anomalies) == sorted(
            [(Reason.SPLIT_VIEW, *where), (Reason.CHECKPOINT_MISMATCH, *where)]
        )
        split = next(a for a in report.anomalies if a.kind is Reason.SPLIT_VIEW)
        assert "cosigned by no witness" in split.detail
        mismatch = next(a for a in report.anomalies if a.kind is Reason.CHECKPOINT_MISMATCH)
        assert f"says {'00' * 8}…" in mismatch.detail
        assert mismatch.offset is not None
        assert report.checkpoints_matched > 0


def _place(origin: str) -> tuple[str, int]:
    _, topic, partition = origin.split("/")
    return topic, int(partition)


async def test_a_restarted_keeper_neither_repeats_nor_skips(tmp_path: Path) -> None:
    async with _federation(tmp_path) as (fed, transport, buses):
        for who, event in _EVENTS[:5]:
            await buses[who].publish(event)
        records = await _all(transport, family_topics(fed.federation_id))
        keeper = LogKeeper(buses[JS].context, state_dir=tmp_path / "keeper")
        assert keeper.ingest(records) == len(records)
        await keeper.publish_checkpoints()
        sizes = {
            o: MerkleLog(tmp_path / "keeper" / "merkle.sqlite", o).size
            for o in MerkleLog.origins(tmp_path / "keeper" / "merkle.sqlite")
        }
        keeper.close()
        again = LogKeeper(buses[JS].context, state_dir=tmp_path / "keeper")
        assert again.ingest(records) == 0  # read again after a restart: nothing twice
        assert await again.publish_checkpoints() == []  # nothing new to checkpoint
        assert sum(sizes.values()) == len(records)
        again.close()


async def test_a_checkpoint_not_signed_by_the_keeper_is_junk_not_an_alarm(tmp_path: Path) -> None:
    """Anyone can write to the checkpoints topic: a note the keeper did not sign is
    quarantined and counted, and raises no refusal (an alarm is for a validly signed but
    inconsistent checkpoint only)."""
    async with _federation(tmp_path) as (fed, transport, buses):
        _, gf_key = buses[GF].context.signing_key(now())
        origin = f"silian/{family_topics(fed.federation_id)[0]}/0"
        note = NoteSigner(origin, gf_key).sign_checkpoint(
            Checkpoint(origin=origin, size=3, root=bytes(32))
        )
        await transport.send(
            checkpoint_message(
                checkpoints_topic(fed.federation_id),
                note.to_bytes(),
                origin=origin,
                size=3,
                keeper=JS,
                proof_from=0,
                proof=[],
            )
        )
        witness = WitnessService(buses[PC].context, state_dir=tmp_path / "w")
        (record,) = await _all(transport, [checkpoints_topic(fed.federation_id)])
        assert await witness.handle(record) is None
        assert not witness.refusals_path.exists()
        assert witness.junk == 1
        (kept,) = await _all(transport, [quarantine_topic(fed.federation_id, PC)])
        quarantined = read_quarantine_headers(kept)
        assert quarantined is not None
        assert quarantined.reason is Reason.MALFORMED_NOTE
        assert "not signed" in quarantined.detail
        assert kept.value == record.value
        (only,) = await _all(transport, [checkpoints_topic(fed.federation_id)])
        assert only == record  # no refusal record published, no cosignature


@pytest.mark.timeout(60)
async def test_the_services_run_in_the_background_until_stopped(tmp_path: Path) -> None:
    async with _federation(tmp_path) as (fed, transport, buses):
        for who, event in _EVENTS[:4]:
            await buses[who].publish(event)
        fast = AuditServiceConfig(log_keeper=True, witness=False, interval=0.2, poll=0.1)
        async with (
            run_audit_services(buses[JS].context, state_dir=tmp_path / "k", config=fast),
            run_audit_services(
                buses[PC].context, state_dir=tmp_path / "p", config=AuditServiceConfig(poll=0.1)
            ),
        ):
            for _ in range(100):
                found = [
                    m
                    for m in map(
                        read_message, await _all(transport, [checkpoints_topic(fed.federation_id)])
                    )
                    if m
                ]
                if any(m.kind is NoteKind.COSIGNED for m in found):
                    break
                await __import__("asyncio").sleep(0.1)
        assert {m.kind for m in found} >= {NoteKind.CHECKPOINT, NoteKind.COSIGNED}
        assert {m.agency for m in found if m.kind is NoteKind.COSIGNED} == {PC}
