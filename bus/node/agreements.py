"""Agreement versions go live: published on the agreement topic, taken up by every service.

A fully signed version is one record on ``silian.<fed>.agreement`` (one partition, kept
forever), key ``v<N>``, value a small JSON document (``silian-agreement-version-v1``)
holding the exact document bytes and its signature file, both base64::

    {"format": "silian-agreement-version-v1", "version": 2,
     "document": "<base64 of agreement.json>", "signatures": "<base64 of signatures.json>"}

Nothing on the topic is trusted for being there: each version is verified as the folder's
are (every member's signature, the chain to the version before, the rules of succession
in :func:`agencies.history.check_succession`) before the running service's
:class:`~agencies.history.AgreementHistory` — shared by its publisher and subscriptions —
takes it up. A version that does not verify is refused with the member and field named,
kept in the agency's quarantine (``bad-agreement``), and the service keeps the versions it
had. A version that arrives before the one it follows waits for it; the same version twice
is nothing new; a *different* document under a version number already taken is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agencies.agreement import Agreement, document_digest
from agencies.errors import AgreementError, AgreementVerificationError
from agencies.folder import AgreementFolder
from agencies.history import AgreementHistory
from agencies.signatures import (
    AgreementSignature,
    dump_signatures,
    load_signatures,
    parse_agreement,
    verify_agreement,
)
from bus.logs import get_logger
from bus.node.bus import Bus
from bus.node.quarantine import quarantine
from bus.reasons import Reason
from bus.transport.base import Consumer, Coordinates, OutgoingRecord, Record, Transport
from contracts.json_depth import FILE_DEPTH, nests_deeper
from contracts.topics import agreement_topic

__all__ = [
    "VERSION_FORMAT",
    "AgreementFeed",
    "TakenUp",
    "agreement_feed",
    "folder_versions",
    "read_version_record",
    "version_record",
]

log = get_logger(__name__)

VERSION_FORMAT: Final = "silian-agreement-version-v1"
_MAX_VALUE = 4 * 1024 * 1024  # an agreement of a province's stations stays far below this


def version_record(
    federation: str, document: bytes, signatures: Iterable[AgreementSignature], *, version: int
) -> OutgoingRecord:
    """The agreement topic's record of one fully signed version."""
    value = {
        "format": VERSION_FORMAT,
        "version": version,
        "document": base64.b64encode(document).decode("ascii"),
        "signatures": base64.b64encode(dump_signatures(signatures)).decode("ascii"),
    }
    return OutgoingRecord(
        topic=agreement_topic(federation),
        key=f"v{version}".encode("ascii"),
        value=json.dumps(value, separators=(",", ":")).encode("ascii"),
        headers=(("content-type", b"application/json"),),
    )


