"""The log keeper and the witnesses, as services of a running agency (``silian serve``).

* :class:`LogKeeper` (``silian serve --log-keeper``, one agency of the federation) reads
  every audited topic with a consumer group of its own, accepts each record exactly as
  the auditor's stage 1 does (:func:`bus.pipeline.verify_record`: headers, key at the
  record's time, Ed25519 signature), appends the record hashes of each (topic,
  partition) in offset order to a persisted :class:`~bus.audit.log.MerkleLog`, and every
  ``interval`` seconds (or after ``every`` new records) publishes a signed checkpoint of
  each log that grew, with the consistency proof from its previous checkpoint, on the
  federation's checkpoints topic.
* :class:`WitnessService` (every other agency, on by default) reads the checkpoints
  topic, checks each new checkpoint with :class:`~bus.audit.witness.Witness` (log
  signature, no rollback, no split view, consistency with the last one it cosigned) and
  publishes the note with its cosignature — or refuses loudly: an error log, no
  cosignature, a ``refusal`` record with the evidence on the checkpoints topic and a line
  in ``<state>/witness-refusals.jsonl``. Only a checkpoint the log keeper *validly
  signed* can be refused that way: anyone can write to the topic, so a record that is
  not a note, or a note the keeper did not sign, is junk — quarantined with its reason
  and counted (one warning a minute says how many), never an alarm.

Both read whatever the topic holds (tombstones, null headers, garbage): a record they
cannot use is passed over, never a reason to stop or to retry forever.

The record formats are in :mod:`bus.audit.messages` and docs/audit.md.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bus.audit.checkpoint import Checkpoint, NoteSigner, SignedNote, open_checkpoint
from bus.audit.log import MerkleLog, log_origin
from bus.audit.messages import (
    NoteKind,
    NoteMessage,
    checkpoint_message,
    cosigned_message,
    read_message,
    refusal_message,
)
from bus.audit.trust import log_keys_of, parse_origin
from bus.audit.witness import Witness, witness_name
from bus.context import AgencyContext
from bus.envelope.ids import format_time, now
from bus.errors import (
    CheckpointError,
    InconsistentCheckpointError,
    RecordRejectedError,
    SplitViewError,
    TransportError,
)
from bus.logs import get_logger
from bus.pipeline import VerifyPolicy, verify_record
from bus.private import open_private, private_folder
from bus.quarantine import quarantine
from bus.reasons import Reason
from bus.transport.base import Record
from contracts.topics import checkpoints_topic, family_topics

__all__ = ["AuditServiceConfig", "LogKeeper", "WitnessService", "run_audit_services"]

log = get_logger("silian.audit.service")

_RETRY_S = 5.0  # a failed service step is logged and retried after this long
_JUNK_REPORT_S = 60.0  # junk on the checkpoints topic is summed up in a warning this often


@dataclass(frozen=True, kw_only=True)
class AuditServiceConfig:
    """Which audit services an agency runs, and how often the keeper checkpoints."""

    log_keeper: bool = False
    witness: bool = True
    interval: float = 60.0  # seconds between checkpoints of a log that grew …
    every: int = 1000  # … or sooner, once this many records were appended
    poll: float = 0.5  # how long one fetch waits


class LogKeeper:
    """Appends accepted records to one Merkle log per (topic, partition); checkpoints them."""

    def __init__(
        self,
        ctx: AgencyContext,
        *,
        state_dir: Path,
        config: AuditServiceConfig | None = None,
        policy: VerifyPolicy | None = None,
    ) -> None:
        self._ctx = ctx
        self._config = config or AuditServiceConfig(log_keeper=True)
        # The auditor's acceptance rule (stage 1 of a replay), never the consumer's stricter
        # one: every record that verifies is a leaf, whatever else is wrong with it.
        self._policy = policy or VerifyPolicy()
        self._path = state_dir / "merkle.sqlite"
        private_folder(self._path.parent)
        self._logs: dict[tuple[str, int], MerkleLog] = {}
        for origin in MerkleLog.origins(self._path):
            place = parse_origin(origin)
            if place is not None:
                self._logs[place] = MerkleLog(self._path, origin)
        self._appended = 0
        self._last_round = time.monotonic()

    @property
    def agency(self) -> str:
        return self._ctx.agency

    def close(self) -> None:
        for merkle_log in self._logs.values():
            merkle_log.close()
        self._logs.clear()

    def log(self, topic: str, partition: int) -> MerkleLog:
        key = (topic, partition)
        if key not in self._logs:
            self._logs[key] = MerkleLog(self._path, log_origin(topic, partition))
        return self._logs[key]

    async def topics(self) -> list[str]:
        """The federation's family topics that exist (case topics follow by pattern)."""
        wanted = family_topics(self._ctx.federation)
        return sorted(await self._ctx.transport.describe_topics(wanted))

    def ingest(self, records: list[Record]) -> int:
        """Append the accepted records of a fetch (ordered per partition); leaves added."""
        by_partition: dict[tuple[str, int], list[Record]] = {}
        for record in records:
            by_partition.setdefault((record.topic, record.partition), []).append(record)
        added = 0
        for (topic, partition), batch in by_partition.items():
            merkle_log = self.log(topic, partition)
            start = merkle_log.next_offset
            hashes = []
            for record in batch:
                if record.offset < start:
                    continue  # read again after a restart: already a leaf (or refused)
                try:
                    verified = verify_record(record, self._ctx.agreements, self._policy)
                except RecordRejectedError:
                    continue  # not accepted: the auditor will not count it either
                except Exception:  # a defect: the auditor reports it unprocessable, no leaf
                    log.exception("audit.keeper_unprocessable", topic=topic, offset=record.offset)
                    continue
                hashes.append(bytes.fromhex(verified.hash))
            if batch[-1].offset >= start:
                merkle_log.append(hashes, next_offset=batch[-1].offset + 1)
                added += len(hashes)
        self._appended += added
        return added

    def due(self) -> bool:
        elapsed = time.monotonic() - self._last_round
        return self._appended >= self._config.every or elapsed >= self._config.interval

    async def publish_checkpoints(self) -> list[Checkpoint]:
        """Sign and publish a checkpoint of every log that grew since its last one."""
        self._last_round, self._appended = time.monotonic(), 0
        topic = checkpoints_topic(self._ctx.federation)
        published = []
        for merkle_log in self._logs.values():
            previous, size = merkle_log.published_size, merkle_log.size
            if size == previous:
                continue
            checkpoint = merkle_log.checkpoint(size)
            proof = merkle_log.consistency_proof(previous, size) if previous else []
            _, key = self._ctx.signing_key(now())
            note = NoteSigner(merkle_log.origin, key).sign_checkpoint(checkpoint)
            await self._ctx.transport.send(
                checkpoint_message(
                    topic,
                    note.to_bytes(),
                    origin=merkle_log.origin,
                    size=size,
                    keeper=self.agency,
                    proof_from=previous,
                    proof=proof,
                )
            )
            merkle_log.mark_published(size)
            published.append(checkpoint)
            log.info(
                "audit.checkpoint",
                origin=merkle_log.origin,
                size=size,
                root=checkpoint.root.hex(),
                proof_from=previous,
            )
        return published

    async def run(self, stop: asyncio.Event) -> None:
        topics = await _wait_for(self.topics, stop, what="family topics")
        if not topics:
            return
        pattern = rf"^silian\.{re.escape(self._ctx.federation)}\.case\..+$"
        consumer = self._ctx.transport.consumer(
            group_id=f"{self.agency}.log-keeper", topics=topics, pattern=pattern
        )
        async with consumer:
            while not stop.is_set():
                records = await consumer.fetch(max_records=2000, timeout=self._config.poll)
                if records:
                    await asyncio.to_thread(self.ingest, records)
                    await consumer.commit(_next_offsets(records))
                if self.due():
                    await self.publish_checkpoints()
        await self.publish_checkpoints()  # what was read before a clean stop


