"""Sealing a confidential record's value (DESIGN.md "Sealing").

The event JSON is encrypted once with a random 256-bit data key (AES-256-GCM); the data key
is wrapped for each recipient agency with HPKE (RFC 9180, DHKEM-X25519/HKDF-SHA256/
AES-128-GCM, base mode). The sealed value is itself JSON::

    {"v": 1, "alg": "A256GCM", "nonce": b64, "ciphertext": b64,
     "recipients": [{"agency": code, "kid": key id, "enc": b64(HPKE sealed data key)}]}

The AES-GCM associated data binds the ciphertext to its record (``ce_id``, ``ce_type``,
topic), so it cannot be lifted into another record. The signature covers the sealed bytes:
anyone can check origin and integrity, only recipients can read.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from typing import Annotated, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError

from agencies.keys import SealingKey, SealingPublicKey
from bus.errors import RecordRejectedError
from bus.reasons import Reason
from contracts.errors import SilianError

__all__ = ["Recipient", "open_sealed", "recipients_of", "seal"]

_INFO = b"silian-seal-v1"

Recipient = tuple[str, SealingPublicKey]  # (key id, public sealing key)


def _aad(*, event_id: str, ce_type: str, topic: str) -> bytes:
    return f"silian-seal-v1\n{topic}\n{ce_type}\n{event_id}\n".encode("ascii")


def seal(
    plaintext: bytes,
    recipients: Mapping[str, Recipient],
    *,
    event_id: str,
    ce_type: str,
    topic: str,
) -> bytes:
    """Encrypt ``plaintext`` for every agency in ``recipients`` (code → key id, key)."""
    if not recipients:
        raise ValueError("a sealed record needs at least one recipient")
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    ciphertext = AESGCM(data_key).encrypt(
        nonce, plaintext, _aad(event_id=event_id, ce_type=ce_type, topic=topic)
    )
    wrapped = [
        {
            "agency": code,
            "kid": kid,
            "enc": base64.b64encode(key.seal(data_key, info=_INFO)).decode("ascii"),
        }
        for code, (kid, key) in sorted(recipients.items())
    ]
    document = {
        "v": 1,
        "alg": "A256GCM",
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
        "recipients": wrapped,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("ascii")


_B64 = Annotated[str, StringConstraints(max_length=1 << 20, pattern=r"^[A-Za-z0-9+/]*={0,2}$")]
_SHORT = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _Wrapped(BaseModel):
    """One recipient's entry: the data key wrapped with HPKE for its sealing key."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    agency: _SHORT
    kid: _SHORT
    enc: Annotated[str, StringConstraints(max_length=4096, pattern=r"^[A-Za-z0-9+/]*={0,2}$")]


class _Sealed(BaseModel):
    """The sealed value, read strictly: a validly signed seal may still be hostile."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    # The integer 1: Literal[1] would also take 1.0 and true (they compare equal).
    v: Annotated[StrictInt, Field(ge=1, le=1)]
    alg: Literal["A256GCM"]
    nonce: _B64
    ciphertext: _B64
    recipients: list[_Wrapped] = Field(min_length=1, max_length=1024)


def recipients_of(sealed: bytes) -> list[str]:
    """Agency codes a sealed value is addressed to (from a verified record only)."""
    return [r.agency for r in _parse(sealed).recipients]


def open_sealed(
    sealed: bytes,
    *,
    agency: str,
    key_for: Callable[[str], SealingKey],
    event_id: str,
    ce_type: str,
    topic: str,
) -> bytes:
    """The plaintext, if ``agency`` is a recipient and ``key`` opens it."""
    document = _parse(sealed)
    entry = next((r for r in document.recipients if r.agency == agency), None)
    if entry is None:
        raise RecordRejectedError(
            Reason.SEALED_NOT_FOR_US, f"sealed record is not addressed to agency {agency}"
        )
    try:
        key = key_for(entry.kid)
        data_key = key.unseal(base64.b64decode(entry.enc, validate=True), info=_INFO)
        return AESGCM(data_key).decrypt(
            base64.b64decode(document.nonce, validate=True),
            base64.b64decode(document.ciphertext, validate=True),
            _aad(event_id=event_id, ce_type=ce_type, topic=topic),
        )
    except (SilianError, InvalidTag, ValueError) as error:
        raise RecordRejectedError(
            Reason.SEALED_NOT_FOR_US, f"sealed record does not open for agency {agency}: {error}"
        ) from None


def _parse(sealed: bytes) -> _Sealed:
    try:
        return _Sealed.model_validate_json(sealed)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise RecordRejectedError(Reason.NOT_JSON, "sealed value is not JSON") from None
        where = ".".join(str(part) for part in first["loc"]) or "(document)"
        raise RecordRejectedError(
            Reason.SCHEMA_INVALID,
            f"sealed value is not a silian seal v1: {where}: {first['msg']}",
        ) from None
