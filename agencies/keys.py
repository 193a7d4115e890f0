"""Small key types around raw bytes, key ids, and public key records with their windows.

* :class:`SigningKey` / :class:`VerifyKey` — Ed25519 (RFC 8032), for signatures.
* :class:`SealingKey` / :class:`SealingPublicKey` — X25519, for HPKE sealing (RFC 9180).
* :func:`make_key_id` — ``<agency code>:<alg>:<first 16 hex of sha256(public raw bytes)>``.
* :class:`KeyRecord` — the public, signed-into-the-agreement description of one key.

Private key material never appears in a repr, an exception message or a log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Self

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from agencies.errors import (
    KeyFormatError,
    KeyStoreError,
    PassphraseError,
    VerificationError,
    VerificationKind,
)
from agencies.identity import AgencyCodeStr

__all__ = [
    "KeyAlg",
    "KeyRecord",
    "SealingKey",
    "SealingPublicKey",
    "SigningKey",
    "VerifyKey",
    "make_key_id",
    "newest_usable",
]

_KEY_LEN = 32
_SIGNATURE_LEN = 64
# HPKE suite of DESIGN.md "Sealing": DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM.
_HPKE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)


class KeyAlg(StrEnum):
    ED25519 = "ed25519"  # signing
    X25519 = "x25519"  # sealing


def _raw(value: object, *, what: str, length: int) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    data = bytes(value)
    if len(data) != length:
        raise KeyFormatError(f"{what} must be {length} bytes, got {len(data)}")
    return data


def make_key_id(agency_code: str, alg: KeyAlg, public_raw: bytes) -> str:
    """``330881000000:ed25519:1a2b3c4d5e6f7081`` — stable, public, derived from the key."""
    fingerprint = hashlib.sha256(public_raw).hexdigest()[:16]
    return f"{agency_code}:{KeyAlg(alg).value}:{fingerprint}"


class VerifyKey:
    """An Ed25519 public key."""

    __slots__ = ("_key", "_raw")

    def __init__(self, key: ed25519.Ed25519PublicKey) -> None:
        self._key = key
        self._raw = key.public_bytes_raw()

    @classmethod
    def from_public_bytes(cls, data: bytes) -> Self:
        """From the 32 raw bytes of RFC 8032; KeyFormatError on a wrong length, TypeError on str."""
        raw = _raw(data, what="Ed25519 public key", length=_KEY_LEN)
        return cls(ed25519.Ed25519PublicKey.from_public_bytes(raw))

    def public_bytes_raw(self) -> bytes:
        return self._raw

    def key_id(self, agency_code: str) -> str:
        return make_key_id(agency_code, KeyAlg.ED25519, self._raw)

    def verify(self, signature: bytes, message: bytes) -> None:
        """Return if ``signature`` is this key's over ``message``; else VerificationError."""
        if not isinstance(message, bytes | bytearray | memoryview):
            raise TypeError(f"message must be bytes, not {type(message).__name__}")
        try:
            sig = _raw(signature, what="Ed25519 signature", length=_SIGNATURE_LEN)
        except KeyFormatError as error:
            raise VerificationError(str(error), kind=VerificationKind.BAD_SIGNATURE) from None
        try:
            self._key.verify(sig, bytes(message))
        except InvalidSignature:
            raise VerificationError(
                f"Ed25519 signature does not verify with key sha256:{self.fingerprint}",
                kind=VerificationKind.BAD_SIGNATURE,
            ) from None

    @property
    def fingerprint(self) -> str:
        """First 16 hex of SHA-256 of the raw public key (the tail of the key id)."""
        return hashlib.sha256(self._raw).hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VerifyKey):
            return NotImplemented
        return hmac.compare_digest(self._raw, other._raw)

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"VerifyKey(sha256:{self.fingerprint})"


