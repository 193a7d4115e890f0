"""The log keeper: a Merkle log over the federation's accepted records, checkpointed.

:class:`LogKeeper` (``silian serve --log-keeper``, one agency of the federation) reads
every audited topic with a consumer group of its own, accepts each record exactly as the
auditor's stage 1 does (:func:`bus.pipeline.verify_record`: every record that verifies
is a leaf, whatever else is wrong with it), appends the record hashes of each (topic,
partition) in offset order to a persisted :class:`~bus.tlog.log.MerkleLog`, and every
``interval`` seconds (or after ``every`` new records) publishes a signed checkpoint of
each log that grew, with the consistency proof from its previous checkpoint, on the
federation's checkpoints topic (:mod:`bus.tlog.messages`). A record that does not verify
— whatever it holds — is passed over, never a reason to stop.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from bus.envelope.ids import now
from bus.errors import RecordRejectedError
from bus.logs import get_logger
from bus.node.bus import group_id
from bus.node.context import AgencyContext
from bus.node.topics import ReadUntil, wait_for_topics
from bus.pipeline import VerifyPolicy, verify_record
from bus.state.private import private_folder
from bus.tlog.checkpoint import Checkpoint, NoteSigner
from bus.tlog.log import MerkleLog, log_origin
from bus.tlog.messages import checkpoint_message
from bus.tlog.trust import parse_origin
from bus.transport.base import Record
from contracts.topics import checkpoints_topic, family_topics

__all__ = ["LogKeeper"]

log = get_logger("silian.audit.keeper")


class LogKeeper:
    """Appends accepted records to one Merkle log per (topic, partition); checkpoints them."""

    def __init__(
        self,
        ctx: AgencyContext,
        *,
        state_dir: Path,
        interval: float = 60.0,
        every: int = 1000,
        poll: float = 0.5,
        once: bool = False,
        policy: VerifyPolicy | None = None,
    ) -> None:
        """``interval``: seconds between checkpoints of a log that grew; ``every``: or
        sooner, once this many records were appended; ``poll``: how long a fetch waits;
        ``once``: at stop, read to the end first (:class:`~bus.node.topics.ReadUntil`)."""
        self._ctx = ctx
        self._interval, self._every, self._poll, self._once = interval, every, poll, once
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
        return self._appended >= self._every or elapsed >= self._interval

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
        topics = await wait_for_topics(self.topics, stop, what="family topics")
        if not topics:
            return
        pattern = rf"^silian\.{re.escape(self._ctx.federation)}\.case\..+$"
        consumer = self._ctx.transport.consumer(
            group_id=group_id(self._ctx.federation, self.agency, "log-keeper"),
            topics=topics,
            pattern=pattern,
        )
        until = ReadUntil(stop, consumer.assignment, once=self._once, what="log-keeper")
        async with consumer:
            while True:
                records = await consumer.fetch(max_records=2000, timeout=self._poll)
                if records:
                    await asyncio.to_thread(self.ingest, records)
                    await consumer.commit(_next_offsets(records))
                if self.due():
                    await self.publish_checkpoints()
                if until.done(len(records)):
                    break
        await self.publish_checkpoints()  # what was read before a clean stop


def _next_offsets(records: list[Record]) -> dict[tuple[str, int], int]:
    offsets: dict[tuple[str, int], int] = {}
    for record in records:
        offsets[(record.topic, record.partition)] = record.offset + 1
    return offsets
