"""Checkpoint mode's fast path equals the full path: the same signature base byte for byte,
the same verdict on every record it accepts, and it hands every odd record back."""

from __future__ import annotations

import base64
import dataclasses
import importlib
import random
from datetime import timedelta
from pathlib import Path

import pytest

from agencies.keys import KeyAlg
from agencies.signatures import dump_signatures
from bus.audit.bundle import BundleWriter, open_bundle
from bus.audit.errors import BundleError
from bus.audit.examine import STATEFUL_FAMILIES, examine, for_lifecycle
from bus.audit.fast import FastJudge, fast_signature_base
from bus.audit.replay import Mode, ReplayOptions, replay
from bus.audit.runner import replay_bundle
from bus.audit.trust import CheckpointBook
from bus.envelope.signature import decode_headers, signature_base
from bus.rejections import RecordRejectedError
from bus.transport.base import Record
from bus.verify import VerifyPolicy
from contracts import examples, lifecycle
from contracts.errors import LifecycleError
from contracts.lifecycle import LifecycleTracker
from tests.unit.audit.conftest import (
    GUANGFENG,
    JIANGSHAN,
    PUCHENG,
    T_CHANGE,
    Federation,
    build_federation,
    liaison_records,
    story_records,
)
from tests.unit.audit.test_checkpoints import _cosigned_notes


def _with(record: Record, name: str, value: bytes | None) -> Record:
    """``record`` with header ``name`` replaced (None: removed)."""
    headers = [(n, v) for n, v in record.headers if n != name]
    if value is not None:
        headers.append((name, value))
    return dataclasses.replace(record, headers=tuple(headers))


def _variants(records: list[Record]) -> list[Record]:
    """Edge cases around real records: odd keys, values, topics and headers."""
    rng = random.Random(5)
    base = records[0]
    out = [
        dataclasses.replace(base, key=None),
        dataclasses.replace(base, key=b""),
        dataclasses.replace(base, key=bytes(range(256))),
        dataclasses.replace(base, value=b""),
        dataclasses.replace(base, value=bytes(rng.randrange(256) for _ in range(4096))),
        dataclasses.replace(base, topic="silian.jpg.case.X-1_2.3"),
        dataclasses.replace(base, headers=(("x-unsigned", b"\xff\x00"), *base.headers)),
        dataclasses.replace(base, headers=(*base.headers, ("x-twice", b"a"), ("x-twice", b"b"))),
        dataclasses.replace(base, headers=tuple(reversed(base.headers))),
        _with(base, "ce_subject", b"~ !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"),
        _with(base, "ce_subject", b"\xe5\x9b\x9b"),  # not ASCII
        _with(base, "ce_subject", b"a\nb"),  # a newline would split a line
        _with(base, "ce_subject", b""),
        _with(base, "ce_subject", None),
        _with(base, "ce_signature", b"not base64!"),
        _with(base, "ce_signature", b"AAAA"),
        dataclasses.replace(base, headers=(*base.headers, ("ce_id", b"again"))),
        dataclasses.replace(base, headers=(*base.headers, ("ce_signature", b"again"))),
        dataclasses.replace(base, topic="silian.jpg.\u56db"),
    ]
    return [*records, *out]


def test_the_fast_signature_base_is_the_signature_base_byte_for_byte(
    federation: Federation,
) -> None:
    records = story_records(federation) + liaison_records(federation.writer(GUANGFENG), 200)
    accepted = refused = 0
    for record in _variants(records):
        fast = fast_signature_base(record)
        try:
            attributes, signature = decode_headers(record.headers)
            slow = signature_base(
                topic=record.topic, key=record.key, attributes=attributes, value=record.value
            )
        except (RecordRejectedError, UnicodeEncodeError):
            assert fast is None, record.headers  # never accepted where the full path refuses
            refused += 1
            continue
        if fast is None:  # allowed (the full path then runs), but only for odd headers
            assert len({n for n, _ in record.headers}) < len(record.headers)
            continue
        assert fast == (slow, signature)
        accepted += 1
    assert accepted > 200
    assert refused >= 9


