"""The sandbox's signed histories: a ChainWriter signs records as a publisher does, so the
pipeline accepts them, and keeps one chain per partition and topic; create_federation
gives a federation whose agreement is in force and signed by every member."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from bus.envelope.headers import GENESIS
from bus.envelope.ids import now
from bus.pipeline import verify_record
from bus.sandbox import ChainWriter, create_federation
from contracts import examples
from tests.unit.histories import JIANGSHAN, T0, Federation, liaison_records

MEETING = next(e for _, e in examples.example_story() if e.event_type == "liaison.meeting")


def test_a_chain_of_records_the_pipeline_accepts(federation: Federation) -> None:
    records = liaison_records(federation.writer(JIANGSHAN), 4)
    verified = [verify_record(r, federation.agreements) for r in records]
    assert [v.seq for v in verified] == [1, 2, 3, 4]
    assert [v.attributes.prevhash for v in verified] == [GENESIS] + [v.hash for v in verified[:-1]]
    assert [r.offset for r in records] == [0, 1, 2, 3]
    assert len({v.attributes.chainid for v in verified}) == 1
    assert re.fullmatch(r"330881000000\.main\.[0-9a-f]{12}\.p0", verified[0].attributes.chainid)


def test_one_chain_per_partition_and_per_topic(federation: Federation) -> None:
    writer = federation.writer(JIANGSHAN)
    zero = writer.event_record(MEETING, at=T0, offset=0)
    one = writer.event_record(MEETING, at=T0, offset=0, partition=1)
    again = writer.event_record(MEETING, at=T0, offset=1)
    elsewhere = writer.record(
        topic="silian.jpg.other.v1",
        partition=0,
        offset=0,
        key=b"k",
        value=b"{}",
        ce_type="cn.silian.liaison.meeting.v1",
        dataschema="urn:silian:schema:liaison.meeting.v1",
        subject="k",
        handling="H1/TLP:GREEN",
        at=T0,
    )
    seqs = {
        name: verify_record(record, federation.agreements)
        for name, record in [("zero", zero), ("one", one), ("again", again), ("else", elsewhere)]
    }
    assert {n: v.seq for n, v in seqs.items()} == {"zero": 1, "one": 1, "again": 2, "else": 1}
    assert seqs["one"].attributes.chainid == writer.chain_id(1) != writer.chain_id(0)
    assert seqs["else"].attributes.chainid == seqs["zero"].attributes.chainid


def test_a_writer_on_an_existing_chain_starts_it_over(federation: Federation) -> None:
    writer = federation.writer(JIANGSHAN)
    first = liaison_records(writer, 2)
    restarted = ChainWriter(
        agency=writer.agency, key_id=writer.key_id, key=writer.key, chain_base=writer.chain_base
    )
    again = verify_record(liaison_records(restarted, 1)[0], federation.agreements)
    assert (again.attributes.chainid, again.seq) == (writer.chain_id(0), 1)
    assert again.hash != verify_record(first[0], federation.agreements).hash  # another record


def test_a_sandbox_federation_is_in_force_now_and_signed_by_all(tmp_path: Path) -> None:
    fed = create_federation(tmp_path)
    assert fed.federation_id == "jpg"
    assert fed.members == (examples.JIANGSHAN, examples.PUCHENG, examples.GUANGFENG)
    agreement = fed.agreements.in_force_at(now())
    assert {m.code for m in agreement.members} == set(fed.members)
    folder = fed.write_agreement(tmp_path / "agreement")
    assert folder.directory == tmp_path / "agreement"
    started = now() - timedelta(seconds=55)
    assert agreement.effective_from <= started  # a minute back: records made now are inside
