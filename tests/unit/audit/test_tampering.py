"""Issue 5 "Tampering": each alteration of the signed history is detected and located."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from agencies.keys import KeyAlg
from bus.audit.anomaly import Anomaly
from bus.audit.replay import AuditReport, ReplayOptions, replay
from bus.reasons import Reason
from bus.sandbox.synthetic import ChainWriter
from bus.transport.base import Record
from tests.unit.histories import (
    GUANGFENG,
    JIANGSHAN,
    T0,
    T_CHANGE,
    Federation,
    build_federation,
    liaison_records,
    story_records,
)

INLINE = ReplayOptions(workers=1)


def _run(records: list[Record], fed: Federation) -> AuditReport:
    return replay(records, fed.agreements, options=INLINE)


def _only(report: AuditReport) -> Anomaly:
    assert len(report.anomalies) == 1, [(a.kind, a.where, a.detail) for a in report.anomalies]
    return report.anomalies[0]


def _renumber(records: list[Record]) -> list[Record]:
    """Offsets as a broker would give them to records stored in this order."""
    return [dataclasses.replace(r, offset=i) for i, r in enumerate(records)]


def _header(record: Record, name: str) -> bytes:
    return next(v for n, v in record.headers if n == name)


def test_the_example_story_replays_clean(federation: Federation) -> None:
    report = _run(story_records(federation), federation)
    assert report.clean, [(a.kind, a.detail) for a in report.anomalies]
    assert report.records == report.verified == 31
    assert report.chains > 0


def test_an_altered_value_is_caught_at_its_record(federation: Federation) -> None:
    records = liaison_records(federation.writer(JIANGSHAN), 6)
    victim = records[3]
    records[3] = dataclasses.replace(victim, value=victim.value.replace(b"LM-", b"LX-", 1))
    anomaly = _only(_run(records, federation))
    assert anomaly.kind is Reason.BAD_SIGNATURE
    assert (anomaly.topic, anomaly.partition, anomaly.offset) == (victim.topic, 0, 3)
    assert anomaly.seq == 4
    assert anomaly.chain == _header(victim, "ce_chainid").decode()


def test_an_altered_header_is_caught_at_its_record(federation: Federation) -> None:
    records = liaison_records(federation.writer(JIANGSHAN), 6)
    victim = records[2]
    headers = tuple((n, b"urgent" if n == "ce_priority" else v) for n, v in victim.headers)
    records[2] = dataclasses.replace(victim, headers=headers)
    anomaly = _only(_run(records, federation))
    assert anomaly.kind is Reason.BAD_SIGNATURE
    assert (anomaly.offset, anomaly.seq) == (2, 3)


def test_a_record_deleted_from_the_middle_is_a_gap(federation: Federation) -> None:
    records = liaison_records(federation.writer(JIANGSHAN), 8)
    del records[4]  # seq 5; the broker's offsets keep the hole
    anomaly = _only(_run(records, federation))
    assert anomaly.kind is Reason.SEQUENCE_GAP
    assert anomaly.seq == 5
    assert anomaly.offset == 5  # the record right after the hole
    assert "never appeared" in anomaly.detail


def test_two_swapped_records_are_a_reorder(federation: Federation) -> None:
    records = liaison_records(federation.writer(JIANGSHAN), 8)
    records[3], records[4] = records[4], records[3]
    anomaly = _only(_run(_renumber(records), federation))
    assert anomaly.kind is Reason.REORDERED
    assert (anomaly.seq, anomaly.offset) == (4, 4)
    assert "after seq 5" in anomaly.detail


def test_a_replayed_record_is_a_duplicate(federation: Federation) -> None:
    records = liaison_records(federation.writer(JIANGSHAN), 6)
    records.append(dataclasses.replace(records[2], offset=6))
    anomaly = _only(_run(records, federation))
    assert anomaly.kind is Reason.DUPLICATE
    assert (anomaly.offset, anomaly.seq) == (6, 3)
    assert "offset 2" in anomaly.detail


def test_a_fork_two_records_for_one_seq(federation: Federation) -> None:
    writer = federation.writer(JIANGSHAN)
    records = liaison_records(writer, 4)
    # The publisher's chain state is lost: a process starting the same chain over from
    # seq 1 has a second, different record claim seq 4.
    rewound = ChainWriter(
        agency=writer.agency, key_id=writer.key_id, key=writer.key, chain_base=writer.chain_base
    )
    forked = liaison_records(rewound, 5, start=T0 + timedelta(hours=1))[3]
    assert dict(forked.headers)["ce_chainid"] == dict(records[3].headers)["ce_chainid"]
    records.append(dataclasses.replace(forked, offset=4))
    kinds = {a.kind for a in _run(records, federation).anomalies}
    assert Reason.CHAIN_FORK in kinds


def test_a_record_signed_after_its_key_was_revoked(tmp_path: Path) -> None:
    fed = build_federation(tmp_path, revoke=JIANGSHAN)
    old = next(
        r.key_id
        for r in fed.keystore.records(JIANGSHAN)
        if r.alg is KeyAlg.ED25519 and r.revoked_at is not None
    )
    writer = fed.writer(JIANGSHAN, key_id=old)
    before = liaison_records(writer, 3, start=T_CHANGE - timedelta(hours=1))
    after = liaison_records(writer, 2, start=T_CHANGE + timedelta(minutes=5))
    records = _renumber([*before, *after])
    report = _run(records, fed)
    anomalies = [a for a in report.anomalies if a.kind is Reason.KEY_REVOKED]
    assert [(a.offset, a.seq) for a in anomalies] == [(3, 4), (4, 5)]
    assert "revoked" in anomalies[0].detail
    # the records signed before the revocation stand
    assert report.verified == 3


def test_a_record_from_an_agency_before_it_joined(tmp_path: Path) -> None:
    fed = build_federation(tmp_path, late_member=GUANGFENG)
    writer = fed.writer(GUANGFENG)
    early = liaison_records(writer, 2, start=T0 + timedelta(hours=2))
    late = liaison_records(writer, 2, start=T_CHANGE + timedelta(hours=1))
    report = _run(_renumber([*early, *late]), fed)
    assert [(a.kind, a.offset, a.seq) for a in report.anomalies] == [
        (Reason.NOT_A_MEMBER, 0, 1),
        (Reason.NOT_A_MEMBER, 1, 2),
    ]
    assert GUANGFENG in report.anomalies[0].detail
    assert report.verified == 2  # after joining, its records verify


def test_a_hit_on_a_cancelled_alert_makes_no_sense(federation: Federation) -> None:
    records = story_records(federation)
    hit = next(r for r in records if _header(r, "ce_type") == b"cn.silian.alert.hit.v1")
    # The same hit, newly signed after the cancellation, by the same publisher's chain.
    from contracts import examples  # noqa: PLC0415
    from contracts.alerts import AlertHit  # noqa: PLC0415

    event = next(e for _, e in examples.example_story() if isinstance(e, AlertHit))
    writer = federation.writer(examples.PUCHENG)
    late = writer.event_record(event, at=T0 + timedelta(hours=2), offset=len(records))
    report = _run([*records, dataclasses.replace(late, offset=8)], federation)
    lifecycle = [a for a in report.anomalies if a.kind is Reason.LIFECYCLE]
    assert len(lifecycle) == 1
    assert "cancelled" in lifecycle[0].detail
    assert lifecycle[0].topic == hit.topic
