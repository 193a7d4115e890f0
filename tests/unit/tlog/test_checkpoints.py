"""C2SP notes, checkpoints and cosignatures; witnesses; split views."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from agencies.keys import SigningKey
from bus.audit.checkpoints import CheckpointBook
from bus.audit.replay import ReplayOptions, replay
from bus.errors import CheckpointError, InconsistentCheckpointError, SplitViewError
from bus.reasons import Reason
from bus.tlog.checkpoint import (
    Checkpoint,
    CosignatureVerifier,
    Cosigner,
    NoteSigner,
    NoteVerifier,
    SignedNote,
    open_checkpoint,
)
from bus.tlog.log import MerkleLog, log_origin
from tests.unit.histories import (
    GUANGFENG,
    JIANGSHAN,
    PUCHENG,
    Federation,
    liaison_records,
    log_note,
    record_hashes,
)
from tests.unit.histories import witness as witness_for

ORIGIN = "example.com/behind-the-sofa"


def test_note_key_id_follows_the_signed_note_spec() -> None:
    key = SigningKey.from_private_bytes(bytes(32))
    verifier = NoteVerifier(ORIGIN, key.public_key)
    import hashlib  # noqa: PLC0415

    expected = hashlib.sha256(
        ORIGIN.encode() + b"\n\x01" + key.public_key.public_bytes_raw()
    ).digest()[:4]
    assert verifier.key_id == expected
    name, key_hash, encoded = verifier.vkey().split("+")
    assert (name, key_hash) == (ORIGIN, expected.hex())
    assert base64.b64decode(encoded)[0] == 1


def test_checkpoint_round_trips_and_verifies() -> None:
    key = SigningKey.generate()
    checkpoint = Checkpoint(origin=ORIGIN, size=20852163, root=bytes(range(32)))
    note = NoteSigner(ORIGIN, key).sign_checkpoint(checkpoint).to_bytes()
    assert note.startswith(f"{ORIGIN}\n20852163\n".encode())
    assert "\n\n\u2014 " in note.decode()
    opened, parsed = open_checkpoint(note, [SigningKey.generate().public_key, key.public_key])
    assert opened == checkpoint
    assert parsed.to_bytes() == note


def test_a_checkpoint_signed_by_another_key_is_refused() -> None:
    checkpoint = Checkpoint(origin=ORIGIN, size=1, root=bytes(32))
    note = NoteSigner(ORIGIN, SigningKey.generate()).sign_checkpoint(checkpoint).to_bytes()
    with pytest.raises(CheckpointError, match="not signed by the log"):
        open_checkpoint(note, [SigningKey.generate().public_key])


def test_an_altered_checkpoint_fails_its_signature() -> None:
    key = SigningKey.generate()
    note = NoteSigner(ORIGIN, key).sign_checkpoint(
        Checkpoint(origin=ORIGIN, size=5, root=bytes(32))
    )
    altered = SignedNote(text=note.text.replace("\n5\n", "\n6\n"), signatures=note.signatures)
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(altered.to_bytes(), [key.public_key])


@pytest.mark.parametrize(
    "data",
    [b"", b"no blank line\n", b"a\n1\nAAAA\n\nnot a signature\n", "x\n\u0001\n\n".encode()],
)
def test_malformed_notes_are_refused(data: bytes) -> None:
    with pytest.raises(CheckpointError):
        SignedNote.parse(data)


def test_bad_bodies_and_roots_are_refused() -> None:
    with pytest.raises(CheckpointError, match="zeroes"):
        Checkpoint.parse_body("o\n01\n" + base64.b64encode(bytes(32)).decode() + "\n")
    with pytest.raises(CheckpointError, match="32 bytes"):
        Checkpoint(origin="o", size=1, root=bytes(31))
    with pytest.raises(CheckpointError, match="key name"):
        NoteSigner("has space", SigningKey.generate())


def test_cosignature_is_timestamped_and_verifies() -> None:
    key = SigningKey.generate()
    checkpoint = Checkpoint(origin=ORIGIN, size=3, root=bytes(32))
    note = NoteSigner(ORIGIN, SigningKey.generate()).sign_checkpoint(checkpoint)
    cosigned = note.with_signature(
        Cosigner("w.example/1", key).cosign(checkpoint, timestamp=1679315147)
    )
    found = CosignatureVerifier("w.example/1", key.public_key).find(
        SignedNote.parse(cosigned.to_bytes())
    )
    assert found is not None
    assert found.timestamp == 1679315147
    assert CosignatureVerifier("w.example/2", key.public_key).find(cosigned) is None


# -- a log, a witness, a split view -------------------------------------------------------


def test_witness_cosigns_consistent_growth_and_refuses_a_split_view(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 12)
    log = MerkleLog(tmp_path / "log.sqlite", log_origin(records[0].topic, 0))
    log.append(record_hashes(records[:5], federation))
    witness = witness_for(federation, GUANGFENG, tmp_path)
    first = witness.cosign(log_note(federation, log), [], timestamp=1)
    log.append(record_hashes(records[5:8], federation))
    second = witness.cosign(log_note(federation, log), log.consistency_proof(5), timestamp=2)
    assert witness.head(log.origin) is not None
    assert witness.head(log.origin).size == 8  # type: ignore[union-attr]
    # The log keeper signs a second, different tree of size 8 (history rewritten).
    forged = MerkleLog(tmp_path / "forged.sqlite", log.origin)
    forged.append(record_hashes([*records[:7], records[9]], federation))
    split = log_note(federation, forged)
    with pytest.raises(SplitViewError, match="SPLIT VIEW"):
        witness.cosign(split, [], timestamp=3)
    # a restarted witness remembers what it cosigned
    with pytest.raises(SplitViewError):
        witness_for(federation, GUANGFENG, tmp_path).cosign(split, [], timestamp=4)
    # a rollback and an inconsistent extension are refused too
    with pytest.raises(InconsistentCheckpointError, match="rollback"):
        witness.cosign(log_note(federation, log, 5), [], timestamp=5)
    forged.append(record_hashes(records[10:12], federation))
    with pytest.raises(InconsistentCheckpointError, match="not consistent"):
        witness.cosign(log_note(federation, forged), forged.consistency_proof(8), timestamp=6)
    # The auditor holding both log-signed notes flags the split view, and its own root
    # over the records shows which history the records support.
    book = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN)
    report = replay(
        records[:8],
        federation.agreements,
        options=ReplayOptions(workers=1),
        checkpoints=[first.to_bytes(), second.to_bytes(), split],
        book=book,
    )
    kinds = [a.kind for a in report.anomalies]
    assert kinds == [Reason.SPLIT_VIEW, Reason.CHECKPOINT_MISMATCH]
    assert report.anomalies[0].topic == records[0].topic
    assert report.anomalies[0].partition == 0
    assert "two different roots for size 8" in report.anomalies[0].detail
    assert report.anomalies[1].offset == 7
    assert report.checkpoints_matched == 2
