"""Every verified version of one federation's agreement, and which was in force when.

A version is in force from its ``effective_from`` until the next version's. A record is
judged against the version in force at its time — with one tightening: a later version
that revokes or ends a key (revocation found out later, rotation) also applies to that
key's signatures made after the revocation or end, whatever version was in force then.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from agencies.agreement import Agreement, document_digest
from agencies.errors import AgreementError, VerificationError, VerificationKind
from agencies.keys import VerifyKey
from agencies.signatures import AgreementSignature, verify_agreement
from contracts.base import Family
from contracts.vocab import HandlingCode

__all__ = ["AgreementHistory"]


class AgreementHistory:
    """Verified versions in order; each must chain to the one before by digest."""

    def __init__(self) -> None:
        self._versions: list[Agreement] = []
        self._last_digest: str | None = None

    @property
    def versions(self) -> tuple[Agreement, ...]:
        return tuple(self._versions)

    @property
    def latest(self) -> Agreement:
        if not self._versions:
            raise AgreementError("no agreement version has been added yet")
        return self._versions[-1]

    def add(self, document_bytes: bytes, signatures: Iterable[AgreementSignature]) -> Agreement:
        """Verify a version and append it; AgreementError if it does not follow the last."""
        agreement = verify_agreement(document_bytes, signatures)
        if self._versions:
            last = self._versions[-1]
            if agreement.federation_id != last.federation_id:
                raise AgreementError(f"{agreement.label} is not of federation {last.federation_id}")
            if agreement.version != last.version + 1:
                raise AgreementError(
                    f"{agreement.label} does not follow {last.label} "
                    f"(expected version {last.version + 1})"
                )
            if agreement.previous_digest != self._last_digest:
                raise AgreementError(
                    f"{agreement.label}: previous_digest does not match {last.label}'s bytes"
                )
            if agreement.effective_from <= last.effective_from:
                raise AgreementError(
                    f"{agreement.label} takes effect before {last.label} (effective_from)"
                )
        elif agreement.version != 1:
            raise AgreementError(f"a history starts at version 1, not {agreement.label}")
        self._versions.append(agreement)
        self._last_digest = document_digest(document_bytes)
        return agreement

    def in_force_at(self, at: datetime) -> Agreement:
        """The version in force at ``at``; VerificationError before the first took effect."""
        current: Agreement | None = None
        for version in self._versions:
            if version.effective_from <= at:
                current = version
        if current is None:
            raise VerificationError(
                f"no agreement version was in force at {at.isoformat()}",
                kind=VerificationKind.NO_AGREEMENT,
            )
        return current

    def signing_key(self, key_id: str, at: datetime) -> VerifyKey:
        """The key ``key_id`` as judged at ``at``; VerificationError naming why not."""
        in_force = self.in_force_at(at)
        key = in_force.signing_key(key_id, at)
        owner = key_id.split(":", 1)[0]
        for later in self._versions[self._versions.index(in_force) + 1 :]:
            record = later.member(owner).key(key_id) if later.is_member(owner) else None
            if record is not None:
                try:
                    record.usable_at(at)
                except VerificationError as error:
                    raise VerificationError(
                        f"{error} (per {later.label})", kind=error.kind
                    ) from None
        return key

    def check_publish(
        self,
        agency_code: str,
        family: Family | str,
        handling_code: HandlingCode | str,
        *,
        at: datetime,
    ) -> None:
        self.in_force_at(at).check_publish(agency_code, family, handling_code)

    def check_read(
        self,
        agency_code: str,
        family: Family | str,
        handling_code: HandlingCode | str,
        *,
        at: datetime,
    ) -> None:
        self.in_force_at(at).check_read(agency_code, family, handling_code)
