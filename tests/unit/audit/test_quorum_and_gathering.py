"""The witness quorum comes from the agreement (a majority of the other members unless it
says otherwise), and the witnesses' separate cosigned copies of a checkpoint are gathered
into one note."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agencies.agreement import Agreement, agreement_bytes
from agencies.signatures import parse_agreement
from bus.audit.checkpoints import CheckpointBook
from bus.reasons import Reason
from bus.tlog.checkpoint import CosignatureVerifier, SignedNote
from bus.tlog.witness import witness_name
from tests.unit.histories import (
    GUANGFENG,
    JIANGSHAN,
    PUCHENG,
    Federation,
    cosigned_notes,
    first_signing_key,
    liaison_records,
)


def test_an_agreement_without_a_quorum_loads_and_gets_the_majority_of_the_others(
    federation: Federation,
) -> None:
    document, _ = federation.documents[0]
    assert b"witness_quorum" not in document  # written before the field existed, or unset
    agreement = parse_agreement(document)
    assert agreement.witness_quorum is None
    assert agreement.checkpoint_quorum(JIANGSHAN) == 2  # 3 members: both others
    # five others: three; four others: three; one other: one
    member = agreement.members[0]
    assert _with_members(agreement, 6).checkpoint_quorum(member.code) == 3
    assert _with_members(agreement, 5).checkpoint_quorum(member.code) == 3
    assert _with_members(agreement, 2).checkpoint_quorum(member.code) == 1


def _with_members(agreement: Agreement, count: int) -> Agreement:
    """``agreement`` with ``count`` members (copies of the first under other codes)."""
    first = agreement.members[0].model_dump()
    members = []
    for i in range(count):
        code = f"3308810000{i:02d}"
        keys = [{**k, "agency": code, "key_id": code + k["key_id"][12:]} for k in first["keys"]]
        members.append({**first, "code": code, "keys": keys})
    return Agreement.model_validate({**agreement.model_dump(), "members": members})


def test_the_agreement_may_set_the_quorum_and_writes_it_only_then(
    federation: Federation,
) -> None:
    agreement = federation.agreements.latest
    set_to_one = Agreement.model_validate({**agreement.model_dump(), "witness_quorum": 1})
    written = json.loads(agreement_bytes(set_to_one))
    assert written["witness_quorum"] == 1
    assert set_to_one.checkpoint_quorum(JIANGSHAN) == 1
    assert Agreement.model_validate(written) == set_to_one
    with pytest.raises(ValueError, match="witness_quorum 3 is more than the 2 members"):
        Agreement.model_validate({**agreement.model_dump(), "witness_quorum": 3})
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        Agreement.model_validate({**agreement.model_dump(), "witness_quorum": 0})


def test_a_checkpoint_is_trusted_at_the_quorum_and_its_copies_gathered_in_one_note(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 5)
    guangfeng, pucheng = cosigned_notes(federation, records, tmp_path)
    topic = records[0].topic
    book = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN)
    assert book.quorum == 2
    assert book.add(guangfeng) == []
    assert book.trusted_size(topic, 0) == 0  # one witness of two: not yet
    assert book.add(pucheng) == []
    assert book.trusted_size(topic, 0) == 5
    origin = f"silian/{topic}/0"
    gathered = book.note(origin, 5)
    assert gathered is not None
    assert book.notes() == [gathered]
    note = SignedNote.parse(gathered)
    assert [s.name for s in note.signatures] == [
        origin,
        witness_name("jpg", GUANGFENG),
        witness_name("jpg", PUCHENG),
    ]
    for code in (GUANGFENG, PUCHENG):
        verifier = CosignatureVerifier(
            witness_name("jpg", code), first_signing_key(federation, code).public_key
        )
        assert verifier.find(note) is not None
    # the gathered note counts both witnesses on its own
    again = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN)
    again.add(gathered)
    assert again.trusted_size(topic, 0) == 5
    # an explicit quorum still wins
    one = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN, quorum=1)
    one.add(guangfeng)
    assert one.trusted_size(topic, 0) == 5


def test_a_copy_with_a_forged_cosignature_is_not_gathered(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 3)
    guangfeng, pucheng = cosigned_notes(federation, records, tmp_path)
    parsed = SignedNote.parse(pucheng)
    *kept, last = parsed.signatures
    forged = type(last)(
        last.name, last.key_id, last.signature[:-1] + bytes([last.signature[-1] ^ 1])
    )
    junk = SignedNote(parsed.text, (*kept, forged)).to_bytes()
    book = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN)
    assert book.add(guangfeng) == []
    assert [a.kind for a in book.add(junk)] == [Reason.CHECKPOINT_INVALID]
    gathered = book.note(f"silian/{records[0].topic}/0", 3)
    assert gathered == SignedNote.parse(guangfeng).to_bytes()