class SigningKey:
    """An Ed25519 private key. Its repr names only the public fingerprint."""

    __slots__ = ("_key",)

    def __init__(self, key: ed25519.Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> Self:
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, data: bytes) -> Self:
        """From the 32-byte RFC 8032 secret (seed)."""
        return cls(
            ed25519.Ed25519PrivateKey.from_private_bytes(
                _raw(data, what="Ed25519 private key", length=_KEY_LEN)
            )
        )

    @classmethod
    def from_pkcs8_pem(
        cls, data: bytes, passphrase: bytes | None = None, *, source: str = "key file"
    ) -> Self:
        key = _load_pem(data, passphrase, source)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise KeyStoreError(f"{source} does not hold an Ed25519 private key")
        return cls(key)

    def to_pkcs8_pem(self, passphrase: bytes | None = None) -> bytes:
        return _dump_pem(self._key, passphrase)

    def sign(self, message: bytes) -> bytes:
        if not isinstance(message, bytes | bytearray | memoryview):
            raise TypeError(f"message must be bytes, not {type(message).__name__}")
        return self._key.sign(bytes(message))

    @property
    def public_key(self) -> VerifyKey:
        return VerifyKey(self._key.public_key())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SigningKey):
            return NotImplemented
        return hmac.compare_digest(self._key.private_bytes_raw(), other._key.private_bytes_raw())

    __hash__ = None  # type: ignore[assignment]  # secrets are not dict keys

    def __repr__(self) -> str:
        return f"SigningKey(public sha256:{self.public_key.fingerprint})"


class SealingPublicKey:
    """An X25519 public key: anyone can seal a message that only its owner can open."""

    __slots__ = ("_key", "_raw")

    def __init__(self, key: x25519.X25519PublicKey) -> None:
        self._key = key
        self._raw = key.public_bytes_raw()

    @classmethod
    def from_public_bytes(cls, data: bytes) -> Self:
        raw = _raw(data, what="X25519 public key", length=_KEY_LEN)
        return cls(x25519.X25519PublicKey.from_public_bytes(raw))

    def public_bytes_raw(self) -> bytes:
        return self._raw

    def key_id(self, agency_code: str) -> str:
        return make_key_id(agency_code, KeyAlg.X25519, self._raw)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self._raw).hexdigest()[:16]

    def seal(self, plaintext: bytes, *, info: bytes = b"") -> bytes:
        """HPKE single-shot encryption (RFC 9180, base mode) to this key."""
        return _HPKE.encrypt(plaintext, self._key, info=info)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SealingPublicKey):
            return NotImplemented
        return hmac.compare_digest(self._raw, other._raw)

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"SealingPublicKey(sha256:{self.fingerprint})"


