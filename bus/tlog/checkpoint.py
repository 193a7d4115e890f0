"""C2SP signed notes, tlog-checkpoints and tlog-cosignatures (Ed25519 only).

* signed-note (c2sp.org/signed-note): text ending in ``\\n``, a blank line, then lines
  ``— <key name> base64(key ID || signature)``; the key ID of an Ed25519 note key is
  ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``;
* tlog-checkpoint (c2sp.org/tlog-checkpoint): the note text is ``origin\\nsize\\nbase64(root)\\n``
  and the log's key name is the origin;
* tlog-cosignature (c2sp.org/tlog-cosignature), Ed25519 ``cosignature/v1``: key ID with type
  byte ``0x04``; the signature is ``u64 timestamp || Ed25519(cosignature/v1\\ntime <t>\\n<body>)``.

Silian's keys: a log or a witness signs with its agency's Ed25519 signing key declared in
the agreement, so that every auditor already has the public keys (docs/audit.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from agencies.errors import VerificationError
from agencies.keys import SigningKey, VerifyKey
from bus.errors import CheckpointError
from bus.tlog.merkle import HASH_SIZE

__all__ = [
    "Checkpoint",
    "Cosignature",
    "CosignatureVerifier",
    "Cosigner",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "SignedNote",
    "cosignature_key_id",
    "note_key_id",
    "open_checkpoint",
]

_DASH = "\u2014 "
_TYPE_ED25519 = b"\x01"
_TYPE_COSIGNATURE = b"\x04"
_MAX_SIGNATURES = 64


def _check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise CheckpointError(f"bad key name {name!r}: non-empty, no spaces, no '+'")
    return name


def note_key_id(name: str, public_key: VerifyKey) -> bytes:
    """``SHA-256(name || 0x0A || 0x01 || public key)[:4]``."""
    data = _check_name(name).encode() + b"\n" + _TYPE_ED25519 + public_key.public_bytes_raw()
    return hashlib.sha256(data).digest()[:4]


def cosignature_key_id(name: str, public_key: VerifyKey) -> bytes:
    """``SHA-256(name || 0x0A || 0x04 || public key)[:4]``."""
    data = _check_name(name).encode() + b"\n" + _TYPE_COSIGNATURE + public_key.public_bytes_raw()
    return hashlib.sha256(data).digest()[:4]


@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{_DASH}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


@dataclass(frozen=True, slots=True)
class SignedNote:
    """A note's text (ending in a newline) and its signature lines, not yet verified."""

    text: str
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def parse(cls, data: bytes) -> SignedNote:
        try:
            whole = data.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("a signed note must be UTF-8") from None
        if any(ord(c) < 0x20 and c != "\n" for c in whole):
            raise CheckpointError("a signed note must not hold control characters")
        text, sep, sigs = whole.rpartition("\n\n")
        if not sep or not sigs.endswith("\n"):
            raise CheckpointError("not a signed note: no blank line before signature lines")
        signatures = []
        for line in sigs[:-1].split("\n"):
            if not line.startswith(_DASH):
                raise CheckpointError(f"bad signature line {line[:40]!r}")
            name, _, encoded = line[len(_DASH) :].rpartition(" ")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise CheckpointError(f"signature of {name} is not base64") from None
            if len(raw) < 5:
                raise CheckpointError(f"signature of {name} is too short")
            signatures.append(NoteSignature(_check_name(name), raw[:4], raw[4:]))
        if len(signatures) > _MAX_SIGNATURES:
            raise CheckpointError(f"a note with {len(signatures)} signatures is refused")
        return cls(text=text + "\n", signatures=tuple(signatures))

    def to_bytes(self) -> bytes:
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode()

    def with_signature(self, signature: NoteSignature) -> SignedNote:
        kept = [
            s for s in self.signatures if (s.name, s.key_id) != (signature.name, signature.key_id)
        ]
        return SignedNote(text=self.text, signatures=(*kept, signature))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The tree head of one log at one size (tlog-checkpoint body)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError("a checkpoint origin is one non-empty line")
        if self.size < 0:
            raise CheckpointError(f"tree size {self.size} is negative")
        if len(self.root) != HASH_SIZE:
            raise CheckpointError(f"root must be {HASH_SIZE} bytes, got {len(self.root)}")

    def body(self) -> str:
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse_body(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise CheckpointError("a checkpoint body is at least three non-empty lines")
        origin, size_text, root_text, *extensions = lines[:-1]
        if (
            not (size_text.isascii() and size_text.isdigit())
            or (size_text.startswith("0") and size_text != "0")
            or len(size_text) > 19
            or int(size_text) >= 2**63
        ):
            raise CheckpointError(
                f"tree size {size_text[:40]!r} is not a decimal below 2^63 without zeroes ahead"
            )
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error:
            raise CheckpointError("root hash line is not base64") from None
        return cls(origin=origin, size=int(size_text), root=root, extensions=tuple(extensions))

    def describe(self) -> str:
        return f"{self.origin} @ {self.size} root {self.root.hex()[:16]}…"


class NoteSigner:
    """Signs note text with an Ed25519 key under a key name (type 0x01)."""

    def __init__(self, name: str, key: SigningKey) -> None:
        self.name = _check_name(name)
        self._key = key
        self.key_id = note_key_id(name, key.public_key)

    def sign(self, text: str) -> NoteSignature:
        return NoteSignature(self.name, self.key_id, self._key.sign(text.encode()))

    def sign_checkpoint(self, checkpoint: Checkpoint) -> SignedNote:
        if checkpoint.origin != self.name:
            raise CheckpointError(f"the log key {self.name} does not sign {checkpoint.origin}")
        body = checkpoint.body()
        return SignedNote(text=body, signatures=(self.sign(body),))


class NoteVerifier:
    """Verifies one key's note signatures (type 0x01)."""

    def __init__(self, name: str, key: VerifyKey) -> None:
        self.name = _check_name(name)
        self.key = key
        self.key_id = note_key_id(name, key)

    def vkey(self) -> str:
        """The C2SP verifier key string ``<name>+<hex key ID>+<base64(0x01 || key)>``."""
        raw = base64.b64encode(_TYPE_ED25519 + self.key.public_bytes_raw()).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"

    def matches(self, signature: NoteSignature) -> bool:
        return signature.name == self.name and signature.key_id == self.key_id

    def verify(self, note: SignedNote) -> NoteSignature:
        """The verified signature of this key; CheckpointError if absent or failing."""
        for signature in note.signatures:
            if self.matches(signature):
                try:
                    self.key.verify(signature.signature, note.text.encode())
                except VerificationError:
                    raise CheckpointError(
                        f"the signature of {self.name} on this note does not verify"
                    ) from None
                return signature
        raise CheckpointError(f"the note carries no signature of {self.name}")


@dataclass(frozen=True, slots=True)
class Cosignature:
    name: str
    timestamp: int


def _cosigned_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


class Cosigner:
    """A witness's key: timestamped Ed25519 cosignatures (type 0x04)."""

    def __init__(self, name: str, key: SigningKey) -> None:
        self.name = _check_name(name)
        self._key = key
        self.key_id = cosignature_key_id(name, key.public_key)

    def cosign(self, checkpoint: Checkpoint, *, timestamp: int) -> NoteSignature:
        if not 0 <= timestamp < 2**63:
            raise CheckpointError(f"cosignature timestamp {timestamp} out of range")
        signature = self._key.sign(_cosigned_message(checkpoint.body(), timestamp))
        return NoteSignature(self.name, self.key_id, struct.pack(">Q", timestamp) + signature)


class CosignatureVerifier:
    """Verifies one witness's cosignatures."""

    def __init__(self, name: str, key: VerifyKey) -> None:
        self.name = _check_name(name)
        self.key = key
        self.key_id = cosignature_key_id(name, key)

    def find(self, note: SignedNote) -> Cosignature | None:
        """This witness's verified cosignature on ``note``, None if it has none.

        A cosignature of this key that does not verify raises CheckpointError.
        """
        for signature in note.signatures:
            if signature.name != self.name or signature.key_id != self.key_id:
                continue
            if len(signature.signature) != 8 + 64:
                raise CheckpointError(f"cosignature of {self.name} has the wrong length")
            (timestamp,) = struct.unpack(">Q", signature.signature[:8])
            try:
                self.key.verify(signature.signature[8:], _cosigned_message(note.text, timestamp))
            except VerificationError:
                raise CheckpointError(f"the cosignature of {self.name} does not verify") from None
            return Cosignature(self.name, timestamp)
        return None


def open_checkpoint(data: bytes, log_keys: Iterable[VerifyKey]) -> tuple[Checkpoint, SignedNote]:
    """Parse a checkpoint note and verify the log's signature (key name = origin).

    Any of ``log_keys`` may have signed it (key rotation); signatures of unknown keys are
    ignored, as the note spec says. Returns the checkpoint and the parsed note.
    """
    note = SignedNote.parse(data)
    checkpoint = Checkpoint.parse_body(note.text)
    errors = []
    for key in log_keys:
        verifier = NoteVerifier(checkpoint.origin, key)
        if not any(verifier.matches(s) for s in note.signatures):
            continue
        try:
            verifier.verify(note)
        except CheckpointError as error:
            errors.append(str(error))
            continue
        return checkpoint, note
    if errors:
        raise CheckpointError("; ".join(errors))
    raise CheckpointError(f"checkpoint of {checkpoint.origin} is not signed by the log's key")
