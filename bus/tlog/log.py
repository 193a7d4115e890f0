"""A Merkle log over accepted records, persisted in SQLite so memory stays flat.

One log per (topic, partition): leaf ``i`` is the ``i``-th record of that partition (in
offset order) that passed verification, and its leaf data is the record's 32-byte hash
``SHA-256(signature base || signature)`` — the same hash the next record of its chain
names in ``ce_prevhash``. Kafka sequences the partition; the log only commits to it, so
any auditor who reads the partition can recompute every root (docs/audit.md).

Storage keeps every *perfect* subtree hash ``(level, index)`` — about 2n rows — so the
hash of any range, and therefore any inclusion or consistency proof, costs O(log n) reads.
In memory only the compact range (≤ 64 hashes) of each log is held. The file is opened as
:mod:`bus.state.sqlite` says (``synchronous=FULL``: leaves a checkpoint was signed over
survive a power cut).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bus.errors import ProofError
from bus.state.sqlite import Folder, Layout, connect, write_transaction
from bus.tlog.checkpoint import Checkpoint
from bus.tlog.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
)

__all__ = ["MerkleLog", "log_origin"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (id INTEGER PRIMARY KEY, origin TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
    log INTEGER NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (log, level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS positions (
    log INTEGER PRIMARY KEY, next_offset INTEGER NOT NULL, published INTEGER NOT NULL DEFAULT 0);
"""
# The log keeper made its state folder private (bus.node.keeper); its logs share one file.
_LAYOUT = Layout(schema=_SCHEMA, folder=Folder.GIVEN)


def log_origin(topic: str, partition: int) -> str:
    """The checkpoint origin (and log key name) of one partition's log."""
    return f"silian/{topic}/{partition}"


class MerkleLog:
    """An append-only Merkle log stored in ``path`` (several origins may share one file)."""

    def __init__(self, path: Path, origin: str) -> None:
        self.origin = origin
        # One user at a time, but maybe from a worker thread (the keeper ingests off-loop).
        self._db = connect(path, _LAYOUT)
        self._db.execute("INSERT OR IGNORE INTO logs (origin) VALUES (?)", (origin,))
        row = self._db.execute("SELECT id FROM logs WHERE origin = ?", (origin,)).fetchone()
        self._id = int(row[0])
        self._compact = CompactRange()
        self._restore()

    @staticmethod
    def origins(path: Path) -> list[str]:
        """The origins of every log stored in ``path`` (none if the file does not exist)."""
        if not path.exists():
            return []
        db = connect(path, _LAYOUT)
        try:
            return [str(row[0]) for row in db.execute("SELECT origin FROM logs ORDER BY id")]
        finally:
            db.close()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> MerkleLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def size(self) -> int:
        return self._compact.size

    def _restore(self) -> None:
        """Rebuild the compact range from the stored perfect subtrees (O(log n) reads)."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM nodes WHERE log = ? AND level = 0", (self._id,)
        ).fetchone()
        size = int(row[0])
        start = 0
        for level in reversed(range(size.bit_length())):
            if size & (1 << level):
                node = self._node(level, start >> level)
                self._compact.restore_push(node, 1 << level)
                start += 1 << level

    def _node(self, level: int, index: int) -> bytes:
        row = self._db.execute(
            "SELECT hash FROM nodes WHERE log = ? AND level = ? AND idx = ?",
            (self._id, level, index),
        ).fetchone()
        if row is None:
            raise ProofError(f"{self.origin}: subtree ({level}, {index}) is not stored")
        return bytes(row[0])

    def _position(self) -> tuple[int, int]:
        row = self._db.execute(
            "SELECT next_offset, published FROM positions WHERE log = ?", (self._id,)
        ).fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    @property
    def next_offset(self) -> int:
        """The partition offset after the last record read into the log (0: none yet)."""
        return self._position()[0]

    @property
    def published_size(self) -> int:
        """The size of the last checkpoint the keeper published of this log (0: none)."""
        return self._position()[1]

    def mark_published(self, size: int) -> None:
        self._check_size(size)
        self._db.execute(
            "INSERT INTO positions (log, next_offset, published) VALUES (?, 0, ?) "
            "ON CONFLICT (log) DO UPDATE SET published = excluded.published",
            (self._id, size),
        )

    def append(self, record_hashes: Iterable[bytes], *, next_offset: int | None = None) -> int:
        """Append records (their 32-byte hashes) as leaves in one transaction; the new size.

        ``next_offset`` (the log keeper's reading position in the partition) is stored in
        the same transaction, so a restarted keeper neither skips nor repeats a record.
        """
        hashes = list(record_hashes)
        for record_hash in hashes:  # all checked before the in-memory range moves
            if len(record_hash) != HASH_SIZE:
                raise ProofError(f"a record hash is {HASH_SIZE} bytes, got {len(record_hash)}")
        try:
            rows: list[tuple[int, int, int, bytes]] = []
            for record_hash in hashes:
                index = self._compact.size
                node = leaf_hash(record_hash)
                rows.append((self._id, 0, index, node))
                for level, parent in self._compact.append_nodes(node):
                    rows.append((self._id, level, index >> level, parent))
            with write_transaction(self._db) as db:
                db.executemany("INSERT INTO nodes VALUES (?, ?, ?, ?)", rows)
                if next_offset is not None:
                    db.execute(
                        "INSERT INTO positions (log, next_offset) VALUES (?, ?) "
                        "ON CONFLICT (log) DO UPDATE SET next_offset = excluded.next_offset",
                        (self._id, next_offset),
                    )
        except BaseException:
            self._compact = CompactRange()  # the in-memory range ran ahead of the rollback
            self._restore()
            raise
        return self.size

    def _range_hash(self, start: int, end: int) -> bytes:
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            return self._node(n.bit_length() - 1, start // n)
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self._range_hash(start, start + k), self._range_hash(start + k, end))

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ProofError(f"{self.origin} has {self.size} leaves, not {size}")

    def root(self, size: int | None = None) -> bytes:
        """The root at ``size`` (default: now)."""
        if size is None or size == self.size:
            return self._compact.root()
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._range_hash(0, size)

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        size = self.size if size is None else size
        return Checkpoint(origin=self.origin, size=size, root=self.root(size))

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        if not 0 <= index < self.size:
            raise ProofError(f"{self.origin} has no leaf {index}")
        return self._node(0, index)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        self._check_size(size)
        return inclusion_proof(index, size, self._range_hash)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        size2 = self.size if size2 is None else size2
        self._check_size(size2)
        return consistency_proof(size1, size2, self._range_hash)
