"""Bundles verify offline; the CLI's exit codes and reports; the public surface."""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import bus.audit
import bus.tlog
from agencies.keys import KeyAlg, SealingKey, SigningKey, make_key_id
from agencies.signatures import dump_signatures
from bus.audit.bundle import BundleWriter, open_bundle
from bus.audit.replay import Mode, ReplayOptions, replay
from bus.audit.report import render_html, render_json, render_text
from bus.audit.runner import replay_bundle
from bus.cli._common import ExitCode
from bus.cli.main import build_parser
from bus.errors import BundleError
from bus.transport.base import Record
from tests.unit.histories import (
    JIANGSHAN,
    PUCHENG,
    Federation,
    build_federation,
    liaison_records,
    story_records,
    write_bundle,
)


def _write(path: Path, fed: Federation, records: list[Record]) -> Path:
    return write_bundle(fed, records, path)


def test_a_bundle_round_trips_and_verifies_offline(federation: Federation, tmp_path: Path) -> None:
    records = story_records(federation)
    path = _write(tmp_path / "b.jsonl", federation, records)
    bundle = open_bundle(path)
    assert list(bundle.records()) == records
    assert len(bundle.agreements.versions) == 1
    report = replay_bundle(path, options=ReplayOptions(workers=1))
    assert report.clean
    assert report.records == 31


def test_a_truncated_bundle_is_refused(federation: Federation, tmp_path: Path) -> None:
    path = _write(tmp_path / "b.jsonl", federation, story_records(federation))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-3]))
    with pytest.raises(BundleError, match="truncated"):
        list(open_bundle(path).records())


def test_a_bundle_with_a_forged_agreement_is_refused(
    federation: Federation, tmp_path: Path
) -> None:
    path = _write(tmp_path / "b.jsonl", federation, [])
    text = path.read_text().replace('"version":1,"document":"', '"version":1,"document":"ICAg', 1)
    (tmp_path / "c.jsonl").write_text(text)
    with pytest.raises(BundleError, match="does not verify"):
        open_bundle(tmp_path / "c.jsonl")


def test_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"kind": "record"}\n')
    with pytest.raises(BundleError, match="not a silian audit bundle this version reads"):
        open_bundle(tmp_path / "x.jsonl")


def test_full_verification_runs_on_worker_processes(federation: Federation) -> None:
    records = liaison_records(federation.writer(PUCHENG), 700)
    records[650] = dataclasses.replace(records[650], value=records[650].value + b" ")
    report = replay(records, federation.agreements, options=ReplayOptions(workers=2))
    assert report.workers == 2
    assert [(a.kind.value, a.offset) for a in report.anomalies] == [("bad-signature", 650)]
    assert report.verified == 699