class _VersionDocument(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    format: Literal["silian-agreement-version-v1"]
    version: int = Field(ge=1)
    document: str
    signatures: str


def read_version_record(record: Record) -> tuple[int, bytes, tuple[AgreementSignature, ...]]:
    """(version, document bytes, signatures) of an agreement topic record, not yet verified;
    AgreementError saying what is wrong with its form."""
    where = f"{record.topic}/{record.partition}/{record.offset}"
    if record.value is None:
        raise AgreementError(f"{where}: no value (a tombstone), not an agreement version")
    if len(record.value) > _MAX_VALUE:
        raise AgreementError(f"{where}: {len(record.value)} bytes, more than an agreement holds")
    if nests_deeper(record.value, FILE_DEPTH):
        raise AgreementError(f"{where}: nested too deep to be an agreement version record")
    try:
        value = _VersionDocument.model_validate_json(record.value)
        document = base64.b64decode(value.document, validate=True)
        signatures = load_signatures(base64.b64decode(value.signatures, validate=True))
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise AgreementError(
            f"{where}: not a {VERSION_FORMAT} record ({field + ': ' if field else ''}"
            f"{first['msg']})"
        ) from None
    except binascii.Error as error:
        raise AgreementError(f"{where}: document or signatures not base64 ({error})") from None
    except AgreementError as error:
        raise AgreementError(f"{where}: {error}") from None
    return value.version, document, signatures


@dataclass(frozen=True, kw_only=True, slots=True)
class TakenUp:
    """What one poll of the feed brought: versions taken up, versions refused (with why)."""

    added: tuple[Agreement, ...] = ()
    refused: tuple[str, ...] = ()


class AgreementFeed:
    """Follows the agreement topic for one running service and grows its history.

    ``poll`` is called from the service's own loop, between batches of records, so that a
    new version is in force for the very next record judged — and the re-judging of what
    it cures (:mod:`bus.node.rejudge`) runs before anything newer is read.
    """

    def __init__(
        self,
        *,
        transport: Transport,
        federation: str,
        agency: str,
        history: AgreementHistory,
        role: str = "serve",
        keep_refused: bool = True,
    ) -> None:
        self._transport = transport
        self._federation = federation
        self._agency = agency
        self._history = history
        self._keep_refused = keep_refused
        # Its own group each run, never committed: every start reads the whole topic.
        group = f"{federation}.{agency}.agreement-{role}-{uuid.uuid4().hex[:8]}"
        self._consumer: Consumer = transport.consumer(
            group_id=group, topics=[agreement_topic(federation)], from_beginning=True
        )
        self._digests = {
            v.version: d for v, d in zip(history.versions, history.digests, strict=True)
        }
        self._waiting: dict[int, tuple[bytes, tuple[AgreementSignature, ...], Record]] = {}
        self._on_topic: set[int] = set()

    @property
    def on_topic(self) -> frozenset[int]:
        """Versions the topic holds as this service holds them (verified): a junk or forged
        record under a version number does not count, so the real one is still published."""
        return frozenset(self._on_topic)

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def __aenter__(self) -> AgreementFeed:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def catch_up(self, *, within: float = 30.0) -> TakenUp:
        """Read the topic to its end as it stands (at most ``within`` seconds)."""
        added: list[Agreement] = []
        refused: list[str] = []
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            taken = await self.poll(timeout=0.3)
            added += taken.added
            refused += taken.refused
            if not taken.added and not taken.refused and await self._consumer.caught_up():
                break
        return TakenUp(added=tuple(added), refused=tuple(refused))

    async def poll(self, *, timeout: float = 0.0) -> TakenUp:
        records = await self._consumer.fetch(timeout=timeout)
        added: list[Agreement] = []
        refused: list[str] = []
        acks: list[Awaitable[Coordinates]] = []
        for record in records:
            why = self._take(record, added)
            if why is not None:
                refused.append(why)
                log.error(
                    "agreement.refused",
                    topic=record.topic,
                    offset=record.offset,
                    agency=self._agency,
                    detail=why,
                )
                if self._keep_refused:
                    acks.append(
                        await quarantine(
                            self._transport,
                            federation=self._federation,
                            agency=self._agency,
                            record=record,
                            reason=Reason.BAD_AGREEMENT,
                            detail=why,
                        )
                    )
        for ack in acks:
            await ack
        for agreement in added:
            log.info(
                "agreement.taken_up",
                agency=self._agency,
                version=agreement.version,
                effective_from=agreement.effective_from.isoformat(),
                members=[m.code for m in agreement.members],
            )
        return TakenUp(added=tuple(added), refused=tuple(refused))

    def _take(self, record: Record, added: list[Agreement]) -> str | None:
        """Take up the version ``record`` holds (and any waiting for it); why not, if not."""
        try:
            version, document, signatures = read_version_record(record)
        except AgreementError as error:
            return str(error)
        if version in self._digests:
            return self._held(version, document, signatures, record)
        latest = self._history.latest.version
        if version > latest + 1:
            self._waiting[version] = (document, signatures, record)
            log.info("agreement.waiting", version=version, needs=latest + 1)
            return None
        pending = [(document, signatures)]
        while pending:
            why = self._add(*pending.pop())
            if why is not None:
                return why
            added.append(self._history.latest)
            self._on_topic.add(self._history.latest.version)
            following = self._waiting.pop(self._history.latest.version + 1, None)
            if following is not None:
                pending.append((following[0], following[1]))
        return None

    def _held(
        self,
        version: int,
        document: bytes,
        signatures: tuple[AgreementSignature, ...],
        record: Record,
    ) -> str | None:
        """A version number this service already holds: nothing new if it is the same
        document fully signed; otherwise why it is refused."""
        where = f"v{version} on {record.topic} at offset {record.offset}"
        if self._digests[version] != document_digest(document):
            held = self._history.versions[version - 1].label
            return (
                f"{where} is not the {held} this service holds "
                "(a different document under a version number already taken)"
            )
        try:  # the version held; but are its signatures all there?
            verify_agreement(document, signatures)
        except AgreementError as error:
            return f"{where}: {error}"
        self._on_topic.add(version)
        return None

    def _add(self, document: bytes, signatures: tuple[AgreementSignature, ...]) -> str | None:
        try:
            agreement = self._history.add(document, signatures)
        except AgreementVerificationError as error:
            where = ", ".join(
                f"{k} {v}" for k, v in (("member", error.member), ("field", error.field)) if v
            )
            return f"{error}{f' ({where})' if where else ''}"
        except AgreementError as error:
            return str(error)
        self._digests[agreement.version] = document_digest(document)
        return None

    async def publish(
        self, versions: Iterable[tuple[bytes, tuple[AgreementSignature, ...]]]
    ) -> list[int]:
        """Put on the topic each of these (verified) versions it does not hold yet; the
        version numbers sent. Call once the feed has caught up, or it sends duplicates —
        which are harmless (the same version twice is nothing new), only noise."""
        sent = []
        for document, signatures in versions:
            version = parse_agreement(document).version
            if version in self._on_topic:
                continue
            await self._transport.send(
                version_record(self._federation, document, signatures, version=version)
            )
            self._on_topic.add(version)
            sent.append(version)
            log.info("agreement.published", agency=self._agency, version=version)
        return sent


def agreement_feed(bus: Bus, *, role: str = "serve") -> AgreementFeed:
    """The feed that keeps ``bus``'s agreement history live."""
    return AgreementFeed(
        transport=bus.context.transport,
        federation=bus.config.federation,
        agency=bus.agency,
        history=bus.context.agreements,
        role=role,
        keep_refused=role == "serve",
    )


def folder_versions(
    directory: Path, history: AgreementHistory
) -> list[tuple[bytes, tuple[AgreementSignature, ...]]]:
    """The verified versions of an agreement folder, as their exact bytes and signatures
    (those ``history``, verified from that folder, holds)."""
    folder = AgreementFolder(directory)
    return [folder.read(v.version) for v in history.versions if v.version in folder.versions()]
