"""Signed histories for the unit tests: a federation on a fixed clock, with a second
agreement version (a revoked or rotated key, a late member), records signed without a
broker, and the log keeper's and a witness's checkpoints over them.

The ``federation`` fixture (tests/unit/conftest.py) is :func:`build_federation` of a fresh
folder; the pipeline, chain, transparency-log and audit tests share these helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from agencies.agreement import Agreement, Member, agreement_bytes, document_digest
from agencies.history import AgreementHistory
from agencies.identity import agency
from agencies.keys import KeyAlg, SigningKey
from agencies.keystore import KeyStore
from agencies.signatures import AgreementSignature, dump_signatures, parse_agreement
from agencies.templates import init_agreement, load_template, sign_as
from bus.audit.bundle import BundleWriter
from bus.audit.examine import examine
from bus.pipeline import VerifyPolicy
from bus.sandbox.synthetic import ChainWriter
from bus.tlog.checkpoint import NoteSigner
from bus.tlog.log import MerkleLog, log_origin
from bus.tlog.witness import Witness, witness_name
from bus.transport.base import Record
from contracts import examples
from contracts.registry import spec_for_model

CST = timezone(timedelta(hours=8))
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=CST)
T_CHANGE = T0 + timedelta(days=1)  # version 2 takes effect
JIANGSHAN, PUCHENG, GUANGFENG = examples.JIANGSHAN, examples.PUCHENG, examples.GUANGFENG


@dataclass
class Federation:
    keystore: KeyStore
    agreements: AgreementHistory
    documents: list[tuple[bytes, tuple[AgreementSignature, ...]]] = field(default_factory=list)
    federation_id: str = "jpg"

    def writer(self, code: str, *, at: datetime = T0, key_id: str | None = None) -> ChainWriter:
        key_id = key_id or self.keystore.current(code, KeyAlg.ED25519, at=at).key_id
        return ChainWriter(
            agency=code,
            key_id=key_id,
            key=self.keystore.signing_key(key_id),
            federation=self.federation_id,
        )


def _sign_all(document: bytes, keystore: KeyStore) -> tuple[AgreementSignature, ...]:
    members = [m.code for m in parse_agreement(document).members]
    return tuple(sign_as(document, signer=code, keystore=keystore) for code in members)


def build_federation(
    directory: Path,
    *,
    late_member: str | None = None,
    revoke: str | None = None,
    rotate: str | None = None,
    template_name: str = "jpg",
) -> Federation:
    """v1 at T0 (without ``late_member``); v2 at T_CHANGE adds it, revokes ``revoke``'s
    keys and/or rotates ``rotate``'s (its old keys' window ends at T_CHANGE).
    ``template_name``: the federation of agencies/federations/ (sanshan has partners)."""
    keystore = KeyStore(directory / "keys")
    template = load_template(template_name)
    first = template
    if late_member is not None:
        first = template.model_copy(
            update={"members": tuple(m for m in template.members if m != late_member)}
        )
    start = T0 - timedelta(minutes=1)
    v1, _ = init_agreement(first, keystore, start, effective_from=start)
    history = AgreementHistory()
    fed = Federation(keystore=keystore, agreements=history, federation_id=template.federation_id)
    signatures = _sign_all(v1, keystore)
    history.add(v1, signatures)
    fed.documents.append((v1, signatures))
    if late_member is None and revoke is None and rotate is None:
        return fed
    if revoke is not None:
        keystore.revoke(revoke, now=T_CHANGE, reason="key compromised")
        keystore.new(revoke, now=T_CHANGE)
    if rotate is not None:
        keystore.rotate(rotate, now=T_CHANGE)
    members = []
    codes = [m.code for m in parse_agreement(v1).members]
    if late_member is not None:
        keystore.new(late_member, now=T0)
        codes.append(late_member)
    for code in codes:
        who = agency(code)
        members.append(
            Member(
                code=code,
                name_zh=who.name_zh,
                name_en=who.name_en,
                kind=who.kind,
                keys=keystore.records(code),
            )
        )
    previous = parse_agreement(v1)
    v2_model = Agreement.model_validate(
        {
            **previous.model_dump(),
            "version": 2,
            "previous_digest": document_digest(v1),
            "effective_from": T_CHANGE,
            "members": [m.model_dump() for m in members],
        }
    )
    v2 = agreement_bytes(v2_model)
    signatures = _sign_all(v2, keystore)
    history.add(v2, signatures)
    fed.documents.append((v2, signatures))
    return fed


Story = list[Record]


def story_records(fed: Federation, *, start: datetime = T0) -> Story:
    """The example story, signed by each publisher, on offsets per topic (partition 0)."""
    writers = {code: fed.writer(code, at=start) for code in (JIANGSHAN, PUCHENG, GUANGFENG)}
    offsets: dict[str, int] = {}
    records = []
    for i, (who, event) in enumerate(examples.example_story()):
        topic = spec_for_model(event).topic("jpg", event)
        offset = offsets.get(topic, 0)
        offsets[topic] = offset + 1
        records.append(
            writers[who].event_record(event, at=start + timedelta(minutes=i), offset=offset)
        )
    return records


def liaison_records(writer: ChainWriter, count: int, *, start: datetime = T0) -> Story:
    """``count`` liaison meetings from one publisher on one topic/partition (no lifecycle)."""
    meeting = next(e for _, e in examples.example_story() if e.event_type == "liaison.meeting")
    out = []
    for i in range(count):
        event = meeting.model_copy(update={"meeting_id": f"LM-{i:06d}"})
        out.append(writer.event_record(event, at=start + timedelta(seconds=i), offset=i))
    return out


MakeStory = Callable[[Federation], Story]


# -- the log keeper's and a witness's checkpoints -----------------------------------------


def first_signing_key(fed: Federation, code: str) -> SigningKey:
    """``code``'s first Ed25519 key (JIANGSHAN's signs the log keeper's notes)."""
    record = next(r for r in fed.keystore.records(code) if r.alg is KeyAlg.ED25519)
    return fed.keystore.signing_key(record.key_id)


