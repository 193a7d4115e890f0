"""Detached member signatures over an agreement's exact bytes, and their verification.

What a member signs (Ed25519, RFC 8032) is a *manifest*, UTF-8, one item a line::

    silian-agreement-v1
    signer <agency code>
    key <key id>
    document <sha256 hex of the whole document bytes>
    field <name> <sha256 hex of that field's value bytes>      (sorted by name)

Field values are the exact byte spans of the document's top-level JSON values — never a
re-serialisation — except ``members``, which is split per member as ``members[<code>]``.
Because each member signs per-field digests, a failed verification can say *which field*
changed after *which member* signed; the whole-document digest also catches changes outside
any field (whitespace, order). Verification runs the numbered steps of
:func:`verify_agreement`; any failure raises :class:`AgreementVerificationError` with
``member`` and ``field``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agencies.agreement import Agreement
from agencies.errors import AgreementError, AgreementVerificationError, VerificationError
from agencies.identity import AgencyCodeStr
from agencies.keys import KeyAlg, SigningKey
from contracts.json_depth import FILE_DEPTH, nests_deeper

__all__ = [
    "DOMAIN_LINE",
    "AgreementSignature",
    "dump_signatures",
    "field_digests",
    "load_signatures",
    "parse_agreement",
    "sign_agreement",
    "verify_agreement",
]

DOMAIN_LINE = b"silian-agreement-v1\n"
_SIGNATURES_FORMAT: Final = "silian-agreement-signatures-v1"
_DECODER = json.JSONDecoder()
_WS = " \t\n\r"


class AgreementSignature(BaseModel):
    """One member's detached signature: who, with which key, over which field digests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    signer: AgencyCodeStr
    key_id: str = Field(pattern=r"^[0-9]{12}:ed25519:[0-9a-f]{16}$")
    document_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    fields: dict[str, str] = Field(description="field name -> sha256 hex of its value bytes")
    signature: str = Field(description="Ed25519 signature over the manifest, base64")

    def manifest(self) -> bytes:
        lines = [
            f"signer {self.signer}",
            f"key {self.key_id}",
            f"document {self.document_sha256}",
            *(f"field {name} {self.fields[name]}" for name in sorted(self.fields)),
        ]
        return DOMAIN_LINE + "".join(line + "\n" for line in lines).encode("utf-8")

    def signature_bytes(self) -> bytes:
        try:
            return base64.b64decode(self.signature, validate=True)
        except binascii.Error:
            raise AgreementVerificationError(
                f"signature of {self.signer} is not base64", member=self.signer
            ) from None


def _spans(text: str, start: int, close: str) -> Iterable[tuple[str | None, int, int]]:
    """(key or None, value start, value end) of each item of the object/array at ``start``."""
    i = start + 1
    while text[i] in _WS:
        i += 1
    if text[i] == close:
        return
    while True:
        key: str | None = None
        while text[i] in _WS:
            i += 1
        if close == "}":
            key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
            while text[i] in _WS:
                i += 1
            i += 1  # ':'
        while text[i] in _WS:
            i += 1
        _, end = _DECODER.raw_decode(text, i)
        yield key, i, end
        i = end
        while text[i] in _WS:
            i += 1
        if text[i] == close:
            return
        i += 1  # ','


def field_digests(document_bytes: bytes) -> dict[str, str]:
    """Field name -> SHA-256 of the exact bytes of its value (``members`` split per member)."""
    if nests_deeper(document_bytes, FILE_DEPTH):  # before json.loads recurses into it
        raise AgreementError(f"agreement document nests deeper than {FILE_DEPTH} levels")
    try:
        text = document_bytes.decode("utf-8")
        json.loads(text)  # well-formed JSON first; the span walk below may then trust it
        start = len(text) - len(text.lstrip(_WS))
        if not text[start:].startswith("{"):
            raise AgreementError("agreement document is not a JSON object")
        digests: dict[str, str] = {}
        for key, begin, end in _spans(text, start, "}"):
            assert key is not None  # noqa: S101 - objects always yield keys
            if key in digests or any(k.startswith(f"{key}[") for k in digests):
                raise AgreementVerificationError(f"field {key!r} appears twice", field=key)
            if key == "members" and text[begin] == "[":
                for index, (_, m_begin, m_end) in enumerate(_spans(text, begin, "]")):
                    member = json.loads(text[m_begin:m_end])
                    code = member.get("code") if isinstance(member, dict) else None
                    name = f"members[{code if isinstance(code, str) else index}]"
                    if name in digests:
                        raise AgreementVerificationError(f"{name} appears twice", field=name)
                    digests[name] = _sha256(text[m_begin:m_end])
            else:
                digests[key] = _sha256(text[begin:end])
    except (UnicodeDecodeError, ValueError) as error:
        raise AgreementError(f"agreement document is not valid UTF-8 JSON: {error}") from None
    return digests


def _sha256(span: str) -> str:
    return hashlib.sha256(span.encode("utf-8")).hexdigest()


