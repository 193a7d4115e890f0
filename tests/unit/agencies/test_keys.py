from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agencies import (
    KeyAlg,
    KeyFormatError,
    KeyRecord,
    SealingKey,
    SealingPublicKey,
    SigningKey,
    VerificationError,
    VerifyKey,
    make_key_id,
)

from .conftest import T0

_DATA = Path(__file__).parents[2] / "data" / "rfc8032" / "ed25519.json"
VECTORS: list[dict[str, Any]] = json.loads(_DATA.read_text("utf-8"))["vectors"]


def test_all_rfc8032_section_7_1_vectors_are_present():
    assert [v["name"] for v in VECTORS] == [
        "TEST 1", "TEST 2", "TEST 3", "TEST 1024", "TEST SHA(abc)"
    ]  # fmt: skip
    assert len(bytes.fromhex(VECTORS[3]["message"])) == 1023


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_rfc8032_known_answers(vector: dict[str, Any]):
    secret, public = bytes.fromhex(vector["secret_key"]), bytes.fromhex(vector["public_key"])
    message, expected = bytes.fromhex(vector["message"]), bytes.fromhex(vector["signature"])
    key = SigningKey.from_private_bytes(secret)
    assert key.public_key.public_bytes_raw() == public
    assert key.sign(message) == expected
    verify_key = VerifyKey.from_public_bytes(public)
    assert verify_key.verify(expected, message) is None
    assert verify_key == key.public_key


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_rfc8032_altered_message_or_signature_fails(vector: dict[str, Any]):
    verify_key = VerifyKey.from_public_bytes(bytes.fromhex(vector["public_key"]))
    message, signature = bytes.fromhex(vector["message"]), bytes.fromhex(vector["signature"])
    with pytest.raises(VerificationError, match="does not verify"):
        verify_key.verify(signature, message + b"\x00")
    bad = bytearray(signature)
    bad[0] ^= 1
    with pytest.raises(VerificationError, match="does not verify"):
        verify_key.verify(bytes(bad), message)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_wrong_length_keys_are_refused(length: int):
    with pytest.raises(KeyFormatError, match=f"32 bytes, got {length}"):
        VerifyKey.from_public_bytes(b"\x01" * length)
    with pytest.raises(KeyFormatError, match=f"32 bytes, got {length}"):
        SigningKey.from_private_bytes(b"\x01" * length)
    with pytest.raises(KeyFormatError, match=f"32 bytes, got {length}"):
        SealingPublicKey.from_public_bytes(b"\x01" * length)
    with pytest.raises(KeyFormatError):
        SealingKey.from_private_bytes(b"\x01" * length)


@pytest.mark.parametrize("length", [0, 63, 65])
def test_wrong_length_signature_is_a_verification_failure(length: int):
    key = SigningKey.generate()
    with pytest.raises(VerificationError, match=f"64 bytes, got {length}"):
        key.public_key.verify(b"\x00" * length, b"m")


def test_wrong_types_are_type_errors():
    public = VECTORS[0]["public_key"]
    with pytest.raises(TypeError, match="must be bytes, not str"):
        VerifyKey.from_public_bytes(public)  # type: ignore[arg-type]
    key = SigningKey.generate()
    with pytest.raises(TypeError, match="message must be bytes"):
        key.sign("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="message must be bytes"):
        key.public_key.verify(b"\x00" * 64, "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        key.public_key.verify("sig", b"m")  # type: ignore[arg-type]


def test_reprs_never_show_private_material():
    secret = bytes.fromhex(VECTORS[0]["secret_key"])
    signing, sealing = SigningKey.from_private_bytes(secret), SealingKey.from_private_bytes(secret)
    for text in (repr(signing), str(signing), repr(sealing), str(sealing)):
        assert secret.hex() not in text
        assert base64.b64encode(secret).decode() not in text
        assert "sha256:" in text
    with pytest.raises(TypeError):
        hash(signing)


def test_key_id_is_agency_alg_and_fingerprint():
    key = SigningKey.from_private_bytes(bytes.fromhex(VECTORS[0]["secret_key"]))
    key_id = key.public_key.key_id("330881000000")
    assert key_id == make_key_id("330881000000", KeyAlg.ED25519, key.public_key.public_bytes_raw())
    agency, alg, fingerprint = key_id.split(":")
    assert (agency, alg, len(fingerprint)) == ("330881000000", "ed25519", 16)
    assert fingerprint == "21fe31dfa154a261"  # sha256(d75a98...) of RFC 8032 TEST 1


def test_sealing_round_trip_and_wrong_key():
    key, other = SealingKey.generate(), SealingKey.generate()
    sealed = key.public_key.seal(b"secret alert", info=b"ctx")
    assert b"secret alert" not in sealed
    assert key.unseal(sealed, info=b"ctx") == b"secret alert"
    with pytest.raises(VerificationError, match="does not open"):
        other.unseal(sealed, info=b"ctx")
    with pytest.raises(VerificationError, match="does not open"):
        key.unseal(sealed, info=b"other")


def _record() -> KeyRecord:
    return KeyRecord.for_key("330881000000", SigningKey.generate().public_key, valid_from=T0)


def test_key_record_window_and_revocation_reasons():
    record = _record()
    assert record.usable_at(T0) is None
    with pytest.raises(VerificationError, match="not yet valid"):
        record.usable_at(T0 - timedelta(seconds=1))
    ended = record.model_copy(update={"valid_until": T0 + timedelta(days=1)})
    assert ended.usable_at(T0 + timedelta(hours=23)) is None
    with pytest.raises(VerificationError, match="expired"):
        ended.usable_at(T0 + timedelta(days=1))
    revoked = record.model_copy(
        update={"revoked_at": T0 + timedelta(hours=1), "revocation_reason": "laptop lost"}
    )
    assert revoked.usable_at(T0 + timedelta(minutes=59)) is None
    with pytest.raises(VerificationError, match=r"revoked at .*laptop lost"):
        revoked.usable_at(T0 + timedelta(hours=2))


def test_key_record_refuses_a_key_id_that_is_not_its_own():
    record = _record().model_dump()
    other = SigningKey.generate().public_key.public_bytes_raw()
    with pytest.raises(ValidationError, match="does not match"):
        KeyRecord.model_validate({**record, "public_key": base64.b64encode(other).decode()})
    with pytest.raises(ValidationError, match="does not match"):
        KeyRecord.model_validate({**record, "agency": "350722000000"})


def test_key_record_alg_is_enforced():
    sealing = KeyRecord.for_key("330881000000", SealingKey.generate().public_key, valid_from=T0)
    with pytest.raises(VerificationError, match="not a signing key"):
        sealing.verify_key()
    with pytest.raises(VerificationError, match="not a sealing key"):
        _record().sealing_key()
