"""An outside auditor's verifier, written from the specs alone: it imports nothing of silian
(only ``hashlib``, ``base64``, ``struct`` and ``cryptography``; a test checks that).

* RFC 6962 §2.1 hashing (leaf ``SHA-256(0x00 || d)``, node ``SHA-256(0x01 || l || r)``);
  inclusion and consistency verification as RFC 9162 §2.1.3.2 and §2.1.4.2 give them;
* C2SP signed-note: text, a blank line, lines ``— <name> base64(key ID || signature)``;
  Ed25519 key ID ``SHA-256(name || 0x0A || 0x01 || key)[:4]``, signed over the text;
* C2SP tlog-cosignature ``cosignature/v1``: key ID with type byte 0x04, signature
  ``u64 timestamp || Ed25519("cosignature/v1\\ntime <t>\\n" || body)``;
* C2SP tlog-proof: ``c2sp.org/tlog-proof@v1``, optional ``extra``, ``index N``, the hashes,
  a blank line, the checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DASH = "\u2014 "


class InvalidError(Exception):
    """The proof or a signature does not verify."""


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf_hash: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        raise InvalidError("index outside the tree")
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            raise InvalidError("path too long")
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InvalidError("path too short")
    return r


def check_consistency(  # noqa: PLR0912 - RFC 9162 §2.1.4.2, step by step
    size1: int, size2: int, root1: bytes, root2: bytes, path: list[bytes]
) -> None:
    """RFC 9162 §2.1.4.2 (with the trivial cases: equal sizes, the empty tree)."""
    if size1 > size2:
        raise InvalidError("the old tree is larger")
    if size1 == size2:
        if path or root1 != root2:
            raise InvalidError("equal sizes need equal roots and no path")
        return
    if size1 == 0:
        if path:
            raise InvalidError("from the empty tree the path is empty")
        return
    if not path:
        raise InvalidError("empty path")
    if size1 & (size1 - 1) == 0:
        path = [root1, *path]
    fn, sn = size1 - 1, size2 - 1
    while fn % 2 == 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidError("path too long")
        if fn % 2 == 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != root1 or sr != root2:
        raise InvalidError("the path does not lead to both roots")


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(text, [(key name, key ID || signature)]) of a signed note."""
    text, sep, lines = note.rpartition("\n\n")
    if not sep or not lines.endswith("\n"):
        raise InvalidError("not a signed note")
    signatures = []
    for line in lines[:-1].split("\n"):
        if not line.startswith(DASH):
            raise InvalidError(f"not a signature line: {line!r}")
        name, _, b64 = line[len(DASH) :].rpartition(" ")
        signatures.append((name, base64.b64decode(b64, validate=True)))
    return text + "\n", signatures


def key_id(name: str, kind: bytes, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + kind + public).digest()[:4]


def checkpoint(
    note: str, *, log_key: bytes, witnesses: dict[str, bytes], quorum: int
) -> tuple[str, int, bytes, list[str]]:
    """Verify a checkpoint note: the log's signature (key name = origin) and at least
    ``quorum`` of ``witnesses`` (name -> raw Ed25519 key) cosigning it. Returns (origin,
    size, root, the witnesses whose cosignature verified)."""
    text, signatures = split_note(note)
    origin, size, root_b64 = text.split("\n")[:3]
    log_id = key_id(origin, b"\x01", log_key)
    logged = False
    for name, raw in signatures:
        if name == origin and raw[:4] == log_id:
            try:
                Ed25519PublicKey.from_public_bytes(log_key).verify(raw[4:], text.encode())
            except InvalidSignature:
                raise InvalidError("the log's signature does not verify") from None
            logged = True
    if not logged:
        raise InvalidError("no signature of the log")
    cosigned = []
    for witness, public in witnesses.items():
        wanted = key_id(witness, b"\x04", public)
        for name, raw in signatures:
            if name == witness and raw[:4] == wanted:
                (timestamp,) = struct.unpack(">Q", raw[4:12])
                message = f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()
                try:
                    Ed25519PublicKey.from_public_bytes(public).verify(raw[12:], message)
                except InvalidSignature:
                    raise InvalidError(f"the cosignature of {witness} does not verify") from None
                cosigned.append(witness)
    if len(cosigned) < quorum:
        raise InvalidError(f"{len(cosigned)} cosignatures, {quorum} needed")
    return origin, int(size), base64.b64decode(root_b64, validate=True), cosigned


def _proof_parts(proof: str, first: str) -> tuple[list[str], list[bytes], str]:
    """(the lines before the hashes, the hashes, the checkpoint note) of a proof text."""
    head, sep, note = proof.partition("\n\n")
    if not sep:
        raise InvalidError("no blank line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != first:
        raise InvalidError(f"not {first}")
    fields = [line for line in lines[1:] if " " in line]
    hashes = [base64.b64decode(line, validate=True) for line in lines[1:] if " " not in line]
    if any(len(h) != 32 for h in hashes):
        raise InvalidError("a hash is not 32 bytes")
    return fields, hashes, note


def tlog_proof(
    proof: str, record_hash: bytes, *, log_key: bytes, witnesses: dict[str, bytes], quorum: int
) -> tuple[str, int, int]:
    """Verify a C2SP tlog-proof of the record whose hash is ``record_hash`` (the leaf
    data). Returns (origin, index, tree size)."""
    fields, hashes, note = _proof_parts(proof, "c2sp.org/tlog-proof@v1")
    values = dict(f.split(" ", 1) for f in fields)
    if "extra" in values and base64.b64decode(values["extra"]) != record_hash:
        raise InvalidError("the extra data names another record hash")
    index = int(values["index"])
    origin, size, root, _ = checkpoint(note, log_key=log_key, witnesses=witnesses, quorum=quorum)
    if root_from_inclusion(index, size, leaf(record_hash), hashes) != root:
        raise InvalidError("the inclusion proof does not lead to the checkpoint's root")
    return origin, index, size


def consistency_proof(
    proof: str, old_root: bytes, *, log_key: bytes, witnesses: dict[str, bytes], quorum: int
) -> tuple[str, int, int]:
    """Verify a silian/tlog-consistency@v1 proof from a tree the auditor holds (its root
    ``old_root``) to the cosigned checkpoint it carries. Returns (origin, old, new size)."""
    fields, hashes, note = _proof_parts(proof, "silian/tlog-consistency@v1")
    (old,) = [f for f in fields if f.startswith("old ")]
    _, old_size, given_root = old.split(" ")
    if base64.b64decode(given_root) != old_root:
        raise InvalidError("the proof starts from another root than the one held")
    origin, size, root, _ = checkpoint(note, log_key=log_key, witnesses=witnesses, quorum=quorum)
    check_consistency(int(old_size), size, old_root, root, hashes)
    return origin, int(old_size), size
