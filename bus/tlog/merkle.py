"""Merkle tree hashing and proofs of RFC 9162 §2.1 (compatible with RFC 6962 §2.1).

* leaf hash ``SHA-256(0x00 || data)``, node hash ``SHA-256(0x01 || left || right)``;
  the root of the empty tree is ``SHA-256("")``;
* :func:`verify_inclusion` and :func:`verify_consistency` follow the verification
  algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 step by step; they return the verified
  root or raise :class:`~bus.errors.ProofError` with the reason;
* :func:`inclusion_proof` / :func:`consistency_proof` generate proofs (RFC 9162 §2.1.3.1,
  §2.1.4.1) from any source of subtree hashes — a list in memory or the persisted log;
* :class:`CompactRange` keeps only the O(log n) roots of the perfect subtrees of a
  growing tree, so a replay can compute roots over millions of leaves in flat memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from bus.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "memory_range_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_sha256 = hashlib.sha256
EMPTY_ROOT = hashlib.sha256(b"").digest()

RangeHash = Callable[[int, int], bytes]
"""``range_hash(start, end)``: MTH of leaves ``[start, end)`` of the tree (end > start)."""


def _bytes(value: object, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _hash(value: object, what: str) -> bytes:
    data = _bytes(value, what)
    if len(data) != HASH_SIZE:
        raise ProofError(f"{what} must be a {HASH_SIZE}-byte SHA-256 hash, got {len(data)} bytes")
    return data


def _size(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ProofError(f"{what} must not be negative, got {value}")
    return value


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + _bytes(data, "leaf data")).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _proof(proof: object) -> list[bytes]:
    if isinstance(proof, bytes | str) or not isinstance(proof, Sequence):
        raise TypeError(f"proof must be a sequence of hashes, not {type(proof).__name__}")
    return [_hash(p, f"proof[{i}]") for i, p in enumerate(proof)]


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bytes:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` with ``root``.

    Returns ``root``; raises ProofError saying why not (RFC 9162 §2.1.3.2).
    """
    leaf = _hash(leaf_hash, "leaf hash")
    expected = _hash(root, "root")
    index, tree_size = _size(index, "index"), _size(tree_size, "tree size")
    path = _proof(proof)
    # 1. the index must lie inside the tree
    if index >= tree_size:
        raise ProofError(f"leaf index {index} is not inside a tree of size {tree_size}")
    # 2. fn, sn and r
    fn, sn, r = index, tree_size - 1, leaf
    # 3. fold in every proof hash
    for p in path:
        if sn == 0:
            raise ProofError(f"inclusion proof is too long: {len(path)} hashes")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    # 4. sn must be 0 and r the root
    if sn != 0:
        raise ProofError(f"inclusion proof is too short: {len(path)} hashes")
    if r != expected:
        raise ProofError(
            f"leaf {index} is not in the tree of size {tree_size} with root "
            f"{expected.hex()[:16]}…: the proof leads to {r.hex()[:16]}…"
        )
    return expected


def _trivial_consistency(
    size1: int, size2: int, first: bytes, second: bytes, path: list[bytes]
) -> bytes | None:
    """The cases RFC 9162 leaves to the caller: shrinking, equal sizes, the empty tree."""
    if size2 < size1:
        raise ProofError(f"tree size {size2} is smaller than {size1}: a log never shrinks")
    if size1 == size2:
        if path:
            raise ProofError("a proof between trees of equal size must be empty")
        if first != second:
            raise ProofError(
                f"two different roots for the same tree size {size1}: "
                f"{first.hex()[:16]}… and {second.hex()[:16]}…"
            )
        return second
    if size1 == 0:
        if path:
            raise ProofError("a proof from the empty tree must be empty")
        return second
    return None


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bytes:
    """Check that the tree of ``size2``/``root2`` extends the tree of ``size1``/``root1``.

    Returns ``root2``; raises ProofError saying why not (RFC 9162 §2.1.4.2).
    """
    first = _hash(root1, "first root")
    second = _hash(root2, "second root")
    size1, size2 = _size(size1, "first size"), _size(size2, "second size")
    path = _proof(proof)
    trivial = _trivial_consistency(size1, size2, first, second, path)
    if trivial is not None:
        return trivial
    # 1. a non-trivial proof is never empty
    if not path:
        raise ProofError(f"empty consistency proof from size {size1} to {size2}")
    # 2. if size1 is a power of two, its root is the first node of the path
    path = [first, *path] if size1 & (size1 - 1) == 0 else path
    # 3. fn and sn
    fn, sn = size1 - 1, size2 - 1
    # 4. skip the levels where the old tree is a right child all the way
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # 5. fr and sr
    fr = sr = path[0]
    # 6. fold in the rest
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"consistency proof is too long: {len(path)} hashes")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    # 7. both roots must come out, with sn at 0
    if sn != 0:
        raise ProofError(f"consistency proof is too short: {len(proof)} hashes")
    if fr != first:
        raise ProofError(
            f"the proof does not lead to the tree of size {size1} with root {first.hex()[:16]}…"
        )
    if sr != second:
        raise ProofError(
            f"the tree of size {size2} with root {second.hex()[:16]}… does not extend the tree "
            f"of size {size1}: the proof leads to {sr.hex()[:16]}…"
        )
    return second


