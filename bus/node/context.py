"""What one agency's bus process knows and holds: identity, keys, agreement, store, state.

Shared by the publisher and the subscriptions of one :class:`bus.node.bus.Bus`, so that what
one publishes the other judges against (lifecycle state, entity handling, chains).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime

from agencies.errors import (
    KeyStoreError,
    PermissionDeniedError,
    UnknownAgencyError,
    VerificationError,
)
from agencies.history import AgreementHistory
from agencies.keys import (
    KeyAlg,
    KeyRecord,
    SealingKey,
    SealingPublicKey,
    SigningKey,
)
from agencies.keystore import KeyStore
from bus.envelope.handling import DEFAULT_HANDLING
from bus.node.topics import TopicPlan
from bus.pipeline import VerifyPolicy
from bus.state.store import LocalStore
from bus.transport.base import Transport
from contracts.base import EventModel, Family
from contracts.errors import LifecycleError
from contracts.lifecycle import LifecycleTracker
from contracts.registry import REGISTRY, spec_for_model
from contracts.vocab import Handling

__all__ = ["AgencyContext"]


@dataclass(kw_only=True)
class AgencyContext:
    agency: str
    federation: str
    transport: Transport
    store: LocalStore
    agreements: AgreementHistory
    keystore: KeyStore
    policy: VerifyPolicy
    plan: TopicPlan = field(default_factory=TopicPlan)
    tracker: LifecycleTracker = field(default_factory=LifecycleTracker)
    entity_handling: dict[str, Handling] = field(default_factory=dict)

    _signing: dict[str, SigningKey] = field(default_factory=dict)
    _sealing: dict[str, SealingKey] = field(default_factory=dict)
    _records_seen: tuple[int, tuple[KeyRecord, ...]] | None = None

    # -- keys -------------------------------------------------------------------------
    def _own_records(self) -> tuple[KeyRecord, ...]:
        """This agency's key records, re-read only when the key list file changed."""
        path = self.keystore.directory / "keys.json"
        stamp = path.stat().st_mtime_ns if path.exists() else -1
        if self._records_seen is None or self._records_seen[0] != stamp:
            self._records_seen = (stamp, self.keystore.records(self.agency))
        return self._records_seen[1]

    def signing_key(self, at: datetime) -> tuple[str, SigningKey]:
        """The key to sign with at ``at``: the newest of this agency's own signing keys that
        the agreement in force at ``at`` lets sign then (judged as every receiver will).

        That is what makes a rotation *staged*: a key made by ``keys rotate`` signs nothing
        until a version declaring it is in force — then the switch happens by itself — and
        the old key signs until that version ends it. A key revoked here signs nothing.
        """
        own = sorted(
            (r for r in self._own_records() if r.alg is KeyAlg.ED25519 and r.revoked_at is None),
            key=lambda r: r.valid_from,
            reverse=True,
        )
        refusal: VerificationError | None = None
        for record in own:
            try:
                self.agreements.signing_key(record.key_id, at)
            except VerificationError as error:
                refusal = refusal or error
                continue
            if record.key_id not in self._signing:
                self._signing[record.key_id] = self.keystore.signing_key(record.key_id)
            return record.key_id, self._signing[record.key_id]
        if refusal is None:  # no key at all: let the key store say why, in its words
            self.keystore.current(self.agency, KeyAlg.ED25519, at=at)
        raise KeyStoreError(
            f"no signing key of {self.agency} in {self.keystore.directory} may sign at "
            f"{at.isoformat()} under the agreement in force ({refusal}); a new key signs "
            "once a version declaring it is signed by the members and in force"
        )

    def sealing_key(self, key_id: str) -> SealingKey:
        if key_id not in self._sealing:
            self._sealing[key_id] = self.keystore.sealing_key(key_id)
        return self._sealing[key_id]

    async def rebuild_state(self) -> None:
        """Lifecycle state and entity handling from the ledger, in the order accepted.

        The ledger is what this agency accepted, and some of it the lifecycle did not: a
        record an officer released (:mod:`bus.node.release`), one of this agency's own
        from another process. Such a record stays in the ledger and changes no state,
        as when it was accepted."""
        self.tracker = LifecycleTracker()
        self.entity_handling.clear()
        for entry in await self.store.ledger():
            event = REGISTRY.decode(entry.ce_type, entry.data)
            with contextlib.suppress(LifecycleError):
                self.remember(event, publisher=entry.source.rsplit(":", 1)[-1])

    def sealing_recipients(
        self, readers: list[str], at: datetime
    ) -> dict[str, tuple[str, SealingPublicKey]]:
        agreement = self.agreements.in_force_at(at)
        sealed: dict[str, tuple[str, SealingPublicKey]] = {}
        for code in [*readers, self.agency]:  # the issuer can read its own record too
            record = agreement.sealing_record(code, at)
            sealed[code] = (record.key_id, record.sealing_key())
        return sealed

    # -- what an event is ---------------------------------------------------------------
    def handling_of(self, event: EventModel) -> Handling:
        declared = event.declared_handling()
        if declared is not None:
            return declared
        return self.entity_handling.get(event.entity_id(), DEFAULT_HANDLING)

    def readers(self, family: Family, handling: Handling, at: datetime) -> list[str]:
        """Members the agreement in force lets read ``family`` at ``handling`` (issuer too).

        A sealed record is sealed to all of them, not only to a case's current members: an
        agency invited later can then read the case file, and sealing still keeps out
        everyone outside the agreement (partners for intelligence, the Kafka operator).
        Who may *act* in a case is the lifecycle's business; who may read a case topic is
        mapped to Kafka ACLs per case topic.
        """
        readers = []
        for member in self.agreements.in_force_at(at).members:
            try:
                self.agreements.check_read(member.code, family, handling.code, at=at)
            except (PermissionDeniedError, VerificationError):
                continue
            readers.append(member.code)
        return readers

    def recipients(
        self, event: EventModel, handling: Handling, at: datetime, *, issuer: str | None = None
    ) -> list[str]:
        """Agencies an event is addressed to (who must answer it), the issuer excluded.

        Whom it is addressed to is the contract's rule (``EventSpec.addressees``); of
        those, the ones the agreement in force lets read it. ``issuer`` defaults to this
        agency (the publisher's view); an observer passes the record's issuer.
        """
        issuer = issuer or self.agency
        spec = spec_for_model(event)
        candidates = spec.addressees(
            event,
            members=[m.code for m in self.agreements.in_force_at(at).members],
            case_members=self.tracker.case_members(event.entity_id()),
        )
        readers = []
        for code in sorted(candidates):
            if code == issuer:
                continue
            try:
                self.agreements.check_read(code, spec.family, handling.code, at=at)
            except (PermissionDeniedError, UnknownAgencyError, VerificationError):
                continue
            readers.append(code)
        return readers

    def remember(self, event: EventModel, *, publisher: str) -> None:
        """Apply an accepted event to the in-memory state (lifecycle, entity handling)."""
        self.tracker.apply(event, publisher=publisher)
        declared = event.declared_handling()
        if declared is not None and event.opens_entity:
            self.entity_handling[event.entity_id()] = declared
