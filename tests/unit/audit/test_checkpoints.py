"""C2SP notes, checkpoints and cosignatures; witnesses; split views; checkpoint mode."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest

from agencies.keys import KeyAlg, SigningKey
from bus.audit.checkpoints import CheckpointBook
from bus.audit.examine import examine
from bus.audit.replay import Mode, ReplayOptions, replay
from bus.errors import CheckpointError, InconsistentCheckpointError, SplitViewError
from bus.pipeline import VerifyPolicy
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
from bus.tlog.witness import Witness, witness_name
from bus.transport.base import Record
from tests.unit.audit.conftest import (
    GUANGFENG,
    JIANGSHAN,
    PUCHENG,
    Federation,
    liaison_records,
)

ORIGIN = "example.com/behind-the-sofa"


def _key(fed: Federation, code: str) -> SigningKey:
    record = next(r for r in fed.keystore.records(code) if r.alg is KeyAlg.ED25519)
    return fed.keystore.signing_key(record.key_id)


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


def _hashes(records: list[Record], fed: Federation) -> list[bytes]:
    out = []
    for record in records:
        item = examine(record, fed.agreements, VerifyPolicy())
        assert item.hash is not None
        out.append(item.hash)
    return out


def _log_note(fed: Federation, log: MerkleLog, size: int | None = None) -> bytes:
    return (
        NoteSigner(log.origin, _key(fed, JIANGSHAN))
        .sign_checkpoint(log.checkpoint(size))
        .to_bytes()
    )


def _witness(fed: Federation, code: str, tmp_path: Path) -> Witness:
    return Witness(
        name=witness_name("jpg", code),
        key=_key(fed, code),
        log_keys=[_key(fed, JIANGSHAN).public_key],
        state_path=tmp_path / f"witness-{code}.json",
    )


def test_witness_cosigns_consistent_growth_and_refuses_a_split_view(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 12)
    log = MerkleLog(tmp_path / "log.sqlite", log_origin(records[0].topic, 0))
    log.append(_hashes(records[:5], federation))
    witness = _witness(federation, GUANGFENG, tmp_path)
    first = witness.cosign(_log_note(federation, log), [], timestamp=1)
    log.append(_hashes(records[5:8], federation))
    second = witness.cosign(_log_note(federation, log), log.consistency_proof(5), timestamp=2)
    assert witness.head(log.origin) is not None
    assert witness.head(log.origin).size == 8  # type: ignore[union-attr]
    # The log keeper signs a second, different tree of size 8 (history rewritten).
    forged = MerkleLog(tmp_path / "forged.sqlite", log.origin)
    forged.append(_hashes([*records[:7], records[9]], federation))
    split = _log_note(federation, forged)
    with pytest.raises(SplitViewError, match="SPLIT VIEW"):
        witness.cosign(split, [], timestamp=3)
    # a restarted witness remembers what it cosigned
    with pytest.raises(SplitViewError):
        _witness(federation, GUANGFENG, tmp_path).cosign(split, [], timestamp=4)
    # a rollback and an inconsistent extension are refused too
    with pytest.raises(InconsistentCheckpointError, match="rollback"):
        witness.cosign(_log_note(federation, log, 5), [], timestamp=5)
    forged.append(_hashes(records[10:12], federation))
    with pytest.raises(InconsistentCheckpointError, match="not consistent"):
        witness.cosign(_log_note(federation, forged), forged.consistency_proof(8), timestamp=6)
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


def _cosigned_notes(fed: Federation, records: list[Record], tmp_path: Path) -> list[bytes]:
    log = MerkleLog(tmp_path / "log.sqlite", log_origin(records[0].topic, 0))
    log.append(_hashes(records, fed))
    note = _log_note(fed, log)
    witness = _witness(fed, GUANGFENG, tmp_path)
    return [witness.cosign(note, [], timestamp=7).to_bytes()]


def test_checkpoint_mode_trusts_cosigned_records_and_catches_tampering(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 40)
    notes = _cosigned_notes(federation, records[:30], tmp_path)
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
    log.append(_hashes(records, federation))
    book = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN, quorum=1)
    report = replay(
        records,
        federation.agreements,
        options=ReplayOptions(mode=Mode.CHECKPOINT),
        checkpoints=[_log_note(federation, log)],
        book=book,
    )
    assert report.clean
    assert (report.trusted, report.verified, report.checkpoints_matched) == (0, 10, 1)