# -- generating proofs ------------------------------------------------------------------------


def inclusion_proof(index: int, tree_size: int, range_hash: RangeHash) -> list[bytes]:
    """PATH(index, D[tree_size]) of RFC 9162 §2.1.3.1."""
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index} is not inside a tree of size {tree_size}")
    path: list[bytes] = []
    start, end = 0, tree_size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(range_hash(start + k, end))
            end = start + k
        else:
            path.append(range_hash(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(size1: int, size2: int, range_hash: RangeHash) -> list[bytes]:
    """PROOF(size1, D[size2]) of RFC 9162 §2.1.4.1 (empty if size1 is 0 or size2)."""
    if not 0 <= size1 <= size2:
        raise ProofError(f"no consistency proof from size {size1} to {size2}")
    if size1 in (0, size2):
        return []
    path: list[bytes] = []
    start, end, whole = 0, size2, True
    m = size1
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            path.append(range_hash(start + k, end))
            end = start + k
        else:
            path.append(range_hash(start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        path.append(range_hash(start, end))
    path.reverse()
    return path


def root_from_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes held in memory (tests, small trees)."""
    compact = CompactRange()
    for leaf in leaves:
        compact.append(leaf)
    return compact.root()


def memory_range_hash(leaves: Sequence[bytes]) -> RangeHash:
    """A :data:`RangeHash` over a list of leaf hashes held in memory."""

    def mth(start: int, end: int) -> bytes:
        if end - start == 1:
            return leaves[start]
        k = _split(end - start)
        return node_hash(mth(start, start + k), mth(start + k, end))

    return mth


class CompactRange:
    """A growing tree kept as the roots of its perfect subtrees (at most log2(n) of them)."""

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._size = 0
        self._stack: list[bytes] = []

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> None:
        """Add a leaf *hash* (already ``leaf_hash``-ed)."""
        node, size, stack = leaf, self._size, self._stack
        while size & 1:  # append_nodes, without listing the completed subtrees
            node = _sha256(b"\x01" + stack.pop() + node).digest()
            size >>= 1
        stack.append(node)
        self._size += 1

    def extend(self, leaves: bytes, start: int = 0, stop: int | None = None) -> None:
        """Append leaf hashes ``start`` to ``stop`` of ``leaves`` (32 bytes each, joined)."""
        stack, size, sha256 = self._stack, self._size, _sha256
        stop = len(leaves) // 32 if stop is None else stop
        for at in range(32 * start, 32 * stop, 32):
            node, carry = leaves[at : at + 32], size
            while carry & 1:
                node = sha256(b"\x01" + stack.pop() + node).digest()
                carry >>= 1
            stack.append(node)
            size += 1
        self._size = size

    def copy(self) -> CompactRange:
        twin = CompactRange()
        twin._size, twin._stack = self._size, list(self._stack)
        return twin

    def append_nodes(self, leaf: bytes) -> list[tuple[int, bytes]]:
        """Add a leaf hash; the perfect subtrees it completes, as ``(level, hash)``."""
        node, size, level = leaf, self._size, 0
        completed: list[tuple[int, bytes]] = []
        while size & 1:
            node = node_hash(self._stack.pop(), node)
            size >>= 1
            level += 1
            completed.append((level, node))
        self._stack.append(node)
        self._size += 1
        return completed

    def restore_push(self, node: bytes, leaves: int) -> None:
        """Rebuild: push the next perfect subtree (of ``leaves`` leaves), largest first."""
        if self._stack and leaves >= self._size & -self._size:
            raise ValueError("perfect subtrees must be pushed largest first")
        self._stack.append(node)
        self._size += leaves

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node
