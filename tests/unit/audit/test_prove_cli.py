"""``silian audit prove`` and ``audit export``, run as the real CLI, checked by an outside
verifier that knows nothing of silian (tests/unit/audit/outside_verifier.py): the record's
inclusion under a cosigned checkpoint, a log's consistency, and the one-line errors."""

from __future__ import annotations

import ast
import asyncio
import base64
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from agencies.folder import AgreementFolder
from bus.audit.bundle import open_bundle
from bus.errors import BundleError
from bus.tlog.log import MerkleLog, log_origin
from bus.tlog.witness import witness_name
from bus.transport.base import OutgoingRecord, Record, TopicSpec
from bus.transport.embedded import EmbeddedTransport
from contracts.topics import checkpoints_topic
from tests.unit.audit import outside_verifier as outside
from tests.unit.histories import (
    CST,
    GUANGFENG,
    JIANGSHAN,
    PUCHENG,
    Federation,
    liaison_records,
    log_note,
    record_hashes,
    witness,
    write_bundle,
)

_APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}  # as silian topics apply sets
SILIAN = str(Path(sys.executable).with_name("silian"))  # the installed console script


@dataclass
class History:
    records: list[Record]
    hashes: list[bytes]  # the record hashes, as silian computes them
    notes: list[bytes]  # each witness's own cosigned copy of each checkpoint
    bundle: Path


def _history(fed: Federation, directory: Path, *, start: datetime | None = None) -> History:
    """13 records on one partition; checkpoints at 5 and 11, each copy cosigned by one of
    the two witnesses (the quorum of jpg is both)."""
    records = liaison_records(fed.writer(PUCHENG), 13, **({"start": start} if start else {}))
    hashes = record_hashes(records, fed)
    log = MerkleLog(directory / "log.sqlite", log_origin(records[0].topic, 0))
    witnesses = [witness(fed, code, directory) for code in (GUANGFENG, PUCHENG)]
    notes: list[bytes] = []
    log.append(hashes[:5])
    notes += [w.cosign(log_note(fed, log, 5), [], timestamp=7).to_bytes() for w in witnesses]
    log.append(hashes[5:11])
    proof = log.consistency_proof(5, 11)
    notes += [w.cosign(log_note(fed, log, 11), proof, timestamp=8).to_bytes() for w in witnesses]
    log.close()
    bundle = write_bundle(fed, records, directory / "b.jsonl", notes=notes, log_keeper=JIANGSHAN)
    return History(records=records, hashes=hashes, notes=notes, bundle=bundle)


def _keys(fed: Federation) -> tuple[bytes, dict[str, bytes]]:
    """The log key and the witnesses' keys, read from the agreement document (JSON) as an
    outside auditor reads them: each member's first Ed25519 key."""
    document = json.loads(fed.documents[0][0])
    first = {
        m["code"]: base64.b64decode(
            next(k for k in m["keys"] if k["alg"] == "ed25519")["public_key"]
        )
        for m in document["members"]
    }
    return first[JIANGSHAN], {
        witness_name("jpg", code): key for code, key in first.items() if code != JIANGSHAN
    }


