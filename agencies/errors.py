"""Errors of the agencies layer (identities, keys, the agreement). Tree in :mod:`bus.errors`."""

from __future__ import annotations

from enum import StrEnum

from contracts.errors import SilianError


class AgencyError(SilianError):
    """Base of the agencies layer."""


class UnknownAgencyError(AgencyError, LookupError):
    """An agency code is not known to the registry or the agreement."""


class KeyStoreError(AgencyError):
    """A key file is missing, unreadable, has unsafe permissions or a wrong passphrase."""


class PassphraseError(KeyStoreError):
    """A private key file is encrypted and no passphrase, or the wrong one, was given."""


class AgreementError(AgencyError):
    """An agreement document is malformed, incomplete or not in force."""


class VerificationKind(StrEnum):
    """Why something did not verify: code decides on this, the message is for people."""

    NO_AGREEMENT = "no-agreement"  # no agreement version was in force at that time
    NOT_A_MEMBER = "not-a-member"  # the key's agency is not a member of that version
    UNKNOWN_KEY = "unknown-key"  # the member did not declare the key
    KEY_REVOKED = "key-revoked"
    KEY_OUT_OF_WINDOW = "key-out-of-window"  # before valid_from, at or after valid_until
    WRONG_KEY_KIND = "wrong-key-kind"  # a sealing key named as a signing key, or the reverse
    BAD_SIGNATURE = "bad-signature"
    OTHER = "other"


class VerificationError(SilianError):
    """A signature, key window or chain does not verify; ``kind`` says why, the message
    says it in words."""

    def __init__(self, message: str, *, kind: VerificationKind = VerificationKind.OTHER) -> None:
        super().__init__(message)
        self.kind = kind


class AgreementVerificationError(AgreementError, VerificationError):
    """An agreement's signatures do not verify; ``member`` and ``field`` say where.

    ``member`` is the agency code of the member whose signature failed or is missing (or
    ``None`` when the fault is not one member's); ``field`` is the document field whose
    bytes differ from what that member signed (or ``None``).
    """

    def __init__(
        self, message: str, *, member: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.member = member
        self.field = field


class PermissionDeniedError(AgencyError):
    """The agreement does not allow this agency to publish or read this family/handling."""


class KeyFormatError(AgencyError, ValueError):
    """Bytes that should be a key (or a signature's key) have the wrong length or form."""
