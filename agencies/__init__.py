"""Who takes part: agency identities, keys and key windows, the signed cooperation agreement.

No Kafka here. The bus builds its signing, verification and authorisation on:
:class:`SigningKey`/:class:`VerifyKey` (Ed25519), :class:`SealingKey`/:class:`SealingPublicKey`
(X25519/HPKE), :class:`KeyRecord` windows, :func:`verify_agreement` → :class:`Agreement`,
:class:`AgreementHistory` (which version was in force when) and :class:`AgreementFolder`
(every version of an agreement on disk, ``v<N>/agreement.json`` + ``signatures.json``).
Who is who comes from data: :data:`DIRECTORY` (:func:`agency`) holds the agencies of
``agencies/data/`` — every Zhejiang, Fujian and Jiangxi division's public security bureau
and the 三山 bodies — and :meth:`Directory.with_members` adds an agreement's own members.
"""

from __future__ import annotations

from agencies.agreement import (
    AGREEMENT_FORMAT,
    Agreement,
    Member,
    ResponseDeadlines,
    Retention,
    agreement_bytes,
    document_digest,
)
from agencies.errors import (
    AgencyError,
    AgreementError,
    AgreementVerificationError,
    KeyFormatError,
    KeyStoreError,
    PassphraseError,
    PermissionDeniedError,
    UnknownAgencyError,
    VerificationError,
    VerificationKind,
)
from agencies.folder import AgreementFolder
from agencies.history import AgreementHistory
from agencies.identity import (
    DIRECTORY,
    KNOWN_AGENCIES,
    Agency,
    AgencyKind,
    Directory,
    Mechanism,
    agency,
)
from agencies.keys import (
    KeyAlg,
    KeyRecord,
    SealingKey,
    SealingPublicKey,
    SigningKey,
    VerifyKey,
    make_key_id,
)
from agencies.keystore import KeyPair, KeyStore
from agencies.permissions import Action, PermissionRule, Permissions
from agencies.signatures import (
    DOMAIN_LINE,
    AgreementSignature,
    dump_signatures,
    field_digests,
    load_signatures,
    parse_agreement,
    sign_agreement,
    verify_agreement,
)
from agencies.templates import (
    FEDERATIONS,
    FederationTemplate,
    init_agreement,
    load_template,
    next_agreement,
    sign_as,
)

__all__ = [
    "AGREEMENT_FORMAT",
    "DIRECTORY",
    "DOMAIN_LINE",
    "FEDERATIONS",
    "KNOWN_AGENCIES",
    "Action",
    "Agency",
    "AgencyError",
    "AgencyKind",
    "Agreement",
    "AgreementError",
    "AgreementFolder",
    "AgreementHistory",
    "AgreementSignature",
    "AgreementVerificationError",
    "Directory",
    "FederationTemplate",
    "KeyAlg",
    "KeyFormatError",
    "KeyPair",
    "KeyRecord",
    "KeyStore",
    "KeyStoreError",
    "Mechanism",
    "Member",
    "PassphraseError",
    "PermissionDeniedError",
    "PermissionRule",
    "Permissions",
    "ResponseDeadlines",
    "Retention",
    "SealingKey",
    "SealingPublicKey",
    "SigningKey",
    "UnknownAgencyError",
    "VerificationError",
    "VerificationKind",
    "VerifyKey",
    "agency",
    "agreement_bytes",
    "document_digest",
    "dump_signatures",
    "field_digests",
    "init_agreement",
    "load_signatures",
    "load_template",
    "make_key_id",
    "next_agreement",
    "parse_agreement",
    "sign_agreement",
    "sign_as",
    "verify_agreement",
]
