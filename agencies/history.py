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
from agencies.errors import (
    AgreementError,
    AgreementVerificationError,
    PermissionDeniedError,
    UnknownAgencyError,
    VerificationError,
    VerificationKind,
)
from agencies.keys import VerifyKey
from agencies.permissions import Action
from agencies.signatures import AgreementSignature, verify_agreement
from contracts.base import Family
from contracts.vocab import HandlingCode

__all__ = ["AgreementHistory", "check_succession"]

_Refusal = tuple[type[PermissionDeniedError | UnknownAgencyError], str]
_Window = tuple[datetime, datetime | None, VerifyKey | None]  # start, end, the key (or None)


def check_succession(
    last: Agreement, agreement: Agreement, signatures: Iterable[AgreementSignature]
) -> None:
    """The rules a next version must keep beyond its own signatures (which
    :func:`verify_agreement` checked); AgreementVerificationError naming member and field.

    1. *Consent of the federation as it was*: at least half of ``last``'s members (2 of 3)
       signed with a signing key ``last`` declares for them, not revoked there. A version
       signed only with keys it declares itself could otherwise replace every member:
       whoever can write the agreement topic could forge one. Half, not more, so that in a
       federation of two the member whose key was compromised (it signs with its new key)
       can be rescued by the other — which is also all a two-member federation can ask.
    2. *No widening*: a key both versions declare keeps or narrows its window — an earlier
       ``valid_from``, a later or removed end, a withdrawn revocation are refused.
    3. *No end by surprise*: a key ``agreement`` newly ends (``valid_until``) stays valid
       until ``agreement`` takes effect at least, so that no record accepted under ``last``
       turns invalid later. (A revocation may look back: it is a compromise, the CLI warns.)
    """
    label = agreement.label
    consenting = set()
    for sig in signatures:
        if not last.is_member(sig.signer):
            continue
        record = last.member(sig.signer).key(sig.key_id)
        if record is not None and record.revoked_at is None:
            consenting.add(sig.signer)
    if 2 * len(consenting) < len(last.members):
        missing = sorted(m.code for m in last.members if m.code not in consenting)
        raise AgreementVerificationError(
            f"{label}: only {len(consenting)} of {last.label}'s {len(last.members)} members "
            f"signed with a key {last.label} declares (at least half must); not: "
            f"{', '.join(missing)}",
            member=missing[0] if missing else None,
        )
    for member in agreement.members:
        if not last.is_member(member.code):
            continue
        before = last.member(member.code)
        field = f"members[{member.code}]"
        for record in member.keys:
            old = before.key(record.key_id)
            if old is None:
                continue
            where = f"{label}: member {member.display}, key {record.key_id}"
            widened = (
                "an earlier valid_from"
                if record.valid_from < old.valid_from
                else "a later or no valid_until"
                if old.valid_until is not None
                and (record.valid_until is None or record.valid_until > old.valid_until)
                else "a withdrawn or later revocation"
                if old.revoked_at is not None
                and (record.revoked_at is None or record.revoked_at > old.revoked_at)
                else None
            )
            if widened is not None:
                raise AgreementVerificationError(
                    f"{where}: widens the window {last.label} gave it ({widened})",
                    member=member.code,
                    field=field,
                )
            if (
                record.valid_until is not None
                and record.valid_until != old.valid_until
                and record.valid_until < agreement.effective_from
            ):
                raise AgreementVerificationError(
                    f"{where}: ends at {record.valid_until.isoformat()}, before {label} takes "
                    f"effect at {agreement.effective_from.isoformat()}; records it signs in "
                    "between would be accepted under "
                    f"{last.label} and turn invalid later: end it at effective_from or later",
                    member=member.code,
                    field=field,
                )


