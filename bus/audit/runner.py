"""Whole audits: replay from a transport or a bundle, export a bundle from a transport."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from agencies.folder import AgreementFolder
from agencies.history import AgreementHistory
from bus.audit.bundle import Bundle, BundleWriter, agreement_documents, open_bundle
from bus.audit.checkpoints import CheckpointBook
from bus.audit.proofs import ProofLogs
from bus.audit.replay import AuditReport, Replayer, ReplayOptions
from bus.audit.source import RecordRange, read_records
from bus.errors import ConfigError
from bus.logs import get_logger
from bus.reasons import Reason
from bus.tlog.log import log_origin
from bus.tlog.messages import NoteKind, note_origin, read_message
from bus.tlog.trust import parse_origin
from bus.transport.base import Record, Transport
from contracts.topics import checkpoints_topic

__all__ = [
    "export_bundle",
    "proofs_from_bundle",
    "proofs_from_transport",
    "replay_bundle",
    "replay_transport",
]

Progress = Callable[[AuditReport], None]
log = get_logger("silian.audit")


async def _checkpoint_notes(
    transport: Transport, federation: str, idle: float, topics: Iterable[str]
) -> list[bytes]:
    """The signed notes (checkpoints, cosigned copies) of the logs of ``topics``.

    Refusal records are the witnesses' alarm, not notes: the split view they report is
    found again from the two notes themselves. A record without the ``silian-note``
    header is taken as a bare note (the form bundles and older keepers use). A tombstone
    or a value that is not UTF-8 cannot be a signed note (C2SP notes are text): it is
    left out, and said so in the log.
    """
    topic = checkpoints_topic(federation)
    if topic not in await transport.describe_topics([topic]):
        return []
    audited = set(topics)
    notes: list[bytes] = []
    junk = 0
    async for batch in read_records(transport, [topic], idle=idle):
        for record in batch:
            message = read_message(record)
            if message is not None and message.kind is NoteKind.REFUSAL:
                continue
            if record.value is None or not _text(record.value):
                junk += 1
                continue
            place = parse_origin(note_origin(record.value))
            if place is None or place[0] in audited:
                notes.append(record.value)  # a note of another form is judged (and flagged)
    if junk:
        log.warning("audit.junk_notes", topic=topic, count=junk, detail="not text: no note")
    return notes


def _text(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def replay_transport(
    transport: Transport,
    topics: Iterable[str],
    agreements: AgreementHistory,
    *,
    federation: str,
    options: ReplayOptions | None = None,
    keeper: str | None = None,
    quorum: int | None = None,
    selection: RecordRange | None = None,
    progress: Progress | None = None,
    idle: float = 3.0,
) -> AuditReport:
    """Replay ``topics`` as stored on the transport (and its checkpoints, if a keeper is named)."""
    topics = list(topics)
    selection = selection or RecordRange()
    options = dataclasses.replace(
        options or ReplayOptions(),
        from_start=selection.from_start,
        complete=selection.complete,
    )
    book = None
    if keeper is not None:
        book = CheckpointBook(agreements, federation=federation, keeper=keeper, quorum=quorum)
    replayer = Replayer(
        agreements, options=options, checkpoints=book, progress=progress, source="kafka"
    )
    if book is not None:
        for note in await _checkpoint_notes(transport, federation, idle, topics):
            replayer.add_checkpoint(note)
    async for batch in read_records(transport, topics, selection=selection, idle=idle):
        await asyncio.to_thread(replayer.feed_all, batch)
    return await asyncio.to_thread(replayer.finish)


async def export_bundle(
    transport: Transport,
    topics: Iterable[str],
    path: Path,
    *,
    folder: AgreementFolder,
    federation: str,
    keeper: str | None = None,
    selection: RecordRange | None = None,
    idle: float = 3.0,
) -> tuple[int, int, int]:
    """Write a bundle of ``topics``; returns (records, checkpoints, proofs) written.

    With a log keeper named, the witnesses' copies of each checkpoint are gathered into
    one note (a note that does not verify is kept as it was, for the replay to report),
    and — for a history from the partitions' start — the proofs follow the records: per
    log, consistency from each checkpoint to the largest one a quorum cosigned, and the
    inclusion of every record under it (:meth:`ProofLogs.bundle_proofs`).
    """
    topics = list(topics)
    selection = selection or RecordRange()
    history = folder.history()
    notes = await _checkpoint_notes(transport, federation, idle, topics)
    with contextlib.ExitStack() as stack:
        logs = None
        if keeper is not None:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            logs = stack.enter_context(
                ProofLogs(scratch / "merkle.sqlite", history, federation=federation, keeper=keeper)
            )
            notes = _gathered(logs, notes)
        writer = stack.enter_context(
            BundleWriter(
                path,
                federation=federation,
                agreements=history,
                documents=agreement_documents(folder),
                log_keeper=keeper,
                from_start=selection.from_start,
                complete=selection.complete,
            )
        )
        for note in notes:
            writer.checkpoint(note)
        async for batch in read_records(transport, topics, selection=selection, idle=idle):
            for record in batch:
                writer.record(record)
            if logs is not None and selection.from_start:
                await asyncio.to_thread(_feed, logs, batch)
        if logs is not None and selection.from_start:
            for proof in await asyncio.to_thread(list, logs.bundle_proofs()):
                writer.proof(proof.bundle_line())
        return writer.records, writer.checkpoints, writer.proofs


def _gathered(logs: ProofLogs, notes: list[bytes]) -> list[bytes]:
    """One note per checkpoint, its witnesses' cosignatures gathered; then the notes that
    did not verify, as they were."""
    invalid = []
    for note in notes:
        if any(a.kind is Reason.CHECKPOINT_INVALID for a in logs.book.add(note)):
            invalid.append(note)
    return logs.book.notes() + invalid


def _feed(logs: ProofLogs, batch: list[Record]) -> None:
    for record in batch:
        logs.feed(record)


def replay_bundle(
    path: Path,
    *,
    options: ReplayOptions | None = None,
    quorum: int | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """Verify a bundle offline: agreements, checkpoints, then every record, streamed."""
    bundle = open_bundle(path)
    options = dataclasses.replace(
        options or ReplayOptions(), from_start=bundle.from_start, complete=bundle.complete
    )
    book = None
    if bundle.log_keeper:
        book = CheckpointBook(
            bundle.agreements, federation=bundle.federation, keeper=bundle.log_keeper, quorum=quorum
        )
    replayer = Replayer(
        bundle.agreements, options=options, checkpoints=book, progress=progress, source=str(path)
    )
    if book is not None:
        for note in bundle.checkpoints:
            replayer.add_checkpoint(note)
    replayer.feed_bundle(bundle)
    return replayer.finish()


def proofs_from_bundle(logs: ProofLogs, bundle: Bundle, *, only: str | None = None) -> None:
    """Fill ``logs`` with a bundle's checkpoints and records (those of log ``only``)."""
    if not bundle.from_start:
        raise ConfigError(
            f"{bundle.path} does not start at the partitions' beginning (an export with "
            "--since or --from-offset): its leaf indices are unknown, no proof can be made"
        )
    for note in bundle.checkpoints:
        logs.add_checkpoint(note)
    for record in bundle.records():
        if only is None or log_origin(record.topic, record.partition) == only:
            logs.feed(record)


async def proofs_from_transport(
    logs: ProofLogs,
    transport: Transport,
    topics: Iterable[str],
    *,
    federation: str,
    only: str | None = None,
    idle: float = 3.0,
) -> None:
    """Fill ``logs`` with the checkpoints and the records of ``topics`` on a transport."""
    topics = list(topics)
    for note in await _checkpoint_notes(transport, federation, idle, topics):
        logs.add_checkpoint(note)
    async for batch in read_records(transport, topics, idle=idle):
        kept = [r for r in batch if only is None or log_origin(r.topic, r.partition) == only]
        await asyncio.to_thread(_feed, logs, kept)
