"""Checkpoint mode: records under a cosigned checkpoint are trusted on it, not on their
signatures, and whatever was tampered with under it still shows."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bus.audit.checkpoints import CheckpointBook
from bus.audit.replay import Mode, ReplayOptions, replay
from bus.reasons import Reason
from bus.tlog.log import MerkleLog, log_origin
from bus.transport.base import Record
from tests.unit.histories import (
    JIANGSHAN,
    PUCHENG,
    Federation,
    cosigned_notes,
    liaison_records,
    log_note,
    record_hashes,
)


def test_checkpoint_mode_trusts_cosigned_records_and_catches_tampering(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 40)
    notes = cosigned_notes(federation, records[:30], tmp_path)
    options = ReplayOptions(mode=Mode.CHECKPOINT)

    def run(history: list[Record]) -> object:
        book = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN)
        return replay(history, federation.agreements, options=options, checkpoints=notes, book=book)

    report = run(records)
    assert report.clean  # type: ignore[attr-defined]
    assert (report.trusted, report.verified) == (30, 10)  # type: ignore[attr-defined]
    # an altered value under the checkpoint: no signature check, but the root disagrees
    tampered = list(records)
    tampered[4] = dataclasses.replace(records[4], value=records[4].value + b" ")
    report = run(tampered)
    found = {a.kind: a for a in report.anomalies}  # type: ignore[attr-defined]
    assert set(found) == {Reason.CHAIN_FORK, Reason.CHECKPOINT_MISMATCH}
    # the next record of the chain names the original record's hash, not the altered one
    assert (found[Reason.CHAIN_FORK].offset, found[Reason.CHAIN_FORK].seq) == (5, 6)
    assert "rerun with --full" in found[Reason.CHECKPOINT_MISMATCH].detail
    # records cut from the end of the partition: the checkpoint covers more than is left
    report = run(records[:25])
    assert [a.kind for a in report.anomalies] == [Reason.CHECKPOINT_AHEAD]  # type: ignore[attr-defined]


def test_checkpoints_without_a_quorum_are_not_trusted(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 10)
    log = MerkleLog(tmp_path / "log.sqlite", log_origin(records[0].topic, 0))
    log.append(record_hashes(records, federation))
    book = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN, quorum=1)
    report = replay(
        records,
        federation.agreements,
        options=ReplayOptions(mode=Mode.CHECKPOINT),
        checkpoints=[log_note(federation, log)],
        book=book,
    )
    assert report.clean
    assert (report.trusted, report.verified, report.checkpoints_matched) == (0, 10, 1)
