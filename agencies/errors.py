"""Errors of the agencies layer (identities, keys, the agreement). Tree in :mod:`bus.errors`."""

from __future__ import annotations

from contracts.errors import SilianError


class AgencyError(SilianError):
    """Base of the agencies layer."""


class UnknownAgencyError(AgencyError, LookupError):
    """An agency code is not known to the registry or the agreement."""


class KeyStoreError(AgencyError):
    """A key file is missing, unreadable, has unsafe permissions or a wrong passphrase."""


class AgreementError(AgencyError):
    """An agreement document is malformed, incomplete or not in force."""


class VerificationError(SilianError):
    """A signature, key window or chain does not verify; the message says why."""


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