def test_cli_verify_bundle_exit_codes_and_reports(
    federation: Federation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = liaison_records(federation.writer(JIANGSHAN), 6)
    clean = _write(tmp_path / "clean.jsonl", federation, records)
    del records[2]
    dirty = _write(tmp_path / "dirty.jsonl", federation, records)
    parser = build_parser()  # the silian parser, audit group and all
    args = parser.parse_args(["audit", "verify-bundle", str(clean), "--quiet", "--workers", "1"])
    assert args.func(args) == 0
    assert "CLEAN" in capsys.readouterr().out
    html = tmp_path / "r.html"
    args = parser.parse_args(
        ["audit", "verify-bundle", str(dirty), "--quiet", "--json", "--html", str(html)]
    )
    assert args.func(args) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["clean"] is False
    assert data["anomalies"][0]["kind"] == "sequence-gap"
    assert data["anomalies"][0]["seq"] == 3
    page = html.read_text()
    assert "<table>" in page
    assert "sequence-gap" in page
    args = parser.parse_args(["audit", "replay", "--bundle", str(dirty), "--quiet"])
    assert args.func(args) == 1
    assert "[sequence-gap]" in capsys.readouterr().out


def test_reports_escape_and_name_the_place(federation: Federation) -> None:
    records = liaison_records(federation.writer(JIANGSHAN), 3)
    records[1] = dataclasses.replace(records[1], value=records[1].value + b"<script>")
    report = replay(records, federation.agreements, options=ReplayOptions(workers=1))
    text = render_text(report)
    assert "ANOMALIES: 1" in text
    assert f"{records[1].topic}/0@1" in text
    assert "<script>" not in render_html(report)
    assert json.loads(render_json(report))["counts"] == {"bad-signature": 1}
    assert report.mode is Mode.FULL


def test_public_surface_is_pinned() -> None:
    for package in (bus.audit, bus.tlog):
        assert sorted(package.__all__) == sorted(set(package.__all__))
        for name in package.__all__:
            assert getattr(package, name) is not None
    assert {"replay", "replay_bundle", "open_bundle"} <= set(bus.audit.__all__)
    assert {"verify_inclusion", "verify_consistency", "Witness"} <= set(bus.tlog.__all__)


# -- every line of a bundle is checked, and an error names the line of the file ----------


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _item(line: bytes) -> dict[str, Any]:
    item = json.loads(line)
    assert isinstance(item, dict)
    return item


def _line(item: dict[str, Any]) -> bytes:
    return json.dumps(item, separators=(",", ":")).encode() + b"\n"


def _refusals(path: Path) -> list[str]:
    """What each way of reading a bundle says of it: every one must refuse it."""
    said = []
    for read in (
        lambda: list(open_bundle(path).records()),
        lambda: replay_bundle(path, options=ReplayOptions(workers=1)),
        lambda: replay_bundle(path, options=ReplayOptions(workers=1, mode=Mode.CHECKPOINT)),
    ):
        with pytest.raises(BundleError) as refused:
            read()
        said.append(str(refused.value))
    return said


def _noted(fed: Federation, path: Path, records: list[Record], notes: int = 2) -> Path:
    """A bundle with ``notes`` checkpoint lines (no log keeper: they are not judged)."""
    documents = [(doc, dump_signatures(sigs)) for doc, sigs in fed.documents]
    with BundleWriter(path, federation="jpg", agreements=fed.agreements, documents=documents) as w:
        for number in range(notes):
            w.checkpoint(f"silian.jpg.liaison.v1/0\n{number + 1}\nnote\n".encode())
        for record in records:
            w.record(record)
    return path


def test_errors_name_the_line_of_the_file(federation: Federation, tmp_path: Path) -> None:
    path = _noted(federation, tmp_path / "b.jsonl", liaison_records(federation.writer(PUCHENG), 5))
    lines = _lines(path)
    first = next(i for i, line in enumerate(lines) if line.startswith(b'{"kind":"record"'))
    assert first == 1 + 1 + 6 + 2  # header, one agreement, six keys, two checkpoints
    third = first + 2  # the third record is on line first + 3 of the file
    lines[third] = lines[third].replace(b'"value":"', b'"value":"!', 1)
    path.write_bytes(b"".join(lines))
    for said in _refusals(path):
        assert f"b.jsonl: line {third + 1}: record value is not base64" in said
    lines[third] = _line({"kind": "checkpoint", "note": "late"})
    path.write_bytes(b"".join(lines))
    for said in _refusals(path):
        assert f"b.jsonl: line {third + 1}: a 'checkpoint' line among the records" in said
    del lines[third]
    path.write_bytes(b"".join(lines))
    with pytest.raises(BundleError, match=f"b.jsonl: line {len(lines)}: the end line says 5"):
        list(open_bundle(path).records())
    for said in _refusals(path):  # the replay counts what its workers read: no line there
        assert "the end line says 5 records, the bundle holds 4" in said


def _key_lines(path: Path) -> list[int]:
    return [i for i, line in enumerate(_lines(path)) if _item(line)["kind"] == "key"]


def _replace(path: Path, index: int, line: bytes) -> None:
    lines = _lines(path)
    lines[index] = line
    path.write_bytes(b"".join(lines))


def _other_key(item: dict[str, Any]) -> dict[str, Any]:
    """The same record for another key of the same agency and alg (well formed)."""
    other = SigningKey.generate().public_key if item["alg"] == "ed25519" else None
    raw = other.public_bytes_raw() if other else SealingKey.generate().public_key.public_bytes_raw()
    key_id = make_key_id(item["agency"], KeyAlg(item["alg"]), raw)
    return {**item, "key_id": key_id, "public_key": base64.b64encode(raw).decode()}


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (_other_key, "is not declared by jpg v1"),
        (lambda i: {**i, "valid_until": "2099-01-01T00:00:00+08:00"}, "is not as jpg v1 declares"),
        (lambda i: {**i, "revoked_at": None, "valid_from": "2020-01-01T00:00:00Z"}, "is not as"),
        (lambda i: {**i, "version": 2}, "names agreement version 2, which this bundle does not"),
        (lambda i: {**i, "version": True}, "names agreement version True"),
        (lambda i: {**i, "version": 1e400}, "names agreement version inf"),
        (lambda i: {**i, "key_id": "x"}, "not a public key record: key_id"),
        (lambda i: {**i, "public_key": 5}, "not a public key record: public_key"),
        (lambda i: {**i, "extra": 1}, "not a public key record: extra"),
        (lambda i: {k: v for k, v in i.items() if k != "alg"}, "not a public key record: alg"),
    ],
)
def test_a_key_line_must_repeat_a_key_its_version_declares(
    federation: Federation, tmp_path: Path, change: Any, said: str
) -> None:
    path = _write(tmp_path / "b.jsonl", federation, liaison_records(federation.writer(PUCHENG), 2))
    assert open_bundle(path).records_line == 9  # every key line as written is accepted
    where = _key_lines(path)[3]
    _replace(path, where, _line(change(_item(_lines(path)[where]))))
    for refusal in _refusals(path):
        assert f"b.jsonl: line {where + 1}: " in refusal
        assert said in refusal