class WitnessService:
    """Cosigns the checkpoints of other agencies' logs that extend what it cosigned before."""

    def __init__(self, ctx: AgencyContext, *, state_dir: Path, poll: float = 0.5) -> None:
        self._ctx = ctx
        self._state_dir = state_dir
        self._poll = poll
        self._witnesses: dict[str, Witness] = {}
        self.name = witness_name(ctx.federation, ctx.agency)
        self.junk = 0  # records on the checkpoints topic that were not a usable note
        self._junk_unreported = 0
        self._junk_reported_at: float | None = None

    @property
    def refusals_path(self) -> Path:
        return self._state_dir / "witness-refusals.jsonl"

    def _witness(self, keeper: str) -> Witness:
        if keeper not in self._witnesses:
            _, key = self._ctx.signing_key(now())
            self._witnesses[keeper] = Witness(
                name=self.name,
                key=key,
                log_keys=log_keys_of(self._ctx.agreements, keeper),
                state_path=self._state_dir / f"witness-{keeper}.json",
            )
        return self._witnesses[keeper]

    async def handle(self, record: Record) -> SignedNote | None:
        """Cosign one checkpoint record (and publish it); None when not cosigned."""
        found = await self._signed_checkpoint(record)
        if found is None:
            return None
        message, checkpoint = found
        witness = self._witness(message.keeper)
        proof = _proof_for(witness, checkpoint, message)
        if proof is None:
            return None
        head = witness.head(checkpoint.origin)
        try:
            cosigned = witness.cosign(message.value, proof, timestamp=int(time.time()))
        except CheckpointError as error:
            if isinstance(error, SplitViewError):
                reason = "split-view"
            elif isinstance(error, InconsistentCheckpointError):
                reason = "inconsistent"  # the witness logged it as witness.refused
            else:
                reason = "invalid"  # validly signed, yet not a checkpoint it can take
            await self._refuse(message, reason, str(error), None if head is None else head.note)
            return None
        await self._ctx.transport.send(
            cosigned_message(
                checkpoints_topic(self._ctx.federation),
                cosigned.to_bytes(),
                origin=checkpoint.origin,
                size=checkpoint.size,
                keeper=message.keeper,
                witness=self._ctx.agency,
            )
        )
        return cosigned

    async def _signed_checkpoint(self, record: Record) -> tuple[NoteMessage, Checkpoint] | None:
        """The keeper's validly signed checkpoint in ``record``, if it is one to witness."""
        message = read_message(record)
        if message is None:
            await self._junk(
                record,
                "not a checkpoint message (its silian-note headers are missing or "
                "malformed, or it has no value)",
            )
            return None
        if message.kind is not NoteKind.CHECKPOINT:
            return None  # a cosigned copy or a refusal: the other witnesses' business
        if message.keeper == self._ctx.agency or not self._ctx.agreements.latest.is_member(
            message.keeper
        ):
            return None  # one's own log is witnessed by the others; strangers by no one
        try:
            # The keeper's signature first: what it did not sign is anyone's junk.
            checkpoint, _ = open_checkpoint(
                message.value, log_keys_of(self._ctx.agreements, message.keeper)
            )
        except CheckpointError as error:
            await self._junk(record, f"not a checkpoint signed by {message.keeper}: {error}")
            return None
        return message, checkpoint

    async def _junk(self, record: Record, detail: str, *, reason: Reason | None = None) -> None:
        """Quarantine and count a record that is no note; warn once a minute at most."""
        self.junk += 1
        self._junk_unreported += 1
        ack = await quarantine(
            self._ctx.transport,
            federation=self._ctx.federation,
            agency=self._ctx.agency,
            record=record,
            reason=reason or Reason.MALFORMED_NOTE,
            detail=detail,
        )
        await ack
        moment = time.monotonic()
        if self._junk_reported_at is None or moment - self._junk_reported_at >= _JUNK_REPORT_S:
            log.warning(
                "witness.junk",
                witness=self.name,
                count=self._junk_unreported,
                total=self.junk,
                last=detail,
                offset=record.offset,
            )
            self._junk_reported_at, self._junk_unreported = moment, 0

    async def _refuse(
        self, message: NoteMessage, reason: str, detail: str, cosigned: bytes | None
    ) -> None:
        refusal = {
            "witness": self.name,
            "agency": self._ctx.agency,
            "keeper": message.keeper,
            "origin": message.origin,
            "size": message.size,
            "reason": reason,
            "detail": detail,
            "time": format_time(now()),
            "refused_note": base64.b64encode(message.value).decode(),
            "cosigned_note": None if cosigned is None else base64.b64encode(cosigned).decode(),
        }
        log.error(
            "witness.refusal",
            witness=self.name,
            origin=message.origin,
            size=message.size,
            reason=reason,
            detail=detail,
        )
        private_folder(self._state_dir)
        with open_private(self.refusals_path, "a") as out:
            out.write(json.dumps(refusal, ensure_ascii=False) + "\n")
        await self._ctx.transport.send(
            refusal_message(
                checkpoints_topic(self._ctx.federation),
                refusal,
                origin=message.origin,
                size=message.size,
                keeper=message.keeper,
                witness=self._ctx.agency,
            )
        )

    async def run(self, stop: asyncio.Event) -> None:
        topic = checkpoints_topic(self._ctx.federation)

        async def exists() -> list[str]:
            return list(await self._ctx.transport.describe_topics([topic]))

        if not await _wait_for(exists, stop, what=topic):
            return
        consumer = self._ctx.transport.consumer(
            group_id=f"{self._ctx.agency}.witness", topics=[topic]
        )
        async with consumer:
            while not stop.is_set():
                records = await consumer.fetch(timeout=self._poll)
                for record in records:
                    try:
                        await self.handle(record)
                    except TransportError:
                        raise  # the broker: read it again after the pause
                    except Exception as error:  # a defect the record uncovered: not a stop
                        log.exception("witness.unprocessable", offset=record.offset)
                        await self._junk(
                            record,
                            f"witnessing failed on this record: {type(error).__name__}",
                            reason=Reason.UNPROCESSABLE,
                        )
                    await consumer.commit_record(record)