@pytest.mark.parametrize("verify", [False, True], ids=["trusted", "verifying"])
def test_the_fast_judge_agrees_with_the_full_examination(tmp_path: Path, verify: bool) -> None:
    # a key revoked at T_CHANGE and a member that joins at T_CHANGE
    fed = build_federation(tmp_path, late_member=GUANGFENG, revoke=JIANGSHAN)
    old_js = fed.writer(JIANGSHAN)  # its key is revoked at T_CHANGE
    records = [
        *story_records(fed, start=T_CHANGE),
        *liaison_records(old_js, 5, start=T_CHANGE - timedelta(seconds=2)),  # crosses revocation
        *liaison_records(
            fed.writer(GUANGFENG, at=T_CHANGE), 3, start=T_CHANGE - timedelta(hours=1)
        ),
    ]
    sealing = next(r for r in fed.keystore.records(PUCHENG) if r.alg is KeyAlg.X25519)
    base = records[0]
    odd = [
        _with(base, "ce_keyid", sealing.key_id.encode()),  # a sealing key names the signer
        _with(base, "ce_signature", base64.b64encode(bytes(64))),  # well formed, wrong
        dataclasses.replace(base, value=base.value + b" "),  # altered after signing
    ]
    policy = VerifyPolicy(max_behind=timedelta(days=9999), max_ahead=timedelta(days=9999))
    judge = FastJudge(fed.agreements, policy, verify=verify)
    fast_accepted = 0
    for record in [*_variants(records), *odd]:
        if not record.topic.isascii():
            continue  # Kafka topic names are ASCII; the full path does not expect others
        full = examine(record, fed.agreements, policy, trusted=not verify)
        quick = judge.examine(record)
        if quick is None:
            continue  # handed to the full path
        fast_accepted += 1
        assert full.hash is not None, (full.problems, record.offset)
        assert quick == full
    assert fast_accepted > 20
    # the fast path refused what the full path refuses (revoked, not yet a member, a
    # sealing key as signer; in full mode also every signature that does not verify)
    refusing = [
        r
        for r in [*records, *odd]
        if examine(r, fed.agreements, policy, trusted=not verify).hash is None
    ]
    assert len(refusing) >= (len(odd) + 1 if verify else 2)
    assert all(judge.examine(r) is None for r in refusing)


def test_checkpoint_mode_finds_the_same_with_and_without_the_fast_path(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 40)
    notes = _cosigned_notes(federation, records[:30], tmp_path)
    tampered = list(records)
    tampered[4] = dataclasses.replace(records[4], value=records[4].value + b" ")
    tampered[7] = _with(records[7], "ce_subject", b"\xe5")  # malformed: the full path says why

    def run(fast: bool) -> list[tuple[str, int | None, str]]:
        book = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN)
        options = ReplayOptions(mode=Mode.CHECKPOINT, workers=1, fast_path=fast)
        report = replay(
            tampered, federation.agreements, options=options, checkpoints=notes, book=book
        )
        assert report.trusted == 29  # the malformed record is not accepted
        return [(a.kind.value, a.offset, a.detail) for a in report.anomalies]

    found = run(fast=True)
    assert found == run(fast=False)
    assert {kind for kind, _, _ in found} >= {"fork", "checkpoint-mismatch", "malformed"}


def test_only_events_the_lifecycle_judge_keeps_state_for_are_kept() -> None:
    story = [event for _, event in examples.example_story()]
    stateful: set[str] = set()
    for event in story:
        family = event.event_type.partition(".")[0]
        try:
            judged = LifecycleTracker()._judge(event, "x") is not lifecycle._NOTHING
        except LifecycleError:
            judged = True
        if judged:
            stateful.add(family)
        else:
            assert for_lifecycle(event) is None or family in STATEFUL_FAMILIES
    assert stateful == STATEFUL_FAMILIES
    assert {e.event_type.partition(".")[0] for e in story} > STATEFUL_FAMILIES


def test_checkpoint_mode_over_a_bundle_on_workers_finds_the_same(
    federation: Federation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 40)
    notes = _cosigned_notes(federation, records[:30], tmp_path)
    tampered = list(records)
    tampered[4] = dataclasses.replace(records[4], value=records[4].value + b" ")
    tampered[7] = _with(records[7], "ce_subject", b"\xe5")
    tampered[12] = tampered[11]  # a replay
    options = ReplayOptions(mode=Mode.CHECKPOINT, workers=1)
    book = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN)
    expected = replay(
        tampered, federation.agreements, options=options, checkpoints=notes, book=book
    )
    documents = [(doc, dump_signatures(sigs)) for doc, sigs in federation.documents]
    path = tmp_path / "b.jsonl"
    with BundleWriter(
        path,
        federation="jpg",
        agreements=federation.agreements,
        documents=documents,
        log_keeper=JIANGSHAN,
    ) as writer:
        for note in notes:
            writer.checkpoint(note)
        for record in tampered:
            writer.record(record)
    replay_module = importlib.import_module("bus.audit.replay")  # the package shadows it
    monkeypatch.setattr(replay_module, "_SPAN_BYTES", 4000)  # ranges of 2–3 records, 2 workers
    for workers in (1, 2):
        options = ReplayOptions(mode=Mode.CHECKPOINT, workers=workers)
        report = replay_bundle(path, options=options)
        assert report.to_json() | {"seconds": 0, "records_per_second": 0, "source": ""} == (
            expected.to_json()
            | {"seconds": 0, "records_per_second": 0, "source": "", "workers": workers}
        )
    assert {a.kind.value for a in expected.anomalies} >= {"fork", "duplicate", "malformed"}
    # a line that is not a well-formed record: the same refusal as the careful reading
    lines = path.read_bytes().splitlines(keepends=True)
    bad = next(i for i, line in enumerate(lines) if line.startswith(b'{"kind":"record"')) + 9
    lines[bad] = lines[bad].replace(b'"value":"', b'"value":"!', 1)
    path.write_bytes(b"".join(lines))
    with pytest.raises(BundleError, match="record value is not base64"):
        list(open_bundle(path).records())
    with pytest.raises(BundleError, match="record value is not base64"):
        replay_bundle(path, options=ReplayOptions(mode=Mode.CHECKPOINT, workers=2))