class AgreementHistory:
    """Verified versions in order; each must chain to the one before by digest."""

    def __init__(self) -> None:
        self._versions: list[Agreement] = []
        self._last_digest: str | None = None
        self._digests: list[str] = []  # SHA-256 of each version's exact bytes
        # (version number, key id) → its signing window: see signing_key
        self._windows: dict[tuple[int, str], _Window] = {}
        # (version, action, agency, family, handling) → None (allowed) or the refusal
        self._verdicts: dict[tuple[int, Action, str, str, str], _Refusal | None] = {}

    def __getstate__(self) -> dict[str, object]:
        """Its versions, for another process (the auditor's workers): not the caches,
        which hold key objects no pickle can carry and are worked out again there."""
        state = dict(self.__dict__)
        state["_windows"], state["_verdicts"] = {}, {}
        return state

    @property
    def versions(self) -> tuple[Agreement, ...]:
        return tuple(self._versions)

    @property
    def digests(self) -> tuple[str, ...]:
        """SHA-256 (hex) of each version's document bytes, in version order."""
        return tuple(self._digests)

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
            check_succession(last, agreement, signatures)
        elif agreement.version != 1:
            raise AgreementError(f"a history starts at version 1, not {agreement.label}")
        self._versions.append(agreement)
        self._last_digest = document_digest(document_bytes)
        self._digests.append(self._last_digest)
        self._windows.clear()  # a later version may narrow a key's window
        self._verdicts.clear()
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
        """The key ``key_id`` as judged at ``at``; VerificationError naming why not.

        The version in force at ``at`` must declare the key for a member, and the key must
        be usable at ``at`` by that version's record of it *and* every later version's (a
        revocation found out later counts). Each key's window — the latest ``valid_from``
        to the earliest end — is worked out once per version and kept: a record inside it
        costs two comparisons; one outside it is judged record by record again, for the
        words of the refusal.
        """
        in_force = self.in_force_at(at)
        window = self._windows.get((in_force.version, key_id))
        if window is None:
            window = self._windows[(in_force.version, key_id)] = self._window(in_force, key_id)
        start, end, key = window
        if key is not None and at.tzinfo is not None and start <= at and (end is None or at < end):
            return key
        return self._judge_key(in_force, key_id, at)

    def _window(self, in_force: Agreement, key_id: str) -> _Window:
        """(latest valid_from, earliest end, the key) of a key as this version declares it;
        key None when it cannot sign at all (not declared, not a member, not Ed25519)."""
        owner = key_id.split(":", 1)[0]
        if not in_force.is_member(owner) or in_force.member(owner).key(key_id) is None:
            return in_force.effective_from, None, None
        records = [in_force.member(owner).key(key_id)]
        for later in self._versions[self._versions.index(in_force) + 1 :]:
            if later.is_member(owner):
                records.append(later.member(owner).key(key_id))
        kept = [r for r in records if r is not None]
        try:
            key = kept[0].verify_key()
        except VerificationError:
            return in_force.effective_from, None, None
        ends = [m for r in kept for m in (r.valid_until, r.revoked_at) if m is not None]
        return max(r.valid_from for r in kept), min(ends, default=None), key

    def _judge_key(self, in_force: Agreement, key_id: str, at: datetime) -> VerifyKey:
        """The key judged record by record: it raises the VerificationError that says why."""
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
        """The version in force at ``at`` lets ``agency_code`` publish this; else
        PermissionDeniedError (UnknownAgencyError for a non-member)."""
        self._permitted(Action.PUBLISH, agency_code, family, handling_code, at)

    def check_read(
        self,
        agency_code: str,
        family: Family | str,
        handling_code: HandlingCode | str,
        *,
        at: datetime,
    ) -> None:
        """The version in force at ``at`` lets ``agency_code`` read this; else as above."""
        self._permitted(Action.READ, agency_code, family, handling_code, at)

    def _permitted(
        self,
        action: Action,
        agency_code: str,
        family: Family | str,
        handling_code: HandlingCode | str,
        at: datetime,
    ) -> None:
        """The agreement's verdict, kept per version: the same question is asked of every
        record a busy agency judges."""
        version = self.in_force_at(at)
        asked = (version.version, action, agency_code, str(family), str(handling_code))
        if asked not in self._verdicts:
            try:
                if action is Action.PUBLISH:
                    version.check_publish(agency_code, family, handling_code)
                else:
                    version.check_read(agency_code, family, handling_code)
                self._verdicts[asked] = None
            except (PermissionDeniedError, UnknownAgencyError) as error:
                self._verdicts[asked] = (type(error), str(error))
        refusal = self._verdicts[asked]
        if refusal is not None:
            error_type, message = refusal
            raise error_type(message)
