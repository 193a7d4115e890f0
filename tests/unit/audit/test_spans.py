"""Checkpoint mode over a bundle, a byte range at a time, finds exactly what the record-by-
record replay finds; bundle format v2 (text headers) and v1 (base64) both read exactly."""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bus.audit.bundle import (
    BUNDLE_FORMAT,
    byte_spans,
    header_bytes,
    header_json,
    open_bundle,
)
from bus.audit.checkpoints import CheckpointBook
from bus.audit.replay import AuditReport, Mode, ReplayOptions, replay
from bus.audit.runner import replay_bundle
from bus.errors import BundleError
from bus.tlog.log import MerkleLog, log_origin
from bus.tlog.merkle import CompactRange, leaf_hash, root_from_leaf_hashes
from bus.transport.base import Record
from contracts import examples
from contracts.registry import spec_for_model
from tests.unit.histories import (
    GUANGFENG,
    JIANGSHAN,
    PUCHENG,
    T0,
    Federation,
    liaison_records,
    log_note,
    record_hashes,
    story_records,
    witness,
    write_bundle,
)


def _notes(fed: Federation, records: list[Record], tmp_path: Path, share: float) -> list[bytes]:
    """Cosigned checkpoints over the first ``share`` of each partition's records."""
    places: dict[tuple[str, int], list[Record]] = {}
    for record in records:
        places.setdefault((record.topic, record.partition), []).append(record)
    witnesses = [witness(fed, code, tmp_path) for code in (GUANGFENG, PUCHENG)]  # the quorum
    notes = []
    for (topic, number), group in sorted(places.items()):
        log = MerkleLog(tmp_path / "log.sqlite", log_origin(topic, number))
        log.append(record_hashes(group, fed))
        last = 0
        for size in sorted({max(1, len(group) // 3), max(1, int(len(group) * share))}):
            proof = log.consistency_proof(last, size) if last else []
            notes += [
                w.cosign(log_note(fed, log, size), proof, timestamp=7).to_bytes() for w in witnesses
            ]
            last = size
        log.close()
    return notes


def _bundle(
    fed: Federation, records: list[Record], notes: list[bytes], path: Path, *, v1: bool = False
) -> Path:
    write_bundle(fed, records, path, notes=notes, log_keeper=JIANGSHAN)
    if v1:  # as the first version wrote it: the format line and every header value base64
        lines = []
        for line in path.read_text().splitlines():
            item = json.loads(line)
            if item["kind"] == "header":
                item["format"] = "silian-audit-bundle-v1"
            if item["kind"] == "record":
                item["headers"] = [
                    [name, base64.b64encode(header_bytes(value, True)).decode()]
                    for name, value in item["headers"]
                ]
            lines.append(json.dumps(item, ensure_ascii=False, separators=(",", ":")))
        path.write_text("\n".join(lines) + "\n")
    return path


def _same(report: AuditReport, expected: AuditReport) -> None:
    ignore = {"seconds": 0, "records_per_second": 0, "source": "", "workers": 0}
    assert report.to_json() | ignore == expected.to_json() | ignore
    assert (expected.ranges_whole, expected.ranges_reread) == (0, 0)  # record by record


History = Callable[[Federation], tuple[list[Record], list[Record]]]
"""(the history the log keeper logged, the history the auditor is given)"""


def _story(fed: Federation) -> tuple[list[Record], list[Record]]:
    records = story_records(fed)  # alerts, cases, disputes, patrols: the lifecycle judge's work
    return records, records


def _liaison(fed: Federation) -> tuple[list[Record], list[Record]]:
    records = liaison_records(fed.writer(PUCHENG), 60)
    return records, records


def _tampered(fed: Federation) -> tuple[list[Record], list[Record]]:
    logged = liaison_records(fed.writer(PUCHENG), 60)
    records = list(logged)
    records[10] = dataclasses.replace(records[10], value=records[10].value + b" ")  # altered
    del records[30]  # deleted from the middle of the chain
    records[40], records[41] = records[41], records[40]  # swapped
    records.insert(50, records[49])  # replayed
    return logged, records


@pytest.mark.parametrize("history", [_story, _liaison, _tampered])
@pytest.mark.parametrize("v1", [False, True], ids=["v2", "v1"])
@pytest.mark.parametrize(("span_bytes", "workers"), [(3000, 1), (6000, 2), (1 << 20, 1)])
@pytest.mark.parametrize("mode", [Mode.CHECKPOINT, Mode.FULL])
def test_ranges_find_exactly_what_record_by_record_finds(  # noqa: PLR0917 - parametrised
    federation: Federation,
    tmp_path: Path,
    history: History,
    v1: bool,
    span_bytes: int,
    workers: int,
    mode: Mode,
) -> None:
    logged, records = history(federation)
    notes = _notes(federation, logged, tmp_path, share=0.8)
    book = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN)
    options = ReplayOptions(mode=mode, workers=1, ranges=False)
    expected = replay(records, federation.agreements, options=options, checkpoints=notes, book=book)
    path = _bundle(federation, records, notes, tmp_path / "b.jsonl", v1=v1)
    options = ReplayOptions(mode=mode, workers=workers, span_bytes=span_bytes)
    report = replay_bundle(path, options=options)
    _same(report, expected)
    assert report.ranges_whole + report.ranges_reread > (span_bytes < 1 << 20)  # 1 or more
    assert report.verified > 0  # the tail after the checkpoints, or every record (full)
    if mode is Mode.CHECKPOINT:
        assert report.trusted > 0
        # ranges under the checkpoints are taken whole (one range of it all holds the tail)
        assert (report.ranges_whole > 0) == (span_bytes < 1 << 20)
    else:
        assert report.trusted == 0
        # every clean range is taken whole (one range of a tampered history is not clean)
        assert (report.ranges_whole > 0) == (span_bytes < 1 << 20 or history is not _tampered)
    if history is _tampered:
        kinds = {a.kind.value for a in report.anomalies}
        # the altered value: under a checkpoint its signature is not checked, the next
        # record names the original (a fork); in full its signature fails
        altered = "chain-fork" if mode is Mode.CHECKPOINT else "bad-signature"
        assert {"checkpoint-mismatch", altered, "duplicate", "reordered"} <= kinds
    else:
        assert report.clean
    if history is _story:
        assert report.checkpoints_matched > 0


def test_a_lifecycle_anomaly_in_a_range_is_found_and_located(
    federation: Federation, tmp_path: Path
) -> None:
    # the story, signed and chained as usual, without the first alert being issued: its
    # later events are about an alert nobody issued (lifecycle), the chains are intact
    story = list(examples.example_story())
    skip = next(i for i, (_, e) in enumerate(story) if e.event_type == "alert.issued")
    writers = {code: federation.writer(code, at=T0) for code in (JIANGSHAN, PUCHENG, GUANGFENG)}
    offsets: dict[str, int] = {}
    wrong = []
    for i, (who, event) in enumerate(story):
        if i == skip:
            continue
        topic = spec_for_model(event).topic("jpg", event)
        offsets[topic] = offsets.get(topic, -1) + 1
        at = T0 + timedelta(minutes=i)
        wrong.append(writers[who].event_record(event, at=at, offset=offsets[topic]))
    notes = _notes(federation, wrong, tmp_path, share=1.0)
    book = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN)
    options = ReplayOptions(mode=Mode.CHECKPOINT, workers=1, ranges=False)
    expected = replay(wrong, federation.agreements, options=options, checkpoints=notes, book=book)
    assert any(a.kind.value == "lifecycle" for a in expected.anomalies)
    path = _bundle(federation, wrong, notes, tmp_path / "b.jsonl")
    report = replay_bundle(path, options=ReplayOptions(mode=Mode.CHECKPOINT, workers=1))
    _same(report, expected)
    # a lifecycle anomaly does not stop a range being taken whole
    assert (report.ranges_whole, report.ranges_reread) == (1, 0)


def test_a_split_view_inside_a_range_is_flagged_as_record_by_record(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 40)
    notes = _notes(federation, records, tmp_path, share=0.5)  # sizes 13 and 20
    hashes = record_hashes(records, federation)
    hashes[3] = bytes(32)  # another history of the same size, signed by the keeper
    log = MerkleLog(tmp_path / "forged.sqlite", log_origin(records[0].topic, 0))
    log.append(hashes)
    split = log_note(federation, log, 20)
    book = CheckpointBook(federation.agreements, federation="jpg", keeper=JIANGSHAN)
    options = ReplayOptions(mode=Mode.CHECKPOINT, workers=1, ranges=False)
    expected = replay(
        records, federation.agreements, options=options, checkpoints=[*notes, split], book=book
    )
    assert {"split-view", "checkpoint-mismatch"} <= {a.kind.value for a in expected.anomalies}
    path = _bundle(federation, records, [*notes, split], tmp_path / "b.jsonl")
    report = replay_bundle(path, options=ReplayOptions(mode=Mode.CHECKPOINT, workers=1))
    _same(report, expected)
    # the range reaching size 20 is read again, record by record
    assert (report.ranges_whole, report.ranges_reread) == (0, 1)


def test_header_values_are_kept_exactly_as_text_or_base64(
    federation: Federation, tmp_path: Path
) -> None:
    rng = random.Random(3)
    values = [b"", b"plain", b"~ !\"#$%&'()*+", b"\xe5\x9b\x9b", b"a\nb", b"\x00\x7f", b"\x20"]
    values += [bytes(rng.randrange(256) for _ in range(rng.randrange(40))) for _ in range(50)]
    for value in values:
        stored = header_json(value)
        assert isinstance(stored, str) == (all(0x20 <= b < 0x7F for b in value))
        assert header_bytes(json.loads(json.dumps(stored)), True) == value
    base = liaison_records(federation.writer(PUCHENG), 1)[0]
    odd = dataclasses.replace(base, headers=(*base.headers, ("x-raw", b"\xff\n\x00")))
    path = _bundle(federation, [base, odd], [], tmp_path / "b.jsonl")
    assert open_bundle(path).format == BUNDLE_FORMAT
    text = path.read_text()
    assert dict(base.headers)["ce_id"].decode() in text  # greppable
    assert list(open_bundle(path).records()) == [base, odd]
    v1 = _bundle(federation, [base, odd], [], tmp_path / "v1.jsonl", v1=True)
    assert list(open_bundle(v1).records()) == [base, odd]


@pytest.mark.parametrize(
    ("stored", "error"),
    [
        ('["x-note",{"hex":"00"}]', "x-note must be text or"),  # a signed one below too
        ('["x-note",{"base64":"/w==","more":1}]', "x-note must be text or"),
        ('["x-note",{"base64":"!"}]', "header x-note is not base64"),
        ('["x-note","\u00e9"]', "x-note is text but not ASCII"),
        ('[7,"x"]', "header name 7 is not text"),
    ],
)
@pytest.mark.parametrize("mode", [Mode.CHECKPOINT, Mode.FULL])
def test_a_malformed_header_is_refused_by_every_reading(
    federation: Federation, tmp_path: Path, stored: str, error: str, mode: Mode
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 3)
    records[1] = dataclasses.replace(
        records[1], headers=(*records[1].headers, ("x-note", b"\xff"))
    )  # unsigned, not text: stored as {"base64": "/w=="}
    path = _bundle(federation, records, [], tmp_path / "b.jsonl")
    text = path.read_text()
    assert '["x-note",{"base64":"/w=="}]' in text
    path.write_text(text.replace('["x-note",{"base64":"/w=="}]', stored))
    with pytest.raises(BundleError, match=error):
        list(open_bundle(path).records())
    with pytest.raises(BundleError, match=error):
        replay_bundle(path, options=ReplayOptions(mode=mode, workers=1))
    signed = path.read_text().replace('["ce_priority","routine"]', '["ce_priority",{"hex":"00"}]')
    path.write_text(signed)
    with pytest.raises(BundleError, match="ce_priority must be text or"):
        replay_bundle(path, options=ReplayOptions(mode=mode, workers=1))


def test_byte_ranges_cover_the_records_and_end_at_line_ends(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 25)
    path = _bundle(federation, records, [], tmp_path / "b.jsonl")
    bundle = open_bundle(path)
    section = bundle.record_section()
    assert section is not None
    start, end, count = section
    assert count == 25
    data = path.read_bytes()
    assert data[end:].startswith(b'{"kind":"end"')
    for size in (1, 500, 1400, 5000, 1 << 20):
        spans = list(byte_spans(path, start, end, size))
        assert (spans[0][0], spans[-1][1]) == (start, end)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
        assert all(data[high - 1 : high] == b"\n" for _, high in spans)
        assert sum(len(bundle.lines_between(*span)) for span in spans) == 25
    path.write_bytes(data[:end])  # no end line
    assert open_bundle(path).record_section() is None
    with pytest.raises(BundleError, match="truncated"):
        replay_bundle(path, options=ReplayOptions(mode=Mode.CHECKPOINT, workers=1))


def test_compact_range_extend_and_copy_agree_with_append() -> None:
    rng = random.Random(9)
    for _ in range(40):
        leaves = [leaf_hash(rng.randbytes(8)) for _ in range(rng.randrange(1, 70))]
        head = rng.randrange(len(leaves) + 1)
        tree = CompactRange()
        for leaf in leaves[:head]:
            tree.append(leaf)
        twin = tree.copy()
        blob = b"".join(leaves)
        cut = rng.randrange(head, len(leaves) + 1)
        twin.extend(blob, head, cut)
        twin.extend(blob, cut)
        assert twin.size == len(leaves)
        assert twin.root() == root_from_leaf_hashes(leaves)
        assert tree.size == head  # the original is untouched
        assert tree.root() == root_from_leaf_hashes(leaves[:head])