def record_hashes(records: list[Record], fed: Federation) -> list[bytes]:
    """The record hashes a log keeper logs (each record must verify)."""
    out = []
    for record in records:
        item = examine(record, fed.agreements, VerifyPolicy())
        assert item.hash is not None
        out.append(item.hash)
    return out


def log_note(fed: Federation, log: MerkleLog, size: int | None = None) -> bytes:
    """The log keeper's (JIANGSHAN's) signed checkpoint of ``log`` at ``size``."""
    return (
        NoteSigner(log.origin, first_signing_key(fed, JIANGSHAN))
        .sign_checkpoint(log.checkpoint(size))
        .to_bytes()
    )


def witness(fed: Federation, code: str, directory: Path) -> Witness:
    """``code`` as a witness of the jpg log keeper, its state kept in ``directory``."""
    return Witness(
        name=witness_name("jpg", code),
        key=first_signing_key(fed, code),
        log_keys=[first_signing_key(fed, JIANGSHAN).public_key],
        state_path=directory / f"witness-{code}.json",
    )


def cosigned_notes(fed: Federation, records: list[Record], directory: Path) -> list[bytes]:
    """One checkpoint over ``records`` (one partition) as the two witnesses publish it:
    one copy cosigned by GUANGFENG, one by PUCHENG (the quorum of jpg: both others)."""
    log = MerkleLog(directory / "log.sqlite", log_origin(records[0].topic, 0))
    log.append(record_hashes(records, fed))
    note = log_note(fed, log)
    return [
        witness(fed, code, directory).cosign(note, [], timestamp=7).to_bytes()
        for code in (GUANGFENG, PUCHENG)
    ]


def write_bundle(
    fed: Federation,
    records: Iterable[Record],
    path: Path,
    *,
    notes: Iterable[bytes] = (),
    log_keeper: str | None = None,
) -> Path:
    """An audit bundle of ``fed``'s agreement, the checkpoint ``notes`` and ``records``."""
    documents = [(doc, dump_signatures(sigs)) for doc, sigs in fed.documents]
    with BundleWriter(
        path,
        federation="jpg",
        agreements=fed.agreements,
        documents=documents,
        log_keeper=log_keeper,
    ) as writer:
        for note in notes:
            writer.checkpoint(note)
        for record in records:
            writer.record(record)
    return path