def test_key_lines_of_every_version_are_checked_against_that_version(tmp_path: Path) -> None:
    fed = build_federation(tmp_path / "fed", revoke=PUCHENG)  # v2 revokes Pucheng's keys
    path = _write(tmp_path / "b.jsonl", fed, [])
    assert len(open_bundle(path).agreements.versions) == 2
    lines = _lines(path)
    v1_pucheng = next(
        i
        for i in _key_lines(path)
        if _item(lines[i])["version"] == 1 and _item(lines[i])["agency"] == PUCHENG
    )
    revoked = next(
        _item(line)
        for line in lines
        if _item(line)["kind"] == "key"
        and _item(line)["key_id"] == _item(lines[v1_pucheng])["key_id"]
        and _item(line)["version"] == 2
    )
    assert revoked["revoked_at"] is not None
    _replace(path, v1_pucheng, _line({**revoked, "version": 1}))  # v1 never said revoked
    for refusal in _refusals(path):
        assert f"line {v1_pucheng + 1}: key {revoked['key_id']} is not as jpg v1 declares it" in (
            refusal
        )


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("from_start", "no", "from_start must be true or false, not 'no'"),
        ("complete", 1, "complete must be true or false, not 1"),
        ("complete", 1e400, "complete must be true or false, not inf"),
        ("from_start", None, "from_start must be true or false, not None"),
        ("log_keeper", 330881000000, "log_keeper must be an agency code or null"),
        ("log_keeper", "keeper", "log_keeper must be an agency code or null, not 'keeper'"),
        ("federation", ["jpg"], "federation must be a federation id"),
        ("federation", "sanshan", "the header names federation 'sanshan', its agreement is of jpg"),
    ],
)
def test_the_header_fields_are_checked(
    federation: Federation, tmp_path: Path, field: str, value: object, said: str
) -> None:
    path = _write(tmp_path / "b.jsonl", federation, liaison_records(federation.writer(PUCHENG), 2))
    _replace(path, 0, _line({**_item(_lines(path)[0]), field: value}))
    for refusal in _refusals(path):
        assert "b.jsonl: line 1: " in refusal
        assert said in refusal


def _at(kind: str, nth: int = 0) -> Callable[[list[bytes]], int]:
    return lambda lines: [i for i, line in enumerate(lines) if _item(line)["kind"] == kind][nth]


@pytest.mark.parametrize(
    ("where", "change", "said"),
    [
        (-1, lambda i: {**i, "records": 1e400}, "the end line's records must be a whole number"),
        (-1, lambda i: {**i, "records": -2}, "the end line's records must be a whole number"),
        (-1, lambda i: {**i, "records": "2"}, "the end line's records must be a whole number"),
        (-1, lambda i: {**i, "checkpoints": 3}, "the end line says 3 checkpoints, the bundle"),
        (-1, lambda i: {k: v for k, v in i.items() if k != "checkpoints"}, "checkpoints must be"),
        ("agreement", lambda i: {**i, "version": 2}, "agreement version 2 where version 1 comes"),
        ("agreement", lambda i: {**i, "version": 1e400}, "agreement version inf where version"),
        ("agreement", lambda i: {**i, "signatures": "!"}, "agreement signatures is not base64"),
        ("agreement", lambda i: {**i, "signatures": "e30="}, "agreement version 1 does not verify"),
        ("checkpoint", lambda i: {**i, "note": 1e400}, "a checkpoint note must be text, not inf"),
        ("checkpoint", lambda i: {**i, "note": {"a": 1}}, "a checkpoint note must be text"),
        ("checkpoint", lambda i: {**i, "note": "\ud800"}, "a checkpoint note must be UTF-8 text"),
        ("checkpoint", lambda i: {**i, "kind": "header"}, "a second header line"),
        (_at("checkpoint", 1), lambda i: {**i, "kind": "key"}, "a key line cannot follow the"),
        ("checkpoint", lambda i: {**i, "kind": 7}, "unknown kind 7"),
        ("record", lambda i: {**i, "partition": 1e400}, "partition must be a whole number"),
    ],
)
def test_every_section_line_is_checked(
    federation: Federation,
    tmp_path: Path,
    where: int | str | Callable[[list[bytes]], int],
    change: Callable[[dict[str, Any]], dict[str, Any]],
    said: str,
) -> None:
    path = _noted(federation, tmp_path / "b.jsonl", liaison_records(federation.writer(PUCHENG), 3))
    lines = _lines(path)
    if isinstance(where, str):
        where = _at(where)
    index = where if isinstance(where, int) else where(lines)
    index %= len(lines)
    _replace(path, index, _line(change(_item(lines[index]))))
    for refusal in _refusals(path):
        assert f"b.jsonl: line {index + 1}: " in refusal
        assert said in refusal


