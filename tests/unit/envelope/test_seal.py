"""Sealing a confidential value (docs/wire-format.md "Sealing"): what a recipient opens, what
nobody else does, and a sealed value read strictly, for a validly signed seal may still be
hostile. Every refusal is one of the pipeline's reasons."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agencies.errors import KeyStoreError
from agencies.keys import SealingKey
from bus.envelope.seal import open_sealed, recipients_of, seal
from bus.errors import RecordRejectedError
from bus.reasons import Reason

JS, PC, GF = "330881000000", "350722000000", "361103000000"
KEYS = {code: SealingKey.generate() for code in (JS, PC, GF)}
KID = {code: f"{code}:x25519:{i:016x}" for i, code in enumerate(KEYS)}
PLAIN = b'{"alert_id": "JS-ALERT-2024-0117"}'
BOUND = {"event_id": "01a215ef-3566-7daa-ad31-bd4dd4855fc4", "ce_type": "cn.silian.alert.issued.v1"}
TOPIC = "silian.jpg.alert.v1"


def _key_for(code: str) -> Callable[[str], SealingKey]:
    def find(kid: str) -> SealingKey:
        if kid != KID[code]:
            raise KeyStoreError(f"no private key {kid}")
        return KEYS[code]

    return find


def _seal(*codes: str, plaintext: bytes = PLAIN) -> bytes:
    recipients = {code: (KID[code], KEYS[code].public_key) for code in codes}
    return seal(plaintext, recipients, topic=TOPIC, **BOUND)


def _open(sealed: bytes, code: str, **binding: str) -> bytes:
    return open_sealed(
        sealed, agency=code, key_for=_key_for(code), **({"topic": TOPIC, **BOUND} | binding)
    )


def _refused(reason: Reason, sealed: bytes, code: str = PC, **binding: str) -> str:
    with pytest.raises(RecordRejectedError) as caught:
        _open(sealed, code, **binding)
    assert caught.value.reason is reason, caught.value
    return caught.value.detail


def test_every_recipient_opens_it_and_nobody_else() -> None:
    sealed = _seal(JS, PC)
    assert _open(sealed, JS) == _open(sealed, PC) == PLAIN
    assert _refused(Reason.SEALED_NOT_FOR_US, sealed, GF) == (
        f"sealed record is not addressed to agency {GF}"
    )
    assert recipients_of(sealed) == [JS, PC]


def test_the_sealed_value_is_the_documented_json() -> None:
    document = json.loads(_seal(PC, JS))
    assert set(document) == {"v", "alg", "nonce", "ciphertext", "recipients"}
    assert (document["v"], document["alg"]) == (1, "A256GCM")
    assert len(base64.b64decode(document["nonce"])) == 12
    # AES-GCM: the ciphertext is the plaintext's length and a 16-byte tag
    assert len(base64.b64decode(document["ciphertext"])) == len(PLAIN) + 16
    assert [r["agency"] for r in document["recipients"]] == [JS, PC]  # sorted by code
    assert [r["kid"] for r in document["recipients"]] == [KID[JS], KID[PC]]


def test_an_outside_tool_following_the_docs_opens_it() -> None:
    # HPKE (RFC 9180) unwraps the data key with info "silian-seal-v1"; AES-256-GCM opens the
    # value with associated data "silian-seal-v1\n<topic>\n<ce_type>\n<ce_id>\n"
    document = json.loads(_seal(PC))
    entry = document["recipients"][0]
    data_key = KEYS[PC].unseal(base64.b64decode(entry["enc"]), info=b"silian-seal-v1")
    assert len(data_key) == 32
    aad = f"silian-seal-v1\n{TOPIC}\n{BOUND['ce_type']}\n{BOUND['event_id']}\n".encode()
    plain = AESGCM(data_key).decrypt(
        base64.b64decode(document["nonce"]), base64.b64decode(document["ciphertext"]), aad
    )
    assert plain == PLAIN


def test_each_seal_has_its_own_data_key_and_nonce() -> None:
    one, two = json.loads(_seal(PC)), json.loads(_seal(PC))
    assert one["nonce"] != two["nonce"]
    assert one["ciphertext"] != two["ciphertext"]


def test_a_seal_needs_a_recipient() -> None:
    with pytest.raises(ValueError, match="at least one recipient"):
        seal(PLAIN, {}, topic=TOPIC, **BOUND)


@pytest.mark.parametrize(
    "binding",
    [
        {"event_id": "01a215ef-3566-7daa-ad31-bd4dd4855fc5"},
        {"ce_type": "cn.silian.alert.hit.v1"},
        {"topic": "silian.other.alert.v1"},
    ],
)
def test_a_seal_lifted_into_another_record_does_not_open(binding: dict[str, str]) -> None:
    detail = _refused(Reason.SEALED_NOT_FOR_US, _seal(PC), **binding)
    assert detail.startswith(f"sealed record does not open for agency {PC}")


def _bent(change: Callable[[dict[str, Any]], None], *codes: str) -> bytes:
    document = json.loads(_seal(*(codes or (PC,))))
    change(document)
    return json.dumps(document).encode()


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(ciphertext=_flip(d["ciphertext"])),
        lambda d: d.update(nonce=_flip(d["nonce"])),
        lambda d: d["recipients"][0].update(enc=_flip(d["recipients"][0]["enc"])),
        lambda d: d["recipients"][0].update(enc=base64.b64encode(b"short").decode()),
        lambda d: d["recipients"][0].update(kid="350722000000:x25519:ffffffffffffffff"),
        lambda d: d.update(nonce=base64.b64encode(b"").decode()),
    ],
    ids=["ciphertext", "nonce", "wrapped-key", "short-wrapped-key", "unknown-kid", "no-nonce"],
)
def test_a_seal_altered_anywhere_does_not_open(change: Callable[[dict[str, Any]], None]) -> None:
    detail = _refused(Reason.SEALED_NOT_FOR_US, _bent(change))
    assert detail.startswith(f"sealed record does not open for agency {PC}: ")


def test_a_key_wrapped_for_another_agency_does_not_open() -> None:
    # Pucheng's entry names Pucheng, but holds the data key wrapped for Guangfeng
    def swap(document: dict[str, Any]) -> None:
        entries = {r["agency"]: r for r in document["recipients"]}
        entries[PC]["enc"] = entries[GF]["enc"]

    _refused(Reason.SEALED_NOT_FOR_US, _bent(swap, PC, GF))


@pytest.mark.parametrize(
    ("value", "reason", "where"),
    [
        (b"", Reason.NOT_JSON, "sealed value is not JSON"),
        (b"{", Reason.NOT_JSON, "sealed value is not JSON"),
        (b"\xff", Reason.NOT_JSON, "sealed value is not JSON"),
        (b"[]", Reason.SCHEMA_INVALID, "(document)"),
        (b'"sealed"', Reason.SCHEMA_INVALID, "(document)"),
        (b"{}", Reason.SCHEMA_INVALID, "v:"),
    ],
)
def test_a_value_that_is_no_seal(value: bytes, reason: Reason, where: str) -> None:
    assert where in _refused(reason, value)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d.update(v=2), "v:"),
        (lambda d: d.update(v="1"), "v:"),  # strict: a string is not the number 1
        (lambda d: d.update(v=1.0), "v:"),  # nor a float (found by tests/fuzz) …
        (lambda d: d.update(v=True), "v:"),  # … nor true, though both equal 1
        (lambda d: d.update(alg="A128GCM"), "alg:"),
        (lambda d: d.update(extra=1), "extra:"),
        (lambda d: d.update(nonce="!!!!"), "nonce:"),
        (lambda d: d.update(nonce=12), "nonce:"),
        (lambda d: d.update(ciphertext=None), "ciphertext:"),
        (lambda d: d.update(recipients=[]), "recipients:"),
        (lambda d: d.update(recipients={}), "recipients:"),
        (lambda d: d.update(recipients=[1, 2]), "recipients.0:"),
        (lambda d: d["recipients"][0].pop("kid"), "recipients.0.kid:"),
        (lambda d: d["recipients"][0].update(agency=""), "recipients.0.agency:"),
        (lambda d: d["recipients"][0].update(agency=350722000000), "recipients.0.agency:"),
        (lambda d: d["recipients"][0].update(enc="A" * 4100), "recipients.0.enc:"),
        (lambda d: d["recipients"][0].update(more=True), "recipients.0.more:"),
        (lambda d: d.update(recipients=d["recipients"] * 1025), "recipients:"),
    ],
)
def test_a_seal_of_the_wrong_shape_or_types_is_schema_invalid(
    change: Callable[[dict[str, Any]], None], where: str
) -> None:
    detail = _refused(Reason.SCHEMA_INVALID, _bent(change))
    assert detail.startswith("sealed value is not a silian seal v1: ")
    assert where in detail
    with pytest.raises(RecordRejectedError):
        recipients_of(_bent(change))
