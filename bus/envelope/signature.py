"""The signature base of a record, and signing it (Ed25519, RFC 8032).

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
the Merkle log commits to) is ``SHA-256(base || signature)``. :func:`decode_headers` reads
the headers that go into the base (step 2 of the pipeline, :mod:`bus.pipeline`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import operator
from collections.abc import Sequence

from agencies.keys import SigningKey
from bus.envelope.headers import SIGNATURE_HEADER, SIGNED_ATTRIBUTES, Attributes
from bus.errors import RecordRejectedError
from bus.reasons import Reason

__all__ = [
    "DOMAIN_LINE",
    "decode_headers",
    "record_hash",
    "sign_record",
    "signature_base",
]

DOMAIN_LINE = b"silian-record-v1\n"
_TEMPLATE = (
    DOMAIN_LINE.decode("ascii")
    + "topic=%s\nkey=%s\n"
    + "".join(f"{name}=%s\n" for name in SIGNED_ATTRIBUTES)
    + "value-sha256=%s\n"
)
_PRINTABLE = bytes(range(0x20, 0x7F))  # printable ASCII: no newline can split a line
_PRINTABLE_LINES = _PRINTABLE + b"\n"
_WANTED = frozenset({*SIGNED_ATTRIBUTES, SIGNATURE_HEADER})
_SIGNED = operator.itemgetter(*SIGNED_ATTRIBUTES)
_AS_SIGNED = (*SIGNED_ATTRIBUTES, SIGNATURE_HEADER)  # the headers of a record as signed
_NAME, _VALUE = operator.itemgetter(0), operator.itemgetter(1)
_sha256 = hashlib.sha256


def signature_base(
    *, topic: str, key: bytes | None, attributes: Sequence[str], value: bytes
) -> bytes:
    """The exact bytes the issuer signs (``attributes`` in SIGNED_ATTRIBUTES order).

    RecordRejectedError if a value could split a line (not printable ASCII) or the topic
    is not ASCII: such a record has no base, and no signature can be over it.
    """
    try:
        base = (
            _TEMPLATE % (topic, (key or b"").hex(), *attributes, _sha256(value).hexdigest())
        ).encode("ascii")
    except UnicodeEncodeError:
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS, "the topic or a signed header is not ASCII"
        ) from None
    if base.count(b"\n") != len(SIGNED_ATTRIBUTES) + 4 or base.translate(None, _PRINTABLE + b"\n"):
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS, "a signed header holds bytes outside printable ASCII"
        )
    return base


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
    return _sha256(base + signature).hexdigest()


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # read with surrogateescape: the wire bytes are not UTF-8
        return False
    return True


def decode_headers(headers: Sequence[tuple[str, bytes | None]]) -> tuple[Attributes, bytes]:
    """The signed attributes and the signature, out of raw record headers.

    Headers are routing hints until verified: this only checks that each one needed is
    present exactly once and well formed (not null, not empty, printable ASCII; the
    signature base64 of 64 bytes); the signature check is the caller's next step. Any
    header's name must be UTF-8 (Kafka's protocol says so; the broker does not check).
    Unknown headers are not signed and never trusted: they are passed over.
    """
    if tuple(map(_NAME, headers)) == _AS_SIGNED:  # as the publisher writes them: in order
        raws: list[bytes | None] = list(map(_VALUE, headers))
        signature_raw = raws.pop()
    else:  # another order, another header, or one twice: name by name
        found = _found(headers)
        raws, signature_raw = list(_SIGNED(found)), found[SIGNATURE_HEADER]
    if None in raws or signature_raw is None:
        name = next(n for n, v in zip(_AS_SIGNED, (*raws, signature_raw), strict=True) if v is None)
        raise RecordRejectedError(Reason.MALFORMED_HEADERS, f"header {name} has a null value")
    values: list[bytes] = raws  # type: ignore[assignment] # no None: checked just above
    joined = b"\n".join(values)
    if (
        not all(values)
        or joined.translate(None, _PRINTABLE_LINES)
        or joined.count(b"\n") != len(values) - 1
    ):
        name = next(n for n, v in zip(SIGNED_ATTRIBUTES, values, strict=True) if _unfit(v))
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS,
            f"header {name} is empty or holds bytes outside printable ASCII",
        )
    if _unfit(signature_raw):
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS,
            f"header {SIGNATURE_HEADER} is empty or holds bytes outside printable ASCII",
        )
    try:
        signature = binascii.a2b_base64(signature_raw, strict_mode=True)
    except binascii.Error:
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS, "header ce_signature is not base64"
        ) from None
    if len(signature) != 64:
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS,
            f"header ce_signature holds {len(signature)} bytes, an Ed25519 signature has 64",
        )
    # One decode, one split (no value holds a newline: checked above); tuple.__new__ as
    # _make does, without its length check (there is one value per signed attribute).
    attributes: Attributes = tuple.__new__(Attributes, joined.decode("ascii").split("\n"))
    return attributes, signature


def _found(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, bytes | None]:
    """Each header the base needs, by name: present once; any other name UTF-8."""
    found: dict[str, bytes | None] = {}
    for name, raw in headers:
        if name in _WANTED:
            if name in found:
                raise RecordRejectedError(Reason.MALFORMED_HEADERS, f"header {name} appears twice")
            found[name] = raw
        elif not name.isascii() and not _utf8(name):
            raise RecordRejectedError(
                Reason.MALFORMED_HEADERS, f"a header name is not UTF-8: {name[:40]!r}"
            )
    if len(found) != len(_WANTED):
        missing = [n for n in (*SIGNED_ATTRIBUTES, SIGNATURE_HEADER) if n not in found]
        raise RecordRejectedError(
            Reason.MALFORMED_HEADERS,
            f"missing header{'s' if len(missing) > 1 else ''} " + ", ".join(missing),
        )
    return found


def _unfit(value: bytes) -> bool:
    return not value or bool(value.translate(None, _PRINTABLE))
