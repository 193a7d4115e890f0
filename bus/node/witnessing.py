"""A witness service: cosigns other agencies' checkpoints that extend what it saw.

:class:`WitnessService` (every other agency's ``silian serve``, on by default) reads the
checkpoints topic, checks each new checkpoint with :class:`~bus.tlog.witness.Witness`
(log signature, no rollback, no split view, consistency with the last one it cosigned)
and publishes the note with its cosignature — or refuses loudly: an error log, no
cosignature, a ``refusal`` record with the evidence on the checkpoints topic and a line in
``<state>/witness-refusals.jsonl``. Only a checkpoint the log keeper *validly signed* can
be refused that way: anyone can write to the topic, so a record that is not a note, or a
note the keeper did not sign, is junk — quarantined with its reason and counted (one
warning a minute says how many), never an alarm. Nothing the topic holds makes it stop.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

from bus.envelope.ids import format_time, now
from bus.errors import (
    CheckpointError,
    InconsistentCheckpointError,
    SplitViewError,
    TransportError,
)
from bus.logs import get_logger
from bus.node.bus import group_id
from bus.node.context import AgencyContext
from bus.node.quarantine import quarantine
from bus.node.topics import ReadUntil, wait_for_topics
from bus.reasons import Reason
from bus.state.private import open_private, private_folder
from bus.tlog.checkpoint import Checkpoint, SignedNote, open_checkpoint
from bus.tlog.messages import (
    NoteKind,
    NoteMessage,
    cosigned_message,
    read_message,
    refusal_message,
)
from bus.tlog.trust import log_keys_of
from bus.tlog.witness import Witness, witness_name
from bus.transport.base import Record
from contracts.topics import checkpoints_topic

__all__ = ["WitnessService"]

log = get_logger("silian.audit.witness")

_JUNK_REPORT_S = 60.0  # junk on the checkpoints topic is summed up in a warning this often


class WitnessService:
    """Cosigns the checkpoints of other agencies' logs that extend what it cosigned before."""

    def __init__(
        self, ctx: AgencyContext, *, state_dir: Path, poll: float = 0.5, once: bool = False
    ) -> None:
        """``once``: at stop, read to the end first (:class:`~bus.node.topics.ReadUntil`)."""
        self._ctx = ctx
        self._state_dir = state_dir
        self._poll, self._once = poll, once
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

        if not await wait_for_topics(exists, stop, what=topic):
            return
        consumer = self._ctx.transport.consumer(
            group_id=group_id(self._ctx.federation, self._ctx.agency, "witness"), topics=[topic]
        )
        until = ReadUntil(stop, consumer.assignment, once=self._once, what="witness")
        async with consumer:
            while True:
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
                if until.done(len(records)):
                    break


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
