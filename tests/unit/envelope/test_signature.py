"""The signature base, signing and the record hash (docs/wire-format.md), and step 2 of the
pipeline: reading the signed headers out of whatever a record holds.

The known answer below is the documented base byte for byte, an RFC 8032 key (TEST 1)
signing it, and the SHA-256 of FIPS 180-2's "abc" as the value's digest: an outside tool
that follows docs/wire-format.md gets these same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agencies.keys import SigningKey
from bus.envelope.headers import SIGNATURE_HEADER, SIGNED_ATTRIBUTES, Attributes
from bus.envelope.signature import (
    DOMAIN_LINE,
    decode_headers,
    record_hash,
    sign_record,
    signature_base,
)
from bus.errors import RecordRejectedError
from bus.reasons import Reason

_RFC8032 = Path(__file__).parents[2] / "data" / "rfc8032" / "ed25519.json"
TEST_1 = json.loads(_RFC8032.read_text("utf-8"))["vectors"][0]
SECRET = bytes.fromhex(TEST_1["secret_key"])
PUBLIC = bytes.fromhex(TEST_1["public_key"])

ATTRIBUTES = Attributes(
    specversion="1.0",
    id="01a215ef-3566-7daa-ad31-bd4dd4855fc4",
    source="urn:silian:agency:330881000000",
    type="cn.silian.alert.issued.v1",
    time="2026-11-26T11:38:48.512+08:00",
    subject="JS-ALERT-2024-0117",
    content_type="application/json",
    dataschema="urn:silian:schema:alert.issued.v1",
    handling="H2/TLP:AMBER",
    priority="urgent",
    keyid="330881000000:ed25519:0123456789abcdef",
    chainid="330881000000.main.3f2a9c1d0b7e.p4",
    chainseq="7",
    prevhash="0" * 64,
)
TOPIC, KEY, VALUE = "silian.jpg.alert.v1", b"JS-ALERT-2024-0117", b"abc"

BASE = (
    b"silian-record-v1\n"
    b"topic=silian.jpg.alert.v1\n"
    b"key=4a532d414c4552542d323032342d30313137\n"
    b"ce_specversion=1.0\n"
    b"ce_id=01a215ef-3566-7daa-ad31-bd4dd4855fc4\n"
    b"ce_source=urn:silian:agency:330881000000\n"
    b"ce_type=cn.silian.alert.issued.v1\n"
    b"ce_time=2026-11-26T11:38:48.512+08:00\n"
    b"ce_subject=JS-ALERT-2024-0117\n"
    b"content-type=application/json\n"
    b"ce_dataschema=urn:silian:schema:alert.issued.v1\n"
    b"ce_handling=H2/TLP:AMBER\n"
    b"ce_priority=urgent\n"
    b"ce_keyid=330881000000:ed25519:0123456789abcdef\n"
    b"ce_chainid=330881000000.main.3f2a9c1d0b7e.p4\n"
    b"ce_chainseq=7\n"
    b"ce_prevhash=0000000000000000000000000000000000000000000000000000000000000000\n"
    # FIPS 180-2 B.1: SHA-256("abc")
    b"value-sha256=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
)
SIGNATURE = bytes.fromhex(
    "4da54af3988360112ffb69a40e269b2fef5e3c09aec64df5d2b232327a9d3bdf"
    "ac8cc9d3554732a19459d9fa17f561009892fa9a530e840e35d572f94e5a6d04"
)
RECORD_HASH = "ac214e6b9ac04cfc121f5c720a8fec876c2739eac63f50c907b98e46cb90eb7b"


def test_the_base_is_the_documented_one_byte_for_byte() -> None:
    assert DOMAIN_LINE == b"silian-record-v1\n"
    assert signature_base(topic=TOPIC, key=KEY, attributes=ATTRIBUTES, value=VALUE) == BASE


def test_the_signature_and_the_record_hash_are_known_answers() -> None:
    headers, digest = sign_record(
        topic=TOPIC,
        key=KEY,
        attributes=ATTRIBUTES,
        value=VALUE,
        signing_key=SigningKey.from_private_bytes(SECRET),
    )
    # Ed25519 is deterministic: the library's own signer gives the same bytes
    assert Ed25519PrivateKey.from_private_bytes(SECRET).sign(BASE) == SIGNATURE
    Ed25519PublicKey.from_public_bytes(PUBLIC).verify(SIGNATURE, BASE)
    assert headers[-1] == (SIGNATURE_HEADER, base64.b64encode(SIGNATURE))
    assert digest == RECORD_HASH == hashlib.sha256(BASE + SIGNATURE).hexdigest()
    assert record_hash(BASE, SIGNATURE) == RECORD_HASH


def test_sign_record_writes_every_signed_header_in_order_then_the_signature() -> None:
    headers, _ = sign_record(
        topic=TOPIC,
        key=KEY,
        attributes=ATTRIBUTES,
        value=VALUE,
        signing_key=SigningKey.generate(),
    )
    assert [name for name, _ in headers] == [*SIGNED_ATTRIBUTES, SIGNATURE_HEADER]
    assert [value.decode("ascii") for _, value in headers[:-1]] == list(ATTRIBUTES)


def test_record_hash_is_sha256_of_base_and_signature() -> None:
    assert record_hash(b"ab", b"c") == hashlib.sha256(b"abc").hexdigest()
    assert record_hash(b"", b"") == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # SHA-256("")
    )


def test_no_key_and_an_empty_key_sign_the_same_empty_line() -> None:
    empty = signature_base(topic=TOPIC, key=b"", attributes=ATTRIBUTES, value=VALUE)
    assert signature_base(topic=TOPIC, key=None, attributes=ATTRIBUTES, value=VALUE) == empty
    assert b"\nkey=\n" in empty


def test_every_part_signed_changes_the_base() -> None:
    bases = {
        signature_base(topic=TOPIC, key=KEY, attributes=ATTRIBUTES, value=VALUE),
        signature_base(topic=TOPIC + "x", key=KEY, attributes=ATTRIBUTES, value=VALUE),
        signature_base(topic=TOPIC, key=KEY + b"x", attributes=ATTRIBUTES, value=VALUE),
        signature_base(topic=TOPIC, key=KEY, attributes=ATTRIBUTES, value=VALUE + b" "),
    }
    for i in range(len(ATTRIBUTES)):
        bent = Attributes._make(v + "x" if j == i else v for j, v in enumerate(ATTRIBUTES))
        bases.add(signature_base(topic=TOPIC, key=KEY, attributes=bent, value=VALUE))
    assert len(bases) == 4 + len(ATTRIBUTES)


@pytest.mark.parametrize(
    ("topic", "attribute", "words"),
    [
        ("silian.jpg.é", "1.0", "the topic or a signed header is not ASCII"),
        (TOPIC, "1.0\u4e00", "the topic or a signed header is not ASCII"),
        (TOPIC, "1.0\nce_id=forged", "a signed header holds bytes outside printable ASCII"),
        (TOPIC, "1.0\r", "a signed header holds bytes outside printable ASCII"),
        (TOPIC, "1.0\x00", "a signed header holds bytes outside printable ASCII"),
        (TOPIC, "1.0\x7f", "a signed header holds bytes outside printable ASCII"),
        ("silian\njpg", "1.0", "a signed header holds bytes outside printable ASCII"),
    ],
)
def test_what_could_split_a_line_has_no_base(topic: str, attribute: str, words: str) -> None:
    with pytest.raises(RecordRejectedError) as caught:
        signature_base(
            topic=topic, key=KEY, attributes=ATTRIBUTES._replace(specversion=attribute), value=b""
        )
    assert (caught.value.reason, caught.value.detail) == (Reason.MALFORMED_HEADERS, words)


# -- step 2: the signed headers out of raw record headers ------------------------------------

HEADERS = [(n, v.encode("ascii")) for n, v in ATTRIBUTES.as_headers()] + [
    (SIGNATURE_HEADER, base64.b64encode(SIGNATURE))
]


def _malformed(headers: list[tuple[str, bytes | None]]) -> str:
    with pytest.raises(RecordRejectedError) as caught:
        decode_headers(headers)
    assert caught.value.reason is Reason.MALFORMED_HEADERS
    assert caught.value.signer is None
    return caught.value.detail


def _replaced(name: str, value: bytes | None) -> list[tuple[str, bytes | None]]:
    return [(n, value if n == name else v) for n, v in HEADERS]


def test_the_signed_headers_in_any_order_with_unsigned_ones_between() -> None:
    shuffled: list[tuple[str, bytes | None]] = list(HEADERS)
    random.Random(4).shuffle(shuffled)
    shuffled[3:3] = [("x-trace", b"\xff\x00"), ("x-null", None), ("\u00e9t\u00e9", b"")]
    attributes, signature = decode_headers(shuffled)
    assert attributes == ATTRIBUTES
    assert signature == SIGNATURE


@pytest.mark.parametrize("name", [*SIGNED_ATTRIBUTES, SIGNATURE_HEADER])
def test_each_missing_header_is_named(name: str) -> None:
    assert _malformed([h for h in HEADERS if h[0] != name]) == f"missing header {name}"


def test_several_missing_headers_are_named_in_order() -> None:
    kept = [h for h in HEADERS if h[0] not in ("ce_time", "ce_id", SIGNATURE_HEADER)]
    assert _malformed(kept) == "missing headers ce_id, ce_time, ce_signature"
    assert _malformed([]).startswith("missing headers ce_specversion, ce_id, ")


@pytest.mark.parametrize("name", ["ce_type", SIGNATURE_HEADER])
def test_a_header_twice_is_malformed_even_with_the_same_value(name: str) -> None:
    twice = [*HEADERS, next(h for h in HEADERS if h[0] == name)]
    assert _malformed(twice) == f"header {name} appears twice"


@pytest.mark.parametrize("name", ["ce_specversion", "ce_prevhash", SIGNATURE_HEADER])
def test_a_null_header_is_named(name: str) -> None:
    assert _malformed(_replaced(name, None)) == f"header {name} has a null value"


@pytest.mark.parametrize(
    "value", [b"", b"urgent\n", b"urgent\x00", b"\x7f", b"\xe7\xb4\xa7", b"\t", b"\xff"]
)
def test_a_signed_header_empty_or_not_printable_ascii_is_named(value: bytes) -> None:
    assert _malformed(_replaced("ce_priority", value)) == (
        "header ce_priority is empty or holds bytes outside printable ASCII"
    )


@pytest.mark.parametrize(
    ("signature", "words"),
    [
        (b"", "header ce_signature is empty or holds bytes outside printable ASCII"),
        (base64.b64encode(SIGNATURE) + b"\n", "is empty or holds bytes outside printable ASCII"),
        (b"!" * 88, "header ce_signature is not base64"),
        (base64.b64encode(SIGNATURE)[:-2], "header ce_signature is not base64"),  # no padding
        (base64.b64encode(SIGNATURE) + b"==", "header ce_signature is not base64"),
        (base64.urlsafe_b64encode(b"\xff" * 64), "header ce_signature is not base64"),
        (base64.b64encode(SIGNATURE[:63]), "holds 63 bytes, an Ed25519 signature has 64"),
        (base64.b64encode(SIGNATURE + b"\x00"), "holds 65 bytes, an Ed25519 signature has 64"),
        (base64.b64encode(b"\x00" * 1024), "holds 1024 bytes, an Ed25519 signature has 64"),
    ],
    ids=[
        "empty",
        "newline",
        "not-alphabet",
        "unpadded",
        "over-padded",
        "urlsafe",
        "63-bytes",
        "65-bytes",
        "1024-bytes",
    ],
)
def test_the_signature_is_standard_base64_of_64_bytes(signature: bytes, words: str) -> None:
    assert words in _malformed(_replaced(SIGNATURE_HEADER, signature))


def test_a_header_name_that_is_not_utf8_is_malformed() -> None:
    name = b"x-\xff".decode("utf-8", "surrogateescape")  # as a record is read off the wire
    assert _malformed([*HEADERS, (name, b"1")]).startswith("a header name is not UTF-8")