def _proof_for(
    witness: Witness, checkpoint: Checkpoint, message: NoteMessage
) -> tuple[bytes, ...] | None:
    """The consistency proof to check ``checkpoint`` with; None: nothing to cosign now."""
    head = witness.head(checkpoint.origin)
    proof: tuple[bytes, ...] = ()
    earlier = witness.cosigned_root(checkpoint.origin, checkpoint.size)
    if head is not None and (
        (checkpoint.size < head.size and earlier in (None, checkpoint.root))
        or (checkpoint.size == head.size and checkpoint.root == head.root)
    ):
        # Read again (a redelivery), or older than what was cosigned: nothing to add. A
        # smaller tree proves nothing by itself; another root for a size cosigned
        # before is the split view Witness.cosign refuses below.
        log.debug("witness.seen", origin=checkpoint.origin, size=checkpoint.size)
        return None
    if head is not None and head.size < checkpoint.size:
        if head.size != message.proof_from:
            log.warning(
                "witness.cannot_check",
                origin=checkpoint.origin,
                cosigned_size=head.size,
                proof_from=message.proof_from,
                size=checkpoint.size,
            )
            return None  # the proof starts elsewhere; wait for a checkpoint it can check
        proof = message.proof
    return proof


def _next_offsets(records: list[Record]) -> dict[tuple[str, int], int]:
    offsets: dict[tuple[str, int], int] = {}
    for record in records:
        offsets[(record.topic, record.partition)] = record.offset + 1
    return offsets


