"""One pipeline, with trust a parameter: the signature base is the documented one byte for
byte, trusting a cosigned checkpoint changes the signature check and nothing else, and a
bundle judged by byte ranges finds what a replay record by record finds."""

from __future__ import annotations

import base64
import dataclasses
import importlib
import importlib.util
import random
from datetime import timedelta
from pathlib import Path

import pytest

from agencies.keys import KeyAlg
from bus.audit.bundle import open_bundle
from bus.audit.checkpoints import CheckpointBook
from bus.audit.examine import examine
from bus.audit.replay import Mode, ReplayOptions, replay
from bus.audit.runner import replay_bundle
from bus.envelope.signature import decode_headers, signature_base
from bus.errors import BundleError, RecordRejectedError
from bus.pipeline import VerifyPolicy
from bus.reasons import Reason
from bus.transport.base import Record
from contracts import examples
from contracts.errors import LifecycleError
from contracts.lifecycle import LifecycleTracker
from contracts.registry import REGISTRY, spec_for_model
from tests.unit.histories import (
    GUANGFENG,
    JIANGSHAN,
    PUCHENG,
    T_CHANGE,
    Federation,
    build_federation,
    cosigned_notes,
    liaison_records,
    story_records,
    write_bundle,
)

VERIFY_RECORD = Path(__file__).resolve().parents[3] / "docs" / "examples" / "verify_record.py"


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


def _documented_base(record: Record) -> bytes:
    """The base as docs/examples/verify_record.py, an outside tool, builds it."""
    spec = importlib.util.spec_from_file_location("verify_record", VERIFY_RECORD)
    assert spec is not None
    assert spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    headers = {n: (v or b"").decode("latin-1") for n, v in record.headers}
    built: bytes = tool.signature_base(record.topic, record.key or b"", headers, record.value)
    return built


def test_the_signature_base_is_the_documented_one_byte_for_byte(federation: Federation) -> None:
    records = story_records(federation) + liaison_records(federation.writer(GUANGFENG), 200)
    accepted = refused = 0
    for record in _variants(records):
        try:
            attributes, _ = decode_headers(record.headers)
            ours = signature_base(
                topic=record.topic,
                key=record.key,
                attributes=attributes,
                value=record.value or b"",
            )
        except RecordRejectedError:
            refused += 1  # no base: not a record any signature can be over
            continue
        assert ours == _documented_base(record), record.headers
        accepted += 1
    assert accepted > 200
    assert refused >= 9


def test_trusting_a_checkpoint_changes_the_signature_check_and_nothing_else(
    tmp_path: Path,
) -> None:
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
        dataclasses.replace(base, value=(base.value or b"") + b" "),  # altered after signing
    ]
    policy = VerifyPolicy(max_behind=timedelta(days=9999), max_ahead=timedelta(days=9999))
    accepted = vouched = 0
    refusing: list[Reason] = []
    for record in [*_variants(records), *odd]:
        full = examine(record, fed.agreements, policy, trusted=False)
        trusted = examine(record, fed.agreements, policy, trusted=True)
        if full.hash is not None:
            accepted += 1
            assert trusted == dataclasses.replace(full, trusted=True)
        elif full.problems[0][0] is Reason.BAD_SIGNATURE:
            vouched += 1  # what a checkpoint vouches for: its root, not the signature
            assert trusted.hash is not None
        else:
            refusing.append(full.problems[0][0])
            assert trusted.problems == full.problems  # refused alike, for the same reason
            assert trusted.hash is None
    assert accepted > 20
    assert vouched >= 2  # the wrong signature and the altered value
    # revoked, not yet a member, a sealing key as signer: refused whatever is trusted
    assert {Reason.KEY_REVOKED, Reason.NOT_A_MEMBER, Reason.UNKNOWN_KEY} <= set(refusing)


