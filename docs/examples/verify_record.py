"""Verify one silian record with nothing but the issuer's Ed25519 public key.

Standalone on purpose: standard library + ``cryptography``, no silian import. Input is a
JSON document describing the record as Kafka delivered it::

    {"topic": "...", "key_hex": "...", "value_b64": "...",
     "headers": [["ce_id", "<utf-8 text>"], ...],
     "public_key_b64": "<32-byte raw Ed25519 public key>"}

Prints the record hash on success and exits 0; prints why and exits 1 otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SIGNED = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "ce_subject",
    "content-type",
    "ce_dataschema",
    "ce_handling",
    "ce_priority",
    "ce_keyid",
    "ce_chainid",
    "ce_chainseq",
    "ce_prevhash",
)


def signature_base(topic: str, key: bytes, headers: dict[str, str], value: bytes) -> bytes:
    lines = [
        b"silian-record-v1\n",
        f"topic={topic}\n".encode("ascii"),
        b"key=" + key.hex().encode("ascii") + b"\n",
    ]
    lines += [f"{name}={headers[name]}\n".encode("ascii") for name in SIGNED]
    lines.append(b"value-sha256=" + hashlib.sha256(value).hexdigest().encode("ascii") + b"\n")
    return b"".join(lines)


def main() -> int:
    doc = json.load(sys.stdin)
    headers = dict(doc["headers"])
    value = base64.b64decode(doc["value_b64"])
    base = signature_base(doc["topic"], bytes.fromhex(doc["key_hex"]), headers, value)
    signature = base64.b64decode(headers["ce_signature"])
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(doc["public_key_b64"]))
    try:
        key.verify(signature, base)
    except InvalidSignature:
        print("signature does not verify", file=sys.stderr)
        return 1
    print(hashlib.sha256(base + signature).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