async def _wait_for(
    look: Callable[[], Awaitable[list[str]]], stop: asyncio.Event, *, what: str
) -> list[str]:
    """Poll until ``look`` finds something (topics are the operator's to create)."""
    warned = False
    while not stop.is_set():
        found = await look()
        if found:
            return found
        if not warned:
            log.warning("audit.waiting", detail=f"{what} do(es) not exist yet: silian topics apply")
            warned = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _RETRY_S)
    return []


async def _supervised(
    name: str, run: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event
) -> None:
    """Run a service until ``stop``; a failure is logged at error level and retried."""
    while not stop.is_set():
        try:
            await run(stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("audit.service_failed", service=name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _RETRY_S)


@contextlib.asynccontextmanager
async def run_audit_services(
    ctx: AgencyContext, *, state_dir: Path, config: AuditServiceConfig
) -> AsyncIterator[tuple[LogKeeper | None, WitnessService | None]]:
    """Run the configured services in the background for the duration of the block."""
    stop = asyncio.Event()
    keeper = LogKeeper(ctx, state_dir=state_dir, config=config) if config.log_keeper else None
    witness = WitnessService(ctx, state_dir=state_dir, poll=config.poll) if config.witness else None
    tasks = []
    if keeper is not None:
        tasks.append(asyncio.create_task(_supervised("log-keeper", keeper.run, stop)))
    if witness is not None:
        tasks.append(asyncio.create_task(_supervised("witness", witness.run, stop)))
    log.info("audit.services", log_keeper=keeper is not None, witness=witness is not None)
    try:
        yield keeper, witness
    finally:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        finally:
            if keeper is not None:
                keeper.close()
