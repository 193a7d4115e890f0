"""The hostile records issue 10 names, made on every run as explicit examples.

Generated examples find what nobody thought of; these make sure what somebody did think
of — the records that stopped the bus, and their next of kin — is judged every time,
whatever the generator happens to draw. Each is validly signed by a member.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hypothesis import example

from contracts import examples
from contracts.alerts import AlertIssued
from contracts.receipts import ReceiptReceived, ReceiptReceivedV2, RecordRef
from contracts.vocab import Handling, HandlingCode, Tlp
from tests.fuzz.forge import Draft, Scene
from tests.fuzz.hostile import Forged
from tests.fuzz.hostile_values import nested

__all__ = ["named_records", "with_named"]

_ALERT = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
_RECEIPT = next(e for _, e in examples.example_story() if isinstance(e, ReceiptReceived))
_SEALED = Handling(code=HandlingCode.H2, tlp=Tlp.AMBER)

Bend = Callable[[Draft], Draft]


def _attribute(**changes: str) -> Bend:
    return lambda draft: draft.with_attributes(**changes)


def _value(value: bytes) -> Bend:
    return lambda draft: replace(draft, value=value)


def _extra(raw: bytes) -> Bend:
    return lambda draft: replace(draft, value=draft.value[:-1] + b',"zz":' + raw + b"}")


Change = Callable[[dict[str, Any], dict[str, Any]], None]  # (envelope, our entry)


def _envelope(change: Change, reader: str) -> Bend:
    def bend(draft: Draft) -> Draft:
        envelope = json.loads(draft.value)
        mine = next(r for r in envelope["recipients"] if r["agency"] == reader)
        change(envelope, mine)
        return replace(draft, value=json.dumps(envelope).encode())

    return bend


def _set(field: str, value: object) -> Change:
    return lambda envelope, mine: mine.__setitem__(field, value)


def _drop(field: str) -> Change:
    return lambda envelope, mine: mine.__delitem__(field)


def _top(field: str, value: object) -> Change:
    return lambda envelope, mine: envelope.__setitem__(field, value)


def _own_kid_as_folder(envelope: dict[str, Any], mine: dict[str, Any]) -> None:
    mine["kid"] += ".pem/x"  # the consumer's own key file, named as if it were a folder


def _cases(scene: Scene) -> list[tuple[str, str, Bend]]:
    """(template, label, how the draft is bent)."""
    reader = scene.consumer
    agency, other = scene.members[0], scene.members[1]
    used = scene.used_ids.get(agency, [])
    plain: list[tuple[str, Bend]] = [
        (
            "ce_chainid of another agency",
            lambda d: d.with_attributes(chainid=f"{other}.fuzz.p{d.partition}"),
        ),
        (
            "ce_chainid of another partition",
            lambda d: d.with_attributes(chainid=f"{d.agency}.fuzz.p{d.partition + 1}"),
        ),
        ("ce_chainseq 5 on a new chain: a gap", _attribute(chainseq="5")),
        ("ce_prevhash of no record: a fork", _attribute(prevhash="ab" * 32)),
        ("ce_keyid of another agency", _attribute(keyid=scene.forge.signer(other)[0])),
        *([("ce_id this agency used before", _attribute(id=used[0]))] if used else []),
        *[
            (f"ce_chainseq {seq!r}", _attribute(chainseq=seq))
            for seq in (str(10**30), " 1", "1_0", "0", "-1", "01", str(2**63))
        ],
        ("ce_id outside the pattern", _attribute(id="not an id")),
        ("ce_id of 129 characters", _attribute(id="a" * 129)),
        ("ce_prevhash not hex", _attribute(prevhash="z" * 64)),
        ("ce_time in year 9999 at -23:59", _attribute(time="9999-12-31T23:59:59.999-23:59")),
        ("ce_time not RFC 3339", _attribute(time="20261201T120000Z")),
        ("ce_type of an unknown version", _attribute(type="cn.silian.alert.issued.v9")),
        ("ce_type of another event", _attribute(type="cn.silian.alert.hit.v1")),
        ("ce_handling unknown", _attribute(handling="H9/TLP:BLACK")),
        ("ce_handling not the event's", _attribute(handling="H0/TLP:CLEAR")),
        ("ce_priority unknown", _attribute(priority="now")),
        ("content-type unknown", _attribute(content_type="text/plain")),
        ("ce_dataschema another event's", _attribute(dataschema="urn:silian:schema:x.v1")),
        ("ce_subject not the entity", _attribute(subject="OTHER-ALERT")),
        ("value 100,000 levels deep", _value(nested(100_000))),
        ("value 100,000 levels deep, unbalanced", _value(nested(100_000, balanced=False))),
        ("a field 100,000 levels deep", _extra(nested(100_000))),
        ("value over the size limit", _extra(b'"' + b"x" * (512 * 1024) + b'"')),
        ("value not JSON", _value(b"\xff\xfe not json")),
        ("value a number too long to parse", _extra(b"9" * 5000)),
    ]
    sealed: list[tuple[str, Bend]] = [
        ("recipients not a list", _envelope(_top("recipients", "all"), reader)),
        ("recipients not objects", _envelope(_top("recipients", [1, "x"]), reader)),
        ("recipient without kid", _envelope(_drop("kid"), reader)),
        ("recipient kid not text", _envelope(_set("kid", 7), reader)),
        ("recipient enc not base64", _envelope(_set("enc", "!!!not base64"), reader)),
        ("recipient enc base64 of nothing", _envelope(_set("enc", ""), reader)),
        ("nonce not base64", _envelope(_top("nonce", "!!"), reader)),
        ("recipient kid naming a file as a folder", _envelope(_own_kid_as_folder, reader)),
        ("recipient kid a path", _envelope(_set("kid", "../../../../etc/passwd"), reader)),
        ("envelope version 1.0", _envelope(_top("v", 1.0), reader)),
        ("envelope version true", _envelope(_top("v", True), reader)),
        ("sealed value 100,000 levels deep", _value(nested(100_000))),
    ]
    receipt: list[tuple[str, Bend]] = [
        ("receipt naming a record hash not hex", _answers("record_hash", "z" * 64)),
        ("receipt answering an id outside the pattern", _answers("ce_id", "not an id")),
        ("receipt answering an id of 200 characters", _answers("ce_id", "a" * 200)),
        ("receipt answering a number", _answers("ce_id", 12)),
        ("receipt answering a source not an agency", _answers("ce_source", "urn:x")),
    ]
    mine = scene.used_ids.get(reader, [])
    return (
        [("alert", label, bend) for label, bend in plain]
        + [("sealed-alert", label, bend) for label, bend in sealed]
        + [("receipt", label, bend) for label, bend in receipt]
        # A v2 receipt of the reader's own event naming a record it did not publish.
        + ([("receipt-of-reader", "receipt naming another record of ours", _same)] if mine else [])
    )


def _same(draft: Draft) -> Draft:
    return draft


def _answers(field: str, value: object) -> Bend:
    def bend(draft: Draft) -> Draft:
        document = json.loads(draft.value)
        document["answers"][field] = value
        data = json.dumps(document).encode()
        return replace(draft, value=data, plaintext=data)

    return bend


def _of_reader(scene: Scene) -> ReceiptReceivedV2:
    """A receipt of the reader's first event on the bus, naming a record hash no record
    has: the reader published another record under that id (receipt-mismatch)."""
    answers = RecordRef(
        ce_source=f"urn:silian:agency:{scene.consumer}",
        ce_id=scene.used_ids[scene.consumer][0],
        ce_type="cn.silian.alert.hit.v1",
        record_hash="ab" * 32,
    )
    return ReceiptReceivedV2(answers=answers, received_at=_RECEIPT.received_at)


def named_records(scene: Scene, counter: Callable[[], int]) -> list[Forged]:
    """Every named hostile record, each signed by the first member on a chain of its own
    (one by the second member's key, which ``ce_keyid`` does not name)."""
    agency = scene.members[0]
    made = []
    alert = _ALERT.model_copy(update={"alert_id": f"FZ-NAMED-{counter()}"})
    other = scene.members[1]
    made.append(
        Forged(
            record=scene.forge.sign(scene.forge.draft(agency, alert), signer=other),
            signer=other,
            changes=(f"signed by {other}'s key, ce_keyid {agency}'s",),
        )
    )
    for template, label, bend in _cases(scene):
        if template == "receipt":
            draft = scene.forge.draft(agency, _RECEIPT)
        elif template == "receipt-of-reader":
            draft = scene.forge.draft(agency, _of_reader(scene))
        else:
            handling = _SEALED if template == "sealed-alert" else _ALERT.handling
            event = _ALERT.model_copy(
                update={"alert_id": f"FZ-NAMED-{counter()}", "handling": handling}
            )
            draft = scene.forge.draft(agency, event)
        made.append(Forged(record=scene.forge.sign(bend(draft)), signer=agency, changes=(label,)))
    return made


def with_named(
    test: Callable[..., None], forged: list[Forged], argument: str
) -> Callable[..., None]:
    """``test`` with each of ``forged`` as an explicit example of ``argument``: run first,
    every time, before anything is generated."""
    for one in forged:
        test = example(**{argument: one})(test)
    return test
