"""Fuzzing the files silian reads: audit bundles, agreement folders, key stores.

A file someone else wrote is judged like a record: whatever its bytes, reading it ends in
a result or in a :class:`~contracts.errors.SilianError` saying why — never another
exception, which the CLI would show as a traceback. For bundles the line between the two
is drawn where the format draws it: a line that is not a well-formed bundle line is a
:class:`~bus.audit.errors.BundleError`; a well-formed line holding a record that is
hostile is an *anomaly* of the report, located at that record, and the replay goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from agencies.folder import AgreementFolder
from agencies.keys import KeyAlg, KeyRecord
from agencies.keystore import KeyStore
from agencies.templates import sign_as
from bus.audit.bundle import BundleWriter, agreement_documents
from bus.audit.outcome import ReplayOptions
from bus.audit.runner import replay_bundle
from bus.envelope.ids import now
from bus.errors import BundleError
from bus.reasons import Reason
from bus.sandbox.federation import Federation, create_federation
from bus.sandbox.synthetic import ChainWriter
from bus.transport.base import Record, TimestampType
from contracts import examples
from contracts.errors import SilianError
from contracts.receipts import ReceiptHandled, ReceiptReceived, ReceiptRejected
from tests.fuzz.budget import (
    AGREEMENT_FILES,
    BUNDLE_LINES,
    BUNDLE_RECORDS,
    KEY_FILES,
    fuzz_settings,
)
from tests.fuzz.draws import pick
from tests.fuzz.files import bent_bytes, hostile_json
from tests.fuzz.forge import Forge, Scene
from tests.fuzz.hostile import Forged, hostile_records
from tests.fuzz.records import Bent, mutated_records, random_records

pytestmark = [
    pytest.mark.fuzz,
    # A failing example's report shows its arguments; some hold 100,000-level JSON.
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]

_RECEIPTS = (ReceiptReceived, ReceiptHandled, ReceiptRejected)
_WORKERS = ReplayOptions(workers=1)  # in this process: a pool per example costs seconds


# -- bundles ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BundleScene:
    fed: Federation
    path: Path  # rewritten by each example
    lines: list[bytes]  # the real bundle, line by line
    records: list[Record]  # its records
    documents: list[tuple[bytes, bytes]]
    forge: Forge


def _write_bundle(scene: BundleScene, records: list[Record]) -> None:
    with BundleWriter(
        scene.path,
        federation=scene.fed.federation_id,
        agreements=scene.fed.agreements,
        documents=scene.documents,
    ) as writer:
        for record in records:
            writer.record(record)


@pytest.fixture
def bundle_scene(fuzz_dir: Path) -> BundleScene:
    """A clean bundle of the story's first events (alerts and their receipts), signed by
    the three agencies' real keys."""
    fed = create_federation(fuzz_dir)
    folder = fed.write_agreement(fuzz_dir / "agreement")
    writers = {}
    for code in fed.members:
        key_id = fed.keystore.current(code, KeyAlg.ED25519, at=now()).key_id
        writers[code] = ChainWriter(
            agency=code,
            key_id=key_id,
            key=fed.keystore.signing_key(key_id),
            federation=fed.federation_id,
        )
    offsets: dict[str, int] = {}
    records = []
    start = now() - timedelta(seconds=30)
    for i, (who, event) in enumerate(examples.example_story()[:8]):
        topic = event.event_type.split(".")[0]
        offset = offsets.get(topic, 0)
        offsets[topic] = offset + 1
        at = start + timedelta(seconds=i)
        records.append(writers[who].event_record(event, at=at, offset=offset))
    scene = BundleScene(
        fed=fed,
        path=fuzz_dir / "bundle.jsonl",
        lines=[],
        records=records,
        documents=agreement_documents(folder),
        forge=Forge(fed, partitions={r.topic: 1 for r in records}),
    )
    _write_bundle(scene, records)
    scene.lines.extend(scene.path.read_bytes().splitlines(keepends=True))
    report = replay_bundle(scene.path, options=_WORKERS)
    assert report.clean, report.anomalies  # the control: the real bundle verifies clean
    return scene


def test_a_bent_bundle_line_is_a_bundle_error_or_a_report(bundle_scene: BundleScene) -> None:
    scene, seen = bundle_scene, 0

    @st.composite
    def bent_bundles(draw: st.DrawFn) -> tuple[str, bytes, bool]:
        at = draw(st.integers(0, len(scene.lines) - 1))
        line = scene.lines[at]
        label, bent = hostile_json(draw, line.rstrip(b"\n"))
        lines = [*scene.lines[:at], bent + b"\n", *scene.lines[at + 1 :]]
        return f"line {at + 1}: {label}", b"".join(lines), draw(st.booleans())

    @fuzz_settings(BUNDLE_LINES)
    @given(bent_bundles())
    def read(case: tuple[str, bytes, bool]) -> None:
        nonlocal seen
        label, data, ranges = case
        note(label)
        scene.path.write_bytes(data)
        options = ReplayOptions(workers=1, ranges=ranges)
        try:
            report = replay_bundle(scene.path, options=options)
        except BundleError:
            pass  # a line that is not a bundle line: refused, saying which
        else:
            unforeseen = [a for a in report.anomalies if a.kind is Reason.UNPROCESSABLE]
            assert not unforeseen, f"judging a record failed unforeseen: {unforeseen[0]}"
        seen += 1

    read()
    assert seen >= BUNDLE_LINES