def parse_agreement(document_bytes: bytes) -> Agreement:
    """Parse (not verify) a document; AgreementError naming the first bad field."""
    try:
        return Agreement.model_validate_json(document_bytes)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        field = str(first["loc"][0]) if first["loc"] else None
        raise AgreementVerificationError(
            f"agreement field {where}: {first['msg']}", field=field
        ) from None


def sign_agreement(
    document_bytes: bytes, *, signer: str, key_id: str, key: SigningKey
) -> AgreementSignature:
    """Sign a document as member ``signer`` with its declared key ``key_id``."""
    agreement = parse_agreement(document_bytes)
    member = agreement.member(signer)
    record = member.key(key_id)
    if record is None or record.alg is not KeyAlg.ED25519:
        raise AgreementError(f"{key_id} is not a signing key of {member.display} in the document")
    if record.verify_key() != key.public_key:
        raise AgreementError(f"the private key given is not {key_id}")
    unsigned = AgreementSignature(
        signer=signer,
        key_id=key_id,
        document_sha256=hashlib.sha256(document_bytes).hexdigest(),
        fields=field_digests(document_bytes),
        signature="",
    )
    signature = base64.b64encode(key.sign(unsigned.manifest())).decode("ascii")
    return unsigned.model_copy(update={"signature": signature})


def verify_agreement(document_bytes: bytes, signatures: Iterable[AgreementSignature]) -> Agreement:
    """Return the agreement if every member signed these exact bytes; else raise.

    Raises :class:`AgreementVerificationError` (an AgreementError and a VerificationError)
    whose ``member`` and ``field`` name what failed.
    """
    # 1. The bytes are a JSON object; digest each field's exact bytes.
    digests = field_digests(document_bytes)
    document_sha256 = hashlib.sha256(document_bytes).hexdigest()
    # 2. Parse them into the document model (after hashing; never re-serialised).
    agreement = parse_agreement(document_bytes)
    label = agreement.label
    # 3. Every signature comes from a member, one per member.
    by_signer: dict[str, AgreementSignature] = {}
    for sig in signatures:
        if not agreement.is_member(sig.signer):
            raise AgreementVerificationError(
                f"{label}: signature by {sig.signer}, which is not a member (forged or stray)",
                member=sig.signer,
            )
        if sig.signer in by_signer:
            raise AgreementVerificationError(
                f"{label}: two signatures by {sig.signer}", member=sig.signer
            )
        by_signer[sig.signer] = sig
    for member in agreement.members:
        who = f"{label}: member {member.display}"
        # 4. Every member signed.
        found = by_signer.get(member.code)
        if found is None:
            raise AgreementVerificationError(f"{who} has not signed", member=member.code)
        sig = found
        # 5. With a signing key it declares, usable when this version takes effect.
        record = member.key(sig.key_id)
        if record is None or record.alg is not KeyAlg.ED25519:
            raise AgreementVerificationError(
                f"{who} signed with key {sig.key_id}, which is not one of its signing keys",
                member=member.code,
                field=f"members[{member.code}]",
            )
        try:
            record.usable_at(agreement.effective_from)
        except VerificationError as error:
            raise AgreementVerificationError(
                f"{who} signed with a key not usable when {label} takes effect: {error}",
                member=member.code,
                field=f"members[{member.code}]",
            ) from None
        # 6. The signature is that key's over the manifest it carries.
        try:
            record.verify_key().verify(sig.signature_bytes(), sig.manifest())
        except VerificationError:
            raise AgreementVerificationError(
                f"{who}: signature does not verify with key {sig.key_id} "
                "(forged, or the signature file was altered)",
                member=member.code,
            ) from None
        # 7. The manifest it signed matches these bytes, field by field.
        for name in sorted(digests.keys() | sig.fields.keys()):
            signed = sig.fields.get(name)
            if signed == digests.get(name):
                continue
            change = (
                "was added after it signed"
                if signed is None
                else "was removed after it signed"
                if name not in digests
                else "changed after it signed"
            )
            raise AgreementVerificationError(
                f"{who}: field {name} {change}", member=member.code, field=name
            )
        # 8. And the bytes outside the fields (whitespace, order) are the same too.
        if sig.document_sha256 != document_sha256:
            raise AgreementVerificationError(
                f"{who}: document bytes changed outside any field (whitespace or order) "
                "after it signed",
                member=member.code,
            )
    return agreement


class _SignatureFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["silian-agreement-signatures-v1"] = _SIGNATURES_FORMAT
    signatures: tuple[AgreementSignature, ...] = ()


def dump_signatures(signatures: Iterable[AgreementSignature]) -> bytes:
    ordered = sorted(signatures, key=lambda s: s.signer)
    return _SignatureFile(signatures=tuple(ordered)).model_dump_json(indent=2).encode() + b"\n"


def load_signatures(data: bytes) -> tuple[AgreementSignature, ...]:
    try:
        return _SignatureFile.model_validate_json(data).signatures
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise AgreementError(
            f"signature file: {where + ': ' if where else ''}{first['msg']}"
        ) from None