class SealingKey:
    """An X25519 private key. Its repr names only the public fingerprint."""

    __slots__ = ("_key",)

    def __init__(self, key: x25519.X25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> Self:
        return cls(x25519.X25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, data: bytes) -> Self:
        return cls(
            x25519.X25519PrivateKey.from_private_bytes(
                _raw(data, what="X25519 private key", length=_KEY_LEN)
            )
        )

    @classmethod
    def from_pkcs8_pem(
        cls, data: bytes, passphrase: bytes | None = None, *, source: str = "key file"
    ) -> Self:
        key = _load_pem(data, passphrase, source)
        if not isinstance(key, x25519.X25519PrivateKey):
            raise KeyStoreError(f"{source} does not hold an X25519 private key")
        return cls(key)

    def to_pkcs8_pem(self, passphrase: bytes | None = None) -> bytes:
        return _dump_pem(self._key, passphrase)

    @property
    def public_key(self) -> SealingPublicKey:
        return SealingPublicKey(self._key.public_key())

    def unseal(self, sealed: bytes, *, info: bytes = b"") -> bytes:
        """Open what :meth:`SealingPublicKey.seal` sealed; VerificationError if it fails."""
        try:
            return _HPKE.decrypt(sealed, self._key, info=info)
        except (InvalidTag, ValueError):
            raise VerificationError(
                f"sealed data does not open with key sha256:{self.public_key.fingerprint} "
                "(not sealed to this key, or altered)"
            ) from None

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SealingKey(public sha256:{self.public_key.fingerprint})"


def _dump_pem(
    key: ed25519.Ed25519PrivateKey | x25519.X25519PrivateKey, passphrase: bytes | None
) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _load_pem(data: bytes, passphrase: bytes | None, source: str) -> object:
    try:
        return serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError:
        if passphrase:
            raise KeyStoreError(f"{source} is not encrypted but a passphrase was given") from None
        raise PassphraseError(f"{source} is encrypted: a passphrase is needed") from None
    except (ValueError, UnsupportedAlgorithm):
        if passphrase and b"ENCRYPTED" in data[:64]:
            raise PassphraseError(f"wrong passphrase for {source}") from None
        raise KeyStoreError(f"{source} is not a PKCS8 PEM private key file") from None


class KeyRecord(BaseModel):
    """The public description of one key: who owns it, what it is, when it may be used.

    ``key_id`` is checked against the public key and the agency, so a record cannot claim
    another agency's key or a key it does not carry.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str = Field(pattern=r"^[0-9]{12}:(ed25519|x25519):[0-9a-f]{16}$")
    agency: AgencyCodeStr
    alg: KeyAlg
    public_key: str = Field(description="raw public key, standard base64 (32 bytes)")
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None
    revoked_at: AwareDatetime | None = None
    revocation_reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        try:
            raw = base64.b64decode(self.public_key, validate=True)
        except ValueError:
            raise ValueError(f"public_key of {self.key_id} is not base64") from None
        if len(raw) != _KEY_LEN:
            raise ValueError(f"public_key of {self.key_id} must be 32 bytes, got {len(raw)}")
        expected = make_key_id(self.agency, self.alg, raw)
        if not hmac.compare_digest(expected, self.key_id):
            raise ValueError(f"key_id {self.key_id} does not match its agency, alg and key")
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError(f"key {self.key_id}: valid_until is before valid_from")
        return self

    @classmethod
    def for_key(
        cls, agency_code: str, key: VerifyKey | SealingPublicKey, *, valid_from: datetime
    ) -> Self:
        alg = KeyAlg.ED25519 if isinstance(key, VerifyKey) else KeyAlg.X25519
        raw = key.public_bytes_raw()
        return cls(
            key_id=make_key_id(agency_code, alg, raw),
            agency=agency_code,
            alg=alg,
            public_key=base64.b64encode(raw).decode("ascii"),
            valid_from=valid_from,
        )

    def public_bytes_raw(self) -> bytes:
        return base64.b64decode(self.public_key)

    def verify_key(self) -> VerifyKey:
        if self.alg is not KeyAlg.ED25519:
            raise VerificationError(
                f"key {self.key_id} is a {self.alg} key, not a signing key",
                kind=VerificationKind.WRONG_KEY_KIND,
            )
        return VerifyKey.from_public_bytes(self.public_bytes_raw())

    def sealing_key(self) -> SealingPublicKey:
        if self.alg is not KeyAlg.X25519:
            raise VerificationError(
                f"key {self.key_id} is a {self.alg} key, not a sealing key",
                kind=VerificationKind.WRONG_KEY_KIND,
            )
        return SealingPublicKey.from_public_bytes(self.public_bytes_raw())

    def usable_at(self, at: datetime) -> None:
        """Return if the key may be used at ``at``; else VerificationError saying why.

        The window is half-open: ``valid_from <= at < valid_until``; a key revoked at R
        fails for every ``at >= R``.
        """
        if at.tzinfo is None:
            raise VerificationError(f"time {at.isoformat()} has no timezone")
        if self.revoked_at is not None and at >= self.revoked_at:
            reason = f" ({self.revocation_reason})" if self.revocation_reason else ""
            raise VerificationError(
                f"key {self.key_id} revoked at {self.revoked_at.isoformat()}{reason}; "
                f"used at {at.isoformat()}",
                kind=VerificationKind.KEY_REVOKED,
            )
        if at < self.valid_from:
            raise VerificationError(
                f"key {self.key_id} not yet valid at {at.isoformat()} "
                f"(valid from {self.valid_from.isoformat()})",
                kind=VerificationKind.KEY_OUT_OF_WINDOW,
            )
        if self.valid_until is not None and at >= self.valid_until:
            raise VerificationError(
                f"key {self.key_id} expired at {self.valid_until.isoformat()}; "
                f"used at {at.isoformat()}",
                kind=VerificationKind.KEY_OUT_OF_WINDOW,
            )


def newest_usable(records: Iterable[KeyRecord], alg: KeyAlg, at: datetime) -> KeyRecord | None:
    """The newest record of ``alg`` usable at ``at`` (in its window, not revoked), if any."""
    usable = []
    for record in records:
        if record.alg is not alg:
            continue
        try:
            record.usable_at(at)
        except VerificationError:
            continue
        usable.append(record)
    return max(usable, key=lambda r: r.valid_from) if usable else None
