"""RFC 6962/9162 Merkle hashing and proofs against the CT reference vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bus.errors import ProofError
from bus.tlog.log import MerkleLog
from bus.tlog.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    memory_range_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "rfc6962_vectors.json").read_text()
)
LEAVES = [leaf_hash(bytes.fromhex(x)) for x in VECTORS["leaves_hex"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["roots"]]


def _hashes(items: list[str]) -> list[bytes]:
    return [bytes.fromhex(x) for x in items]


def test_empty_root_is_sha256_of_nothing() -> None:
    assert CompactRange().root() == EMPTY_ROOT == bytes.fromhex(VECTORS["empty_root"])


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_every_prefix(size: int) -> None:
    assert root_from_leaf_hashes(LEAVES[:size]) == ROOTS[size - 1]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}of{c['size']}")
def test_inclusion_vectors_generate_and_verify(case: dict[str, Any]) -> None:
    index, size, proof = case["index"], case["size"], _hashes(case["proof"])
    assert inclusion_proof(index, size, memory_range_hash(LEAVES[:size])) == proof
    root = ROOTS[size - 1]
    assert verify_inclusion(LEAVES[index], index, size, proof, root) == root


@pytest.mark.parametrize(
    "case", VECTORS["consistency"], ids=lambda c: f"{c['size1']}to{c['size2']}"
)
def test_consistency_vectors_generate_and_verify(case: dict[str, Any]) -> None:
    m, n, proof = case["size1"], case["size2"], _hashes(case["proof"])
    assert consistency_proof(m, n, memory_range_hash(LEAVES[:n])) == proof
    assert verify_consistency(m, n, ROOTS[m - 1], ROOTS[n - 1], proof) == ROOTS[n - 1]


def test_every_proof_of_the_reference_tree_round_trips() -> None:
    for n in range(1, 9):
        mth = memory_range_hash(LEAVES[:n])
        for i in range(n):
            verify_inclusion(LEAVES[i], i, n, inclusion_proof(i, n, mth), ROOTS[n - 1])
        for m in range(1, n + 1):
            verify_consistency(m, n, ROOTS[m - 1], ROOTS[n - 1], consistency_proof(m, n, mth))


def _mutations(proof: list[bytes]) -> list[list[bytes]]:
    out = [proof[:-1], [*proof, proof[0]], [ROOTS[0], *proof]]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([proof[i][0] ^ 8]) + proof[i][1:]
        out.append(flipped)
    return out


def test_corrupted_inclusion_proofs_fail() -> None:
    case = VECTORS["inclusion"][1]
    index, size, proof = case["index"], case["size"], _hashes(case["proof"])
    root = ROOTS[size - 1]
    for bad in _mutations(proof):
        with pytest.raises(ProofError):
            verify_inclusion(LEAVES[index], index, size, bad, root)
    for i, n in ((index - 1, size), (index + 1, size), (index, size * 2), (index, size // 2)):
        with pytest.raises(ProofError):
            verify_inclusion(LEAVES[index], i, n, proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[index], index, size, proof, ROOTS[0])
    with pytest.raises(ProofError, match="not inside"):
        verify_inclusion(LEAVES[0], 8, 8, proof, root)


def test_corrupted_consistency_proofs_fail() -> None:
    case = VECTORS["consistency"][2]
    m, n, proof = case["size1"], case["size2"], _hashes(case["proof"])
    r1, r2 = ROOTS[m - 1], ROOTS[n - 1]
    for bad in [*_mutations(proof), []]:
        with pytest.raises(ProofError):
            verify_consistency(m, n, r1, r2, bad)
    for a, b in ((m - 1, n), (m + 1, n), (m, n * 2), (m, n // 2 + 1)):
        with pytest.raises(ProofError):
            verify_consistency(a, b, r1, r2, proof)
    with pytest.raises(ProofError):
        verify_consistency(m, n, r2, r1, proof)
    with pytest.raises(ProofError, match="never shrinks"):
        verify_consistency(n, m, r2, r1, proof)


def test_equal_sizes_need_equal_roots_and_an_empty_proof() -> None:
    assert verify_consistency(3, 3, ROOTS[2], ROOTS[2], []) == ROOTS[2]
    with pytest.raises(ProofError, match="two different roots"):
        verify_consistency(3, 3, ROOTS[2], ROOTS[3], [])
    with pytest.raises(ProofError):
        verify_consistency(3, 3, ROOTS[2], ROOTS[2], [ROOTS[0]])
    assert verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], []) == ROOTS[4]


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33])
def test_wrong_length_hashes_are_refused(bad: bytes) -> None:
    with pytest.raises(ProofError, match="32-byte"):
        verify_inclusion(bad, 0, 1, [], ROOTS[0])
    with pytest.raises(ProofError, match="32-byte"):
        verify_inclusion(LEAVES[0], 0, 1, [], bad)
    with pytest.raises(ProofError, match="32-byte"):
        verify_consistency(1, 2, ROOTS[0], ROOTS[1], [bad])


def test_wrong_types_are_type_errors() -> None:
    with pytest.raises(TypeError):
        verify_inclusion(LEAVES[0].hex(), 0, 1, [], ROOTS[0])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_inclusion(LEAVES[0], "0", 1, [], ROOTS[0])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_consistency(1, 2, ROOTS[0], ROOTS[1], b"".join(LEAVES[:1]))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        leaf_hash("text")  # type: ignore[arg-type]
    with pytest.raises(ProofError, match="negative"):
        verify_inclusion(LEAVES[0], -1, 1, [], ROOTS[0])


def test_persisted_log_reopens_and_proves(tmp_path: Path) -> None:
    data = [bytes([i]) * 32 for i in range(100)]
    with MerkleLog(tmp_path / "log.sqlite", "silian/t/0") as log:
        log.append(data[:37])
        root37 = log.root()
    with MerkleLog(tmp_path / "log.sqlite", "silian/t/0") as log:
        assert log.size == 37
        assert log.root() == root37
        log.append(data[37:])
        leaves = [leaf_hash(d) for d in data]
        assert log.root() == root_from_leaf_hashes(leaves)
        assert log.root(37) == root37
        for i in (0, 36, 99):
            verify_inclusion(leaves[i], i, 100, log.inclusion_proof(i), log.root())
        verify_consistency(37, 100, root37, log.root(), log.consistency_proof(37))
        assert log.checkpoint(37).root == root37
    with MerkleLog(tmp_path / "log.sqlite", "silian/t/1") as other:
        assert other.size == 0  # another origin in the same file


def test_a_refused_append_leaves_the_log_as_it_was(tmp_path: Path) -> None:
    """A batch with one hash of the wrong size was refused only after the hashes before it
    had moved the in-memory range: the log said one leaf more than it stored, the next
    append stored its leaf at the wrong index, and the file no longer reopened."""
    good = [bytes([i]) * 32 for i in range(3)]
    with MerkleLog(tmp_path / "log.sqlite", "silian/t/0") as log:
        log.append(good[:1])
        with pytest.raises(ProofError, match="32 bytes, got 5"):
            log.append([good[1], b"short"])
        assert log.size == 1
        assert log.append(good[1:]) == 3
        assert log.root() == root_from_leaf_hashes([leaf_hash(d) for d in good])
    with MerkleLog(tmp_path / "log.sqlite", "silian/t/0") as log:
        assert log.size == 3
        assert log.root() == root_from_leaf_hashes([leaf_hash(d) for d in good])