def test_checkpoint_mode_finds_the_same_by_ranges_and_record_by_record(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 40)
    notes = cosigned_notes(federation, records[:30], tmp_path)
    tampered = list(records)
    tampered[4] = dataclasses.replace(records[4], value=records[4].value + b" ")
    tampered[7] = _with(records[7], "ce_subject", b"\xe5")  # malformed: the full path says why

    path = write_bundle(
        federation, tampered, tmp_path / "b.jsonl", notes=notes, log_keeper=JIANGSHAN
    )

    def run(source: str) -> list[tuple[str, int | None, str]]:
        options = ReplayOptions(mode=Mode.CHECKPOINT, workers=1, ranges=source == "ranges")
        if source == "records":
            book = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN)
            report = replay(
                tampered, federation.agreements, options=options, checkpoints=notes, book=book
            )
        else:
            report = replay_bundle(path, options=options)
        assert report.trusted == 29  # the malformed record is not accepted
        return [(a.kind.value, a.offset, a.detail) for a in report.anomalies]

    found = run("records")
    assert found == run("bundle, record by record") == run("ranges")
    assert {kind for kind, _, _ in found} >= {
        "chain-fork",
        "checkpoint-mismatch",
        "malformed-headers",
    }


def test_only_events_the_lifecycle_judge_keeps_state_for_are_kept(
    federation: Federation,
) -> None:
    story = [event for _, event in examples.example_story()]
    declared = {spec.family for spec in REGISTRY.specs() if spec.stateful}
    judged_families = set()
    for event in story:
        # judged: a fresh tracker refuses it (it needs what came before), or having
        # applied it refuses it again (it keeps what it saw)
        tracker = LifecycleTracker()
        try:
            tracker.apply(event, publisher="x")
            tracker.check(event, publisher="x")
            judged = False
        except LifecycleError:
            judged = True
        if judged:
            judged_families.add(event.family)
            assert spec_for_model(event).stateful, event.event_type
    assert judged_families == declared  # the registry says what the tracker judges
    assert {e.family for e in story} > declared
    kept = {
        item.ce_type
        for record in story_records(federation)
        if (item := examine(record, federation.agreements, VerifyPolicy())).event is not None
    }
    assert kept == {spec_for_model(e).ce_type for e in story if spec_for_model(e).stateful}


def test_checkpoint_mode_over_a_bundle_on_workers_finds_the_same(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 40)
    notes = cosigned_notes(federation, records[:30], tmp_path)
    tampered = list(records)
    tampered[4] = dataclasses.replace(records[4], value=records[4].value + b" ")
    tampered[7] = _with(records[7], "ce_subject", b"\xe5")
    tampered[12] = tampered[11]  # a replay
    options = ReplayOptions(mode=Mode.CHECKPOINT, workers=1)
    book = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN)
    expected = replay(
        tampered, federation.agreements, options=options, checkpoints=notes, book=book
    )
    path = write_bundle(
        federation, tampered, tmp_path / "b.jsonl", notes=notes, log_keeper=JIANGSHAN
    )
    for workers in (1, 2):
        # ranges of 2–3 records, over 1 and 2 workers
        options = ReplayOptions(mode=Mode.CHECKPOINT, workers=workers, span_bytes=4000)
        report = replay_bundle(path, options=options)
        assert report.ranges_whole > 0
        assert report.ranges_reread > 0  # the ranges with the tampered records
        assert report.to_json() | {"seconds": 0, "records_per_second": 0, "source": ""} == (
            expected.to_json()
            | {"seconds": 0, "records_per_second": 0, "source": "", "workers": workers}
        )
    assert {a.kind.value for a in expected.anomalies} >= {
        "chain-fork",
        "duplicate",
        "malformed-headers",
    }
    # a line that is not a well-formed record: the same refusal as the careful reading
    lines = path.read_bytes().splitlines(keepends=True)
    bad = next(i for i, line in enumerate(lines) if line.startswith(b'{"kind":"record"')) + 9
    lines[bad] = lines[bad].replace(b'"value":"', b'"value":"!', 1)
    path.write_bytes(b"".join(lines))
    with pytest.raises(BundleError, match="record value is not base64"):
        list(open_bundle(path).records())
    with pytest.raises(BundleError, match="record value is not base64"):
        replay_bundle(path, options=ReplayOptions(mode=Mode.CHECKPOINT, workers=2))