def _silian(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SILIAN, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def _event_id(record: Record) -> str:
    return next(v.decode() for n, v in record.headers if n == "ce_id" and v is not None)


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH over leaf hashes, by hand."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return outside.node(_mth(leaves[:k]), _mth(leaves[k:]))


def test_the_outside_verifier_imports_nothing_of_silian() -> None:
    tree = ast.parse(Path(outside.__file__).read_text(encoding="utf-8"))
    imported = set()
    for item in ast.walk(tree):
        if isinstance(item, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in item.names}
        elif isinstance(item, ast.ImportFrom):
            imported.add((item.module or "").split(".")[0])
    assert imported == {"__future__", "base64", "hashlib", "struct", "cryptography"}


def test_an_inclusion_proof_verifies_against_the_cosigned_checkpoint_outside_silian(
    federation: Federation, tmp_path: Path
) -> None:
    history = _history(federation, tmp_path)
    log_key, witnesses = _keys(federation)
    target = history.records[3]
    ran = _silian(
        "audit", "prove", "inclusion", "--bundle", history.bundle, "--event", _event_id(target)
    )
    assert ran.returncode == 0, ran.stderr
    origin, index, size = outside.tlog_proof(
        ran.stdout, history.hashes[3], log_key=log_key, witnesses=witnesses, quorum=2
    )
    assert (origin, index, size) == (log_origin(target.topic, 0), 3, 11)  # the largest trusted
    assert ran.stdout.startswith("c2sp.org/tlog-proof@v1\nextra ")
    # both witnesses' cosignatures are in the one note, though each published its own copy
    note = ran.stdout.split("\n\n", 1)[1]
    cosigned = outside.checkpoint(note, log_key=log_key, witnesses=witnesses, quorum=2)[3]
    assert sorted(cosigned) == sorted(witnesses)
    # the verifier is not a rubber stamp: another record, a changed hash, too few witnesses
    with pytest.raises(outside.InvalidError):
        outside.tlog_proof(
            ran.stdout, history.hashes[4], log_key=log_key, witnesses=witnesses, quorum=2
        )
    lines = ran.stdout.split("\n")
    lines[3] = base64.b64encode(bytes(32)).decode()
    with pytest.raises(outside.InvalidError):
        outside.tlog_proof(
            "\n".join(lines), history.hashes[3], log_key=log_key, witnesses=witnesses, quorum=2
        )
    only_one = {k: v for k, v in witnesses.items() if k.endswith(GUANGFENG)}
    with pytest.raises(outside.InvalidError, match="1 cosignatures, 2 needed"):
        outside.tlog_proof(
            ran.stdout, history.hashes[3], log_key=log_key, witnesses=only_one, quorum=2
        )
    # by index, as JSON: the same proof, and the fields an auditor's program reads
    ran = _silian(
        "audit", "prove", "inclusion", "--bundle", history.bundle, "--index", "10", "--json"
    )
    assert ran.returncode == 0, ran.stderr
    data = json.loads(ran.stdout)
    assert (data["index"], data["tree_size"], data["offset"]) == (10, 11, 10)
    assert data["record_hash"] == history.hashes[10].hex()
    assert data["event_id"] is None
    assert data["quorum"] == 2
    assert outside.tlog_proof(
        data["proof"], history.hashes[10], log_key=log_key, witnesses=witnesses, quorum=2
    )[1:] == (10, 11)
    # a leaf under the first checkpoint only, when the quorum is lowered: still the largest
    ran = _silian("audit", "prove", "inclusion", "--bundle", history.bundle, "--index", "0")
    assert (
        outside.tlog_proof(
            ran.stdout, history.hashes[0], log_key=log_key, witnesses=witnesses, quorum=2
        )[2]
        == 11
    )


def test_a_consistency_proof_verifies_outside_silian(
    federation: Federation, tmp_path: Path
) -> None:
    history = _history(federation, tmp_path)
    log_key, witnesses = _keys(federation)
    # from the checkpoint at 5, which the auditor holds and checks first
    ran = _silian(
        "audit", "prove", "consistency", "--bundle", history.bundle, "--from", "5", "--json"
    )
    assert ran.returncode == 0, ran.stderr
    data = json.loads(ran.stdout)
    _, old_size, old_root, _ = outside.checkpoint(
        data["old_checkpoint"], log_key=log_key, witnesses=witnesses, quorum=2
    )
    assert old_size == 5
    assert outside.consistency_proof(
        data["proof"], old_root, log_key=log_key, witnesses=witnesses, quorum=2
    )[1:] == (5, 11)
    # from any size: the auditor's own root over the records it holds
    leaves = [outside.leaf(h) for h in history.hashes]
    for old in (1, 3, 4, 8, 11):
        ran = _silian(
            "audit",
            "prove",
            "consistency",
            "--bundle",
            history.bundle,
            "--from",
            str(old),
            "--to",
            "11",
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.startswith(f"silian/tlog-consistency@v1\nold {old} ")
        outside.consistency_proof(
            ran.stdout, _mth(leaves[:old]), log_key=log_key, witnesses=witnesses, quorum=2
        )
        with pytest.raises(outside.InvalidError):  # a root of another history does not pass
            outside.consistency_proof(
                ran.stdout,
                _mth(leaves[1 : old + 1]),
                log_key=log_key,
                witnesses=witnesses,
                quorum=2,
            )


_LOG = "silian/silian.jpg.liaison.v1/0"
_NO_ID = "01900000-0000-7000-8000-000000000000"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["inclusion", "--index", "13"],
            2,
            f"leaf 13 is beyond the log {_LOG}: it holds 13 leaves (0 to 12)",
        ),
        (["inclusion", "--event", _NO_ID], 2, f"no record with event id {_NO_ID} in the history"),
        (
            ["consistency", "--from", "11", "--to", "5"],
            2,
            "--from 11 is after --to 5: a log only grows",
        ),
        (["consistency", "--from", "3", "--to", "99"], 2, "size 99 is beyond the log"),
        (
            ["consistency", "--from", "3", "--to", "4"],
            2,
            "no checkpoint of size 4 to prove against (its checkpoints: 5, 11)",
        ),
        (["inclusion", "--index", "11"], 1, f"no checkpoint of {_LOG} that covers leaf 11 yet"),
        (
            ["inclusion", "--index", "2", "--quorum", "3"],
            1,
            "a quorum of 3 witnesses (the best: size 11, cosigned by 2)",
        ),
        (
            ["inclusion", "--index", "2", "--origin", "silian.jpg.alert.v1/0"],
            2,
            "no log silian/silian",
        ),
    ],
)
def test_bad_questions_are_one_line_and_their_exit_code(
    federation: Federation, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    history = _history(federation, tmp_path)
    ran = _silian("audit", "prove", *args, "--bundle", history.bundle)
    assert ran.returncode == code, ran.stderr
    assert ran.stdout == ""
    lines = ran.stderr.splitlines()
    assert len(lines) == 1, ran.stderr
    assert lines[0].startswith("silian: error: ")
    assert message in lines[0]


def test_export_gathers_the_cosignatures_and_adds_the_proofs(
    federation: Federation, tmp_path: Path
) -> None:
    """From the embedded transport, as the CLI reads it: the bundle's proofs verify outside
    silian, its checkpoints are one note each, and it verifies (and proves) itself."""
    history = _history(federation, tmp_path, start=datetime.now(CST))  # broker time is now
    topic = history.records[0].topic
    embedded = tmp_path / "embedded.sqlite"

    async def publish() -> None:
        async with EmbeddedTransport(embedded) as transport:
            await transport.ensure_topics(
                [
                    TopicSpec(name=topic, partitions=1, replication=1, configs=_APPEND_TIME),
                    TopicSpec(name=checkpoints_topic("jpg"), partitions=1, replication=1),
                ]
            )
            for note in history.notes:  # each witness's own copy, as the topic holds them
                origin = note.split(b"\n", 1)[0]
                await transport.send(
                    OutgoingRecord(topic=checkpoints_topic("jpg"), key=origin, value=note)
                )
            for r in history.records:
                await transport.send(
                    OutgoingRecord(topic=r.topic, key=r.key, value=r.value, headers=r.headers)
                )

    asyncio.run(publish())
    folder = AgreementFolder(tmp_path / "agreement")
    for document, signatures in federation.documents:
        folder.write_signatures(folder.write_version(document), signatures)
    out = tmp_path / "export.jsonl"
    ran = _silian(
        "audit", "export", "--embedded", embedded, "--agreement", folder.directory,
        "--only", topic, "--log-keeper", JIANGSHAN, "--out", out, "--json",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    # 2 consistency... 1 from the checkpoint at 5 to the one at 11, and 11 inclusions
    assert json.loads(ran.stdout) == {
        "bundle": str(out), "records": 13, "checkpoints": 2, "proofs": 12,
    }  # fmt: skip
    log_key, witnesses = _keys(federation)
    bundle = open_bundle(out)
    notes = {}
    for note in bundle.checkpoints:
        _, size, _, cosigned = outside.checkpoint(
            note.decode(), log_key=log_key, witnesses=witnesses, quorum=2
        )
        assert len(cosigned) == 2
        notes[size] = note.decode()
    assert sorted(notes) == [5, 11]
    proofs = list(bundle.proofs())
    kinds = [p["type"] for p in proofs]
    assert kinds == ["consistency"] + ["inclusion"] * 11
    for line in proofs[1:]:  # a tlog-proof from each line and the checkpoint line it names
        text = (
            f"c2sp.org/tlog-proof@v1\nindex {line['index']}\n"
            + "".join(h + "\n" for h in line["hashes"])
            + "\n"
            + notes[line["tree_size"]]
        )
        record_hash = bytes.fromhex(line["record_hash"])
        assert record_hash == history.hashes[line["index"]]
        outside.tlog_proof(text, record_hash, log_key=log_key, witnesses=witnesses, quorum=2)
    link = proofs[0]
    text = (
        f"silian/tlog-consistency@v1\nold 5 {notes[5].split(chr(10))[2]}\n"
        + "".join(h + "\n" for h in link["hashes"])
        + "\n"
        + notes[11]
    )
    old_root = outside.checkpoint(notes[5], log_key=log_key, witnesses=witnesses, quorum=2)[2]
    outside.consistency_proof(text, old_root, log_key=log_key, witnesses=witnesses, quorum=2)
    # the bundle verifies, in both modes, and proves what it holds
    for mode in ("--full", "--trust-checkpoints"):
        ran = _silian("audit", "verify-bundle", out, mode, "--quiet", "--json")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert json.loads(ran.stdout)["clean"] is True
    ran = _silian(
        "audit", "prove", "inclusion", "--bundle", out, "--event", _event_id(history.records[7])
    )
    assert ran.returncode == 0, ran.stderr
    outside.tlog_proof(
        ran.stdout, history.hashes[7], log_key=log_key, witnesses=witnesses, quorum=2
    )


def test_proof_lines_follow_the_records_and_the_end_line_counts_them(
    federation: Federation, tmp_path: Path
) -> None:
    records = liaison_records(federation.writer(PUCHENG), 3)
    path = write_bundle(federation, records, tmp_path / "p.jsonl")
    *lines, end = path.read_text().splitlines(keepends=True)
    proof = (
        '{"kind":"proof","type":"consistency","origin":"o","old_size":1,"tree_size":2,'
        '"hashes":[]}\n'
    )
    counted = end.replace('"proofs":0', '"proofs":1')
    path.write_text("".join([*lines, proof, counted]))
    bundle = open_bundle(path)
    assert list(bundle.records()) == records
    assert [p["type"] for p in bundle.proofs()] == ["consistency"]
    section = bundle.record_section()
    assert section is not None
    assert section[1] == path.read_bytes().index(proof.encode())
    path.write_text("".join([*lines, proof, end]))  # the end line says 0 proofs
    with pytest.raises(BundleError, match="the end line says 0 proofs, the bundle holds 1"):
        list(open_bundle(path).records())
    path.write_text("".join([*lines[:-1], proof, lines[-1], counted]))  # a record after it
    bundle = open_bundle(path)
    assert bundle.record_section() is None  # the careful reading then says what is wrong
    with pytest.raises(BundleError, match="a 'record' line among the proofs"):
        list(bundle.records())