def _as_record(record: object, at: int, *, topic: str, offset: int) -> Record:
    """An outgoing record as a bundle would store it, at ``offset`` of partition 0."""
    return Record(
        topic=getattr(record, "topic", topic),
        partition=0,
        offset=offset,
        key=getattr(record, "key", None),
        value=getattr(record, "value", None),
        headers=getattr(record, "headers", ()),
        timestamp_ms=at,
    )


def _scene_for(scene: BundleScene) -> Scene:
    used: dict[str, list[str]] = {}
    return Scene(
        forge=scene.forge,
        members=tuple(scene.fed.members),
        consumer=scene.fed.members[0],
        used_ids=used,
        real_chains={},
    )


def test_a_hostile_record_in_a_well_formed_bundle_is_an_anomaly_there(
    bundle_scene: BundleScene,
) -> None:
    """Random, bent and validly signed hostile records, each written as a well-formed
    line after the real ones: the replay reports an anomaly at it (none for a valid
    one), and nothing else — no BundleError, no unforeseen failure."""
    scene = bundle_scene
    topics = sorted({r.topic for r in scene.records})
    counter = iter(range(1, 10**9))
    hostile_scene = _scene_for(scene)
    times = st.sampled_from((0, 2**53, 253_402_300_800_000, 2**63 - 1))  # to year 292e6
    drawn_records = st.one_of(
        random_records(topics, max_timestamp=2**63 - 1),
        mutated_records(scene.records, topics),
        hostile_records(hostile_scene, lambda: next(counter), templates=("alert", "receipt")),
    )
    seen = 0

    @fuzz_settings(BUNDLE_RECORDS)
    @given(drawn_records, st.one_of(st.none(), times), st.booleans(), st.booleans())
    def judged(drawn: object, moment: int | None, producer_time: bool, ranges: bool) -> None:
        nonlocal seen
        valid = isinstance(drawn, Forged) and drawn.valid and moment is None
        record = drawn.record if isinstance(drawn, Forged | Bent) else drawn
        note(f"{getattr(drawn, 'changes', getattr(drawn, 'steps', ''))} at {moment}")
        topic = getattr(record, "topic", topics[0])
        offset = sum(1 for r in scene.records if r.topic == topic)
        stamped = int(now().timestamp() * 1000) if moment is None else moment
        hostile = _as_record(record, stamped, topic=topic, offset=offset)
        if producer_time:
            hostile = dataclasses.replace(hostile, timestamp_type=TimestampType.CREATE_TIME)
            valid = False
        _write_bundle(scene, [*scene.records, hostile])
        report = replay_bundle(scene.path, options=ReplayOptions(workers=1, ranges=ranges))
        here = [
            a
            for a in report.anomalies
            if (a.topic, a.partition, a.offset) == (hostile.topic, 0, hostile.offset)
        ]
        unforeseen = [a for a in report.anomalies if a.kind is Reason.UNPROCESSABLE]
        assert not unforeseen, f"judging a record failed unforeseen: {unforeseen[0]}"
        if valid:
            assert report.clean, report.anomalies[:3]
        else:
            assert here, f"no anomaly at the hostile record: {report.anomalies[:3]}"
        seen += 1

    judged()
    assert seen >= BUNDLE_RECORDS


# -- agreements ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AgreementScene:
    fed: Federation
    folder: Path
    document: bytes
    signatures: bytes


@pytest.fixture
def agreement_scene(fuzz_dir: Path) -> AgreementScene:
    fed = create_federation(fuzz_dir)
    folder = fed.write_agreement(fuzz_dir / "agreement")
    AgreementFolder(folder.directory).history()  # the control: the real folder verifies
    return AgreementScene(
        fed=fed,
        folder=folder.directory,
        document=folder.document_path(1).read_bytes(),
        signatures=folder.signatures_path(1).read_bytes(),
    )


def _signed_hostile_document(draw: st.DrawFn, scene: AgreementScene) -> tuple[str, bytes, bytes]:
    """A hostile document every member signs (where the signing tool will parse it)."""
    label, document = hostile_json(draw, scene.document)
    signatures = scene.signatures
    try:
        signed = [
            sign_as(document, signer=m, keystore=scene.fed.keystore) for m in scene.fed.members
        ]
    except SilianError:
        return label + " (unsigned: it does not parse)", document, signatures
    payload = {
        "format": "silian-agreement-signatures-v1",
        "signatures": [s.model_dump() for s in signed],
    }
    return label + " (signed by every member)", document, json.dumps(payload).encode()


