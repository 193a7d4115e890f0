"""Records on the checkpoints topic: raw Kafka records, not contract events.

Three kinds, told apart by the ``silian-note`` header (docs/audit.md, "On the
checkpoints topic"). The record key is the log's origin, so every record about one log
keeps its order; the value of a ``checkpoint`` or ``cosigned`` record is the signed note,
byte for byte (C2SP tlog-checkpoint, with tlog-cosignature lines once cosigned). Headers
are routing hints: the note's signatures and the consistency proof verify themselves.

=====================  ===========================================================
header                 value (ASCII)
=====================  ===========================================================
``silian-note``        ``checkpoint`` (the log keeper's), ``cosigned`` (a witness
                       added its cosignature), ``refusal`` (a witness refused)
``silian-origin``      ``silian/<topic>/<partition>``
``silian-size``        the checkpoint's tree size, decimal
``silian-keeper``      the agency code whose key signs the log
``silian-agency``      the agency code that published this record
``silian-proof-from``  (``checkpoint``) the size of the keeper's previous checkpoint
``silian-proof``       (``checkpoint``) base64 of the RFC 9162 consistency proof from
                       that size, the 32-byte hashes concatenated (empty: none)
=====================  ===========================================================

A ``refusal`` record's value is JSON (``format`` = ``silian-refusal-v1``): the witness,
the reason (``split-view``, ``inconsistent``, ``invalid``), a sentence, and as evidence
the refused note and the note the witness had cosigned before (both base64).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bus.tlog.merkle import HASH_SIZE
from bus.transport.base import OutgoingRecord, Record

__all__ = [
    "NOTE_HEADER",
    "REFUSAL_FORMAT",
    "NoteKind",
    "NoteMessage",
    "checkpoint_message",
    "cosigned_message",
    "note_origin",
    "read_message",
    "refusal_message",
]

NOTE_HEADER = "silian-note"
REFUSAL_FORMAT = "silian-refusal-v1"


class NoteKind(StrEnum):
    CHECKPOINT = "checkpoint"
    COSIGNED = "cosigned"
    REFUSAL = "refusal"


@dataclass(frozen=True, kw_only=True, slots=True)
class NoteMessage:
    """One record of the checkpoints topic, its headers read (not yet trusted)."""

    kind: NoteKind
    origin: str
    size: int
    keeper: str
    agency: str
    value: bytes
    proof_from: int = 0
    proof: tuple[bytes, ...] = ()

    def refusal(self) -> dict[str, Any]:
        """The JSON of a refusal record; ValueError if it is not one."""
        data = json.loads(self.value)
        if not isinstance(data, dict) or data.get("format") != REFUSAL_FORMAT:
            raise ValueError("not a silian refusal record")
        return data


def note_origin(note: bytes) -> str:
    """The origin line of a checkpoint note (unverified; for filtering only)."""
    return note.split(b"\n", 1)[0].decode("utf-8", errors="replace")


def _headers(
    kind: NoteKind, *, origin: str, size: int, keeper: str, agency: str
) -> list[tuple[str, bytes]]:
    return [
        (NOTE_HEADER, kind.value.encode()),
        ("silian-origin", origin.encode()),
        ("silian-size", str(size).encode()),
        ("silian-keeper", keeper.encode()),
        ("silian-agency", agency.encode()),
    ]


def checkpoint_message(
    topic: str,
    note: bytes,
    *,
    origin: str,
    size: int,
    keeper: str,
    proof_from: int,
    proof: Sequence[bytes],
) -> OutgoingRecord:
    """The keeper's signed checkpoint with the consistency proof from its previous one."""
    headers = _headers(NoteKind.CHECKPOINT, origin=origin, size=size, keeper=keeper, agency=keeper)
    headers.append(("silian-proof-from", str(proof_from).encode()))
    headers.append(("silian-proof", base64.b64encode(b"".join(proof))))
    return OutgoingRecord(topic=topic, key=origin.encode(), value=note, headers=tuple(headers))


def cosigned_message(
    topic: str, note: bytes, *, origin: str, size: int, keeper: str, witness: str
) -> OutgoingRecord:
    """A witness's copy of the note, its cosignature added."""
    headers = _headers(NoteKind.COSIGNED, origin=origin, size=size, keeper=keeper, agency=witness)
    return OutgoingRecord(topic=topic, key=origin.encode(), value=note, headers=tuple(headers))


def refusal_message(
    topic: str, refusal: dict[str, Any], *, origin: str, size: int, keeper: str, witness: str
) -> OutgoingRecord:
    """A witness's refusal, with the evidence, for every agency and auditor to see."""
    value = json.dumps({"format": REFUSAL_FORMAT, **refusal}, ensure_ascii=False).encode()
    headers = _headers(NoteKind.REFUSAL, origin=origin, size=size, keeper=keeper, agency=witness)
    return OutgoingRecord(topic=topic, key=origin.encode(), value=value, headers=tuple(headers))


def _count(text: str) -> int:
    """A tree size: decimal digits only (``int`` alone would take ``" 1"`` or ``1_0``)."""
    if not (text.isdigit() and text.isascii() and len(text) <= 19):
        raise ValueError(f"{text[:40]!r} is not a size")
    return int(text)


def read_message(record: Record) -> NoteMessage | None:
    """The checkpoints-topic message in ``record``; None when it is not one (a tombstone,
    headers missing or malformed). Total: nothing a record holds makes it raise."""
    if record.value is None:
        return None
    found: dict[str, str] = {}
    for name, raw in record.headers:
        if name.startswith("silian-") and name not in found:
            if raw is None or not raw.isascii():
                return None
            found[name] = raw.decode("ascii")
    try:
        kind = NoteKind(found[NOTE_HEADER])
        size = _count(found["silian-size"])
        proof_from = _count(found.get("silian-proof-from", "0"))
        raw_proof = base64.b64decode(found.get("silian-proof", ""), validate=True)
        origin, keeper, agency = (
            found["silian-origin"],
            found["silian-keeper"],
            found["silian-agency"],
        )
    except (KeyError, ValueError, binascii.Error):
        return None
    if len(raw_proof) % HASH_SIZE:
        return None
    return NoteMessage(
        kind=kind,
        origin=origin,
        size=size,
        keeper=keeper,
        agency=agency,
        value=record.value,
        proof_from=proof_from,
        proof=tuple(raw_proof[i : i + HASH_SIZE] for i in range(0, len(raw_proof), HASH_SIZE)),
    )
