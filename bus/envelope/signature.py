"""The signature base of a record, and signing and verifying it (Ed25519, RFC 8032).

The base is built from exact bytes — no JSON canonicalisation — so that an outside tool
can verify a record with nothing but the issuer's public key (docs/wire-format.md)::

    silian-record-v1\\n
    topic=<topic>\\n
    key=<record key, lowercase hex>\\n
    ce_specversion=<value>\\n          one line per signed attribute, in SIGNED_ATTRIBUTES order
    ...
    ce_prevhash=<value>\\n
    value-sha256=<SHA-256 of the record value, lowercase hex>\\n

The hash of a record (what the next record of its chain names in ``ce_prevhash``, and what
the Merkle log commits to) is ``SHA-256(base || signature)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence

from agencies.keys import SigningKey
from bus.envelope.headers import SIGNATURE_HEADER, SIGNED_ATTRIBUTES, Attributes
from bus.rejections import Reason, RecordRejectedError

__all__ = [
    "DOMAIN_LINE",
    "decode_headers",
    "record_hash",
    "sign_record",
    "signature_base",
]

DOMAIN_LINE = b"silian-record-v1\n"
_ALLOWED = frozenset(range(0x20, 0x7F))  # printable ASCII: no newline can split a line


def _check_ascii(name: str, value: bytes) -> str:
    if not value or not _ALLOWED.issuperset(value):
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS,
            f"header {name} is empty or holds bytes outside printable ASCII",
        )
    return value.decode("ascii")


def signature_base(*, topic: str, key: bytes | None, attributes: Attributes, value: bytes) -> bytes:
    """The exact bytes the issuer signs."""
    parts = [DOMAIN_LINE, f"topic={topic}\n".encode("ascii")]
    parts.append(b"key=" + (key or b"").hex().encode("ascii") + b"\n")
    for name, text in attributes.as_headers():
        _check_ascii(name, text.encode("ascii", errors="replace"))
        parts.append(f"{name}={text}\n".encode("ascii"))
    parts.append(b"value-sha256=" + hashlib.sha256(value).hexdigest().encode("ascii") + b"\n")
    return b"".join(parts)


def sign_record(
    *,
    topic: str,
    key: bytes | None,
    attributes: Attributes,
    value: bytes,
    signing_key: SigningKey,
) -> tuple[tuple[tuple[str, bytes], ...], str]:
    """Sign a record: its headers (every signed attribute, then ``ce_signature``) and its
    record hash (what the next record of the chain names as ``ce_prevhash``)."""
    base = signature_base(topic=topic, key=key, attributes=attributes, value=value)
    signature = signing_key.sign(base)
    headers = [(name, text.encode("ascii")) for name, text in attributes.as_headers()]
    headers.append((SIGNATURE_HEADER, base64.b64encode(signature)))
    return tuple(headers), record_hash(base, signature)


def record_hash(base: bytes, signature: bytes) -> str:
    """The chain/Merkle hash of a record, lowercase hex."""
    return hashlib.sha256(base + signature).hexdigest()


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # read with surrogateescape: the wire bytes are not UTF-8
        return False
    return True


def decode_headers(headers: Sequence[tuple[str, bytes | None]]) -> tuple[Attributes, bytes]:
    """Parse the signed attributes and the signature out of raw record headers.

    Headers are routing hints until verified: this only checks that each one needed is
    present exactly once and well formed; the signature check is the caller's next step.
    Any header's name must be UTF-8 (Kafka's protocol says so; the broker does not check).
    """
    seen: dict[str, str] = {}
    signature_text: str | None = None
    wanted = {*SIGNED_ATTRIBUTES, SIGNATURE_HEADER}
    for name, raw in headers:
        if not name.isascii() and not _utf8(name):
            raise RecordRejectedError(
                Reason.MALFORMED_HEADERS, f"a header name is not UTF-8: {name[:40]!r}"
            )
        if name not in wanted:
            continue  # unknown headers are not signed and never trusted; ignore them
        if name in seen or (name == SIGNATURE_HEADER and signature_text is not None):
            raise RecordRejectedError(Reason.MALFORMED_HEADERS, f"header {name} appears twice")
        if raw is None:
            raise RecordRejectedError(Reason.MALFORMED_HEADERS, f"header {name} has a null value")
        text = _check_ascii(name, raw)
        if name == SIGNATURE_HEADER:
            signature_text = text
        else:
            seen[name] = text
    missing = [n for n in SIGNED_ATTRIBUTES if n not in seen]
    if missing:
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS,
            f"missing header{'s' if len(missing) > 1 else ''} " + ", ".join(missing),
        )
    if signature_text is None:
        raise RecordRejectedError(Reason.MALFORMED_HEADERS, "missing header ce_signature")
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except binascii.Error:
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS, "header ce_signature is not base64"
        ) from None
    if len(signature) != 64:
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS,
            f"header ce_signature holds {len(signature)} bytes, an Ed25519 signature has 64",
        )
    return Attributes.from_mapping(seen), signature