def test_nothing_may_follow_the_end_line(federation: Federation, tmp_path: Path) -> None:
    path = _write(tmp_path / "b.jsonl", federation, liaison_records(federation.writer(PUCHENG), 3))
    lines = _lines(path)
    path.write_bytes(b"".join([*lines, lines[-3]]))  # a record line after the end
    for refusal in _refusals(path):
        assert f"line {len(lines) + 1}: nothing may follow the end line" in refusal


@pytest.mark.parametrize("kind", ["header", "agreement", "key", "checkpoint", "record", "end"])
def test_deep_nesting_in_any_line_is_refused_not_a_recursion_error(
    federation: Federation, tmp_path: Path, kind: str
) -> None:
    path = _noted(federation, tmp_path / "b.jsonl", liaison_records(federation.writer(PUCHENG), 3))
    lines = _lines(path)
    index = _at(kind)(lines)
    deep = lines[index].rstrip(b"}\n") + b',"x":' + b"[" * 50_000 + b"]" * 50_000 + b"}\n"
    _replace(path, index, deep)
    for refusal in _refusals(path):
        assert f"b.jsonl: line {index + 1}: nested deeper than 32 levels" in refusal


# -- the verdict is the exit code, whatever happens to stdout or the workers ---------------

SILIAN = str(Path(sys.executable).with_name("silian"))


def test_a_reader_gone_before_the_report_keeps_the_exit_code(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(JIANGSHAN), 6)
    clean = _write(tmp_path / "clean.jsonl", federation, records)
    del records[2]
    dirty = _write(tmp_path / "dirty.jsonl", federation, records)
    for bundle, verdict in ((clean, 0), (dirty, 1)):
        for output in ([], ["--json"]):
            argv = [SILIAN, "audit", "verify-bundle", str(bundle), "--quiet", "--workers", "1"]
            process = subprocess.Popen(
                [*argv, *output], stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            assert process.stdout is not None
            assert process.stderr is not None
            process.stdout.close()  # `| head -0`: nobody reads the report
            err = process.stderr.read()
            process.stderr.close()
            assert (process.wait(timeout=120), err) == (verdict, b"")


def test_a_bundle_whose_workers_cannot_start_is_an_error_not_silence(
    federation: Federation, tmp_path: Path
) -> None:
    # Long enough for two byte ranges, so that worker processes are started.
    bundle = _write(
        tmp_path / "b.jsonl", federation, liaison_records(federation.writer(JIANGSHAN), 900)
    )
    assert bundle.stat().st_size > 1 << 20  # replay.py's _SPAN_BYTES
    # A worker starts as `python -c "from multiprocessing.spawn import …"` in this folder,
    # which has its own multiprocessing module: every worker dies before it reads a task.
    folder = tmp_path / "here"
    folder.mkdir()
    (folder / "multiprocessing.py").write_text('raise ImportError("not the real one")\n')
    ran = subprocess.run(
        [SILIAN, "audit", "verify-bundle", str(bundle), "--quiet", "--workers", "2"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == ExitCode.INTERNAL
    assert ran.stdout == ""  # no report: nothing was verified
    said = [line for line in ran.stderr.splitlines() if line.startswith("silian:")]
    assert len(said) == 1
    assert said[0].startswith("silian: internal error: ")
    assert said[0].endswith("(run again with --log-level DEBUG for the traceback)")
    assert "bus/cli" not in ran.stderr  # the workers' own tracebacks only, none of silian's


def test_cli_verify_bundle_refuses_a_malformed_bundle_in_one_line(
    federation: Federation, tmp_path: Path
) -> None:
    path = _write(tmp_path / "b.jsonl", federation, liaison_records(federation.writer(PUCHENG), 3))
    lines = _lines(path)
    _replace(path, 10, lines[10].replace(b'"offset":2', b'"offset":-5'))
    ran = subprocess.run(
        [SILIAN, "audit", "verify-bundle", str(path), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == ExitCode.FAILED
    assert ran.stdout == ""
    assert ran.stderr.splitlines() == [
        f"silian: error: {path}: line 11: offset must be a whole number from 0 to "
        "9223372036854775807, not -5"
    ]