def test_an_agreement_folder_is_verified_or_refused_with_a_reason(
    agreement_scene: AgreementScene,
) -> None:
    scene, seen = agreement_scene, 0
    version = AgreementFolder(scene.folder)

    @st.composite
    def folders(draw: st.DrawFn) -> tuple[str, bytes, bytes, bytes | None]:
        """(what, v1 document, v1 signatures, a v2 document or None)."""
        what = pick(draw, ("document", "signatures", "signed-document", "v2"))
        if what == "document":
            label, document = hostile_json(draw, scene.document)
            return f"agreement.json: {label}", document, scene.signatures, None
        if what == "signatures":
            label, signatures = hostile_json(draw, scene.signatures)
            return f"signatures.json: {label}", scene.document, signatures, None
        if what == "signed-document":
            label, document, signatures = _signed_hostile_document(draw, scene)
            return f"agreement.json: {label}", document, signatures, None
        label, v2 = hostile_json(draw, scene.document)
        return f"v2/agreement.json, unsigned: {label}", scene.document, scene.signatures, v2

    @fuzz_settings(AGREEMENT_FILES)
    @given(folders())
    def read(case: tuple[str, bytes, bytes, bytes | None]) -> None:
        nonlocal seen
        label, document, signatures, v2 = case
        note(label)
        version.document_path(1).write_bytes(document)
        version.signatures_path(1).write_bytes(signatures)
        shutil.rmtree(version.version_dir(2), ignore_errors=True)
        if v2 is not None:
            version.version_dir(2).mkdir()
            version.document_path(2).write_bytes(v2)
        try:
            history = AgreementFolder(scene.folder).history()
        except SilianError:
            pass  # refused, saying why
        else:
            # What was accepted was signed: v1's bytes as every member signed them, no v2.
            assert v2 is None, "an unsigned version was accepted"
            changed = document != scene.document
            assert not changed or "signed by every member" in label, "a changed document"
            history.in_force_at(now())
        seen += 1

    read()
    assert seen >= AGREEMENT_FILES


# -- key stores ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class KeyScene:
    directory: Path
    keys_json: bytes
    private: dict[str, bytes]  # file name -> PEM bytes
    records: tuple[KeyRecord, ...]


@pytest.fixture
def key_scene(fuzz_dir: Path) -> KeyScene:
    fed = create_federation(fuzz_dir)
    directory = fed.keystore.directory
    return KeyScene(
        directory=directory,
        keys_json=(directory / "keys.json").read_bytes(),
        private={p.name: p.read_bytes() for p in (directory / "private").iterdir()},
        records=fed.keystore.records(),
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    path.chmod(0o600)


def test_a_key_store_reads_keys_or_refuses_with_a_reason(key_scene: KeyScene) -> None:
    scene, seen = key_scene, 0
    names = sorted(scene.private)

    @st.composite
    def stores(draw: st.DrawFn) -> tuple[str, bytes, str | None, bytes | None]:
        """(what, keys.json, a private file's name, its bytes) — one of the two bent."""
        if draw(st.booleans()):
            label, keys_json = hostile_json(draw, scene.keys_json)
            return f"keys.json: {label}", keys_json, None, None
        name = pick(draw, names)
        label, pem = _bent_pem(draw, scene.private[name])
        return f"{name}: {label}", scene.keys_json, name, pem

    @fuzz_settings(KEY_FILES)
    @given(stores())
    def read(case: tuple[str, bytes, str | None, bytes | None]) -> None:
        nonlocal seen
        label, keys_json, name, pem = case
        note(label)
        (scene.directory / "keys.json").write_bytes(keys_json)
        for file_name, original in scene.private.items():
            data = pem if file_name == name and pem is not None else original
            _write_private(scene.directory / "private" / file_name, data)
        store = KeyStore(scene.directory)
        for use in _uses(store, scene.records):
            with contextlib.suppress(SilianError):  # refused, saying why
                use()
        seen += 1

    read()
    assert seen >= KEY_FILES


def _uses(store: KeyStore, records: tuple[KeyRecord, ...]) -> list[Callable[[], object]]:
    """What a bus does with its key store: list records, open each private key."""
    uses: list[Callable[[], object]] = [store.records]
    for record in records:
        uses.append(lambda r=record: store.records(r.agency))  # type: ignore[misc]
        if record.alg is KeyAlg.ED25519:
            uses.append(lambda r=record: store.signing_key(r.key_id))  # type: ignore[misc]
        else:
            uses.append(lambda r=record: store.sealing_key(r.key_id))  # type: ignore[misc]
    return uses


_PEM_WHOLE = (
    b"",
    b"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
    b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
    b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    b"\xff" * 64,
    b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 100_000 + b"\n-----END PRIVATE KEY-----\n",
)


def _bent_pem(draw: st.DrawFn, pem: bytes) -> tuple[str, bytes]:
    if draw(st.booleans()):
        return "whole file", pick(draw, _PEM_WHOLE)
    return bent_bytes(draw, pem)
