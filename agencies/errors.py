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
