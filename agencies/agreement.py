"""The cooperation agreement (跨区域警务合作协议书): one version of the signed document.

An :class:`Agreement` is only trustworthy when it came out of
:func:`agencies.signatures.verify_agreement` (every member signed these exact bytes).
Its queries answer what the bus asks at run time: who is a member, which key a record
was signed with and whether it was usable then, who may publish or read what, and how
long a recipient has to answer.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Final, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from agencies.errors import UnknownAgencyError, VerificationError, VerificationKind
from agencies.identity import AgencyCodeStr, AgencyKind
from agencies.keys import KeyAlg, KeyRecord, VerifyKey, newest_usable
from agencies.permissions import Action, Permissions
from contracts.base import Family
from contracts.vocab import HandlingCode, Priority

__all__ = [
    "AGREEMENT_FORMAT",
    "Agreement",
    "Member",
    "ResponseDeadlines",
    "Retention",
    "agreement_bytes",
    "document_digest",
]

AGREEMENT_FORMAT: Final = "silian-agreement-v1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Member(_Frozen):
    """A member agency and every public key it has declared (current and past)."""

    code: AgencyCodeStr
    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=200)
    kind: AgencyKind
    keys: tuple[KeyRecord, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _own_keys(self) -> Self:
        for record in self.keys:
            if record.agency != self.code:
                raise ValueError(f"member {self.code} lists key {record.key_id} of another agency")
        ids = [r.key_id for r in self.keys]
        if len(set(ids)) != len(ids):
            raise ValueError(f"member {self.code} lists a key twice")
        return self

    @property
    def display(self) -> str:
        return f"{self.name_zh} ({self.code})"

    def key(self, key_id: str) -> KeyRecord | None:
        return next((r for r in self.keys if r.key_id == key_id), None)


class ResponseDeadlines(_Frozen):
    """How long a recipient has to answer, per priority (事事有回音)."""

    urgent: timedelta
    routine: timedelta
    info: timedelta

    @model_validator(mode="after")
    def _positive(self) -> Self:
        for name in ("urgent", "routine", "info"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"deadline {name} must be positive")
        return self


class Retention(_Frozen):
    """How long events and the audit log are kept, in days."""

    events_days: int = Field(gt=0)
    audit_days: int = Field(gt=0)


class Agreement(_Frozen):
    """One version of the agreement. Field names are the names verification errors use."""

    format: Literal["silian-agreement-v1"] = AGREEMENT_FORMAT
    federation_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,31}$")
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=300)
    version: int = Field(ge=1)
    previous_digest: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    effective_from: AwareDatetime
    members: tuple[Member, ...] = Field(min_length=1)
    permissions: Permissions
    deadlines: ResponseDeadlines
    retention: Retention
    # Witness cosignatures a checkpoint needs before an auditor trusts it. Optional, so
    # that versions written before it existed still load; absent (None, and then left out
    # of the document silian writes), it is a majority of the members other than the log
    # keeper (:meth:`checkpoint_quorum`).
    witness_quorum: int | None = Field(default=None, ge=1, exclude_if=lambda v: v is None)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        codes = [m.code for m in self.members]
        if len(set(codes)) != len(codes):
            raise ValueError("a member is listed twice")
        if (self.version == 1) != (self.previous_digest is None):
            raise ValueError("previous_digest is required from version 2 on, and only then")
        if self.witness_quorum is not None and self.witness_quorum > len(codes) - 1:
            raise ValueError(
                f"witness_quorum {self.witness_quorum} is more than the {len(codes) - 1} "
                "members other than a log keeper could ever cosign"
            )
        return self

    @property
    def label(self) -> str:
        """``jpg v2``: how errors name this version."""
        return f"{self.federation_id} v{self.version}"

    # -- queries ---------------------------------------------------------------------------

    def member(self, code: str) -> Member:
        for member in self.members:
            if member.code == code:
                return member
        raise UnknownAgencyError(f"agency {code} is not a member of {self.label}")

    def is_member(self, code: str) -> bool:
        return any(m.code == code for m in self.members)

    def key_record(self, key_id: str, at: datetime) -> KeyRecord:
        """The record of ``key_id`` if its owner is a member and the key is usable at ``at``."""
        # 1. This version must be in force at ``at``.
        if at < self.effective_from:
            raise VerificationError(
                f"agreement {self.label} is not in force at {at.isoformat()} "
                f"(effective from {self.effective_from.isoformat()})",
                kind=VerificationKind.NO_AGREEMENT,
            )
        # 2. The key's owner (its id's prefix) must be a member of this version.
        owner = key_id.split(":", 1)[0]
        if not self.is_member(owner):
            raise VerificationError(
                f"key {key_id}: agency {owner} is not a member of {self.label} "
                f"in force at {at.isoformat()}",
                kind=VerificationKind.NOT_A_MEMBER,
            )
        # 3. The member must have declared the key.
        record = self.member(owner).key(key_id)
        if record is None:
            raise VerificationError(
                f"unknown key {key_id}: not declared in {self.label}",
                kind=VerificationKind.UNKNOWN_KEY,
            )
        # 4. The key must be in its window and not revoked at ``at``.
        record.usable_at(at)
        return record

    def signing_key(self, key_id: str, at: datetime) -> VerifyKey:
        """The Ed25519 key ``key_id`` if usable at ``at``; else VerificationError saying why."""
        return self.key_record(key_id, at).verify_key()

    def sealing_record(self, agency_code: str, at: datetime) -> KeyRecord:
        """The newest X25519 key of a member usable at ``at`` (to seal events to it)."""
        member = self.member(agency_code)
        record = newest_usable(member.keys, KeyAlg.X25519, at)
        if record is None:
            raise VerificationError(
                f"{member.display} has no usable sealing key in {self.label} at {at.isoformat()}"
            )
        return record

    def check_publish(
        self, agency_code: str, family: Family | str, handling_code: HandlingCode | str
    ) -> None:
        """Return if the member may publish; else PermissionDeniedError (UnknownAgencyError)."""
        self._check(agency_code, Action.PUBLISH, family, handling_code)

    def check_read(
        self, agency_code: str, family: Family | str, handling_code: HandlingCode | str
    ) -> None:
        """Return if the member may read; partners never read alerts, whatever the rules say."""
        self._check(agency_code, Action.READ, family, handling_code)

    def _check(
        self,
        agency_code: str,
        action: Action,
        family: Family | str,
        handling_code: HandlingCode | str,
    ) -> None:
        member = self.member(agency_code)
        self.permissions.check(
            who=member.display,
            kind=member.kind,
            action=action,
            family=family,
            handling=handling_code,
        )

    def checkpoint_quorum(self, keeper: str) -> int:
        """Witness cosignatures a checkpoint of ``keeper``'s log needs to be trusted:
        ``witness_quorum`` if set, else a majority of the members other than ``keeper``."""
        if self.witness_quorum is not None:
            return self.witness_quorum
        others = sum(1 for m in self.members if m.code != keeper)
        return others // 2 + 1

    def deadline(self, priority: Priority | str) -> timedelta:
        """Time a recipient has to answer an event of this priority."""
        value: timedelta = getattr(self.deadlines, Priority(priority).value)
        return value


def agreement_bytes(agreement: Agreement) -> bytes:
    """The document bytes members sign: pydantic's JSON, indented, UTF-8, newline-ended.

    Any JSON object is acceptable to verification; this is just how silian writes one.
    """
    return agreement.model_dump_json(indent=2).encode("utf-8") + b"\n"


def document_digest(document_bytes: bytes) -> str:
    """SHA-256 (hex) of a document's exact bytes: what the next version's previous_digest is."""
    return hashlib.sha256(document_bytes).hexdigest()
