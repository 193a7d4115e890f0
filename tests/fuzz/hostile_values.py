"""Hostile values for validly signed records: event JSON, sealed envelopes, receipts.

Each strategy draws one kind of hostility (a table, kind → how it is made) and returns a
label for the report with the bytes. Every kind is invalid by construction: JSON that is
not one object, nests too deep, breaks the schema (every event model forbids unknown
fields), names another entity than the record's subject, or an envelope that does not
open for the consumer. Large values (``large=True``) are apart: they cost a test time.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from contracts import examples
from contracts.receipts import ReceiptReceived
from contracts.registry import REGISTRY
from tests.fuzz.draws import pick
from tests.fuzz.forge import Draft, Scene

__all__ = ["JSON_VALUES", "envelope_values", "nested", "plain_values", "receipt_drafts"]

Made = tuple[str, bytes]
_HUGE = (512 * 1024, 1_040_000, 1_100_000, 2_000_000)


def nested(depth: int, *, kind: str = "array", balanced: bool = True) -> bytes:
    """JSON ``depth`` levels deep, written without recursion."""
    if kind == "array":
        return b"[" * depth + (b"]" * depth if balanced else b"")
    return b'{"a":' * depth + b"1" + (b"}" * depth if balanced else b"")


JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _with_extra(document: bytes, name: str, raw: bytes) -> bytes:
    """A JSON object with one more member, written raw (so it can be deep or odd)."""
    return document[:-1] + b"," + json.dumps(name).encode() + b":" + raw + b"}"


def _key_field(draft: Draft) -> str:
    return REGISTRY.spec_for_type(draft.ce_type).model.key_field


# -- event JSON --------------------------------------------------------------------------


def _deep(draw: st.DrawFn, draft: Draft) -> Made:
    # (Objects to 10,000 levels: 100,000 of them would be half a megabyte, a large record.)
    shape = pick(draw, ("array", "object"))
    depth = pick(draw, (33, 100, 10_000, 100_000) if shape == "array" else (33, 100, 10_000))
    return f"deep {shape} {depth}", nested(depth, kind=shape, balanced=draw(st.booleans()))


def _deep_inside(draw: st.DrawFn, draft: Draft) -> Made:
    depth = pick(draw, [33, 1_000, 100_000])
    return f"deep field {depth}", _with_extra(draft.plaintext, "zz", nested(depth))


def _deep_string(draw: st.DrawFn, draft: Draft) -> Made:
    # Brackets inside a string are no depth: schema-invalid, not too deep.
    return "brackets in a string", _with_extra(draft.plaintext, "zz", b'"' + b"[" * 5_000 + b'"')


def _not_json(draw: st.DrawFn, draft: Draft) -> Made:
    return "random bytes", draw(st.binary(max_size=300))


def _truncated(draw: st.DrawFn, draft: Draft) -> Made:
    return "cut short", draft.plaintext[: draw(st.integers(0, len(draft.plaintext) - 1))]


def _not_an_object(draw: st.DrawFn, draft: Draft) -> Made:
    return "not an object", pick(draw, (b"null", b"[]", b"1", b'"x"', b"true", b"{}", b"[{}]"))


def _extra_field(draw: st.DrawFn, draft: Draft) -> Made:
    name = pick(draw, ["zz", "", "\u0000", "alert_id "])
    return "extra field", _with_extra(draft.plaintext, name, json.dumps(draw(JSON_VALUES)).encode())


def _no_key_field(draw: st.DrawFn, draft: Draft) -> Made:
    event = json.loads(draft.plaintext)
    event.pop(_key_field(draft), None)
    return "no key field", json.dumps(event).encode()


def _key_field_type(draw: st.DrawFn, draft: Draft) -> Made:
    event = json.loads(draft.plaintext)
    event[_key_field(draft)] = pick(draw, [1, None, [], {}, True, 1.5])
    return "key field not a string", json.dumps(event).encode()


def _other_entity(draw: st.DrawFn, draft: Draft) -> Made:
    # A valid event — about another entity than ce_subject and the record key say.
    event = json.loads(draft.plaintext)
    field = _key_field(draft)
    if not isinstance(event.get(field), str):  # a receipt's entity is the event it answers
        return _key_field_type(draw, draft)
    event[field] += pick(draw, ["-other", "0", "x"])
    return "another entity", json.dumps(event, ensure_ascii=False).encode()


def _numbers(draw: st.DrawFn, draft: Draft) -> Made:
    raw = pick(draw, [b"1e400", b"-1e400", b"9" * 5000, b"NaN", b"Infinity", b"-0"])
    return f"number {raw[:12]!r}", _with_extra(draft.plaintext, "zz", raw)


def _encoding(draw: st.DrawFn, draft: Draft) -> Made:
    # The same event in bytes a publisher does not write.
    # (Not a UTF-8 BOM: RFC 8259 lets a parser ignore one, so such a record may be valid.)
    text = draft.plaintext.decode("utf-8")
    codec = pick(draw, ["utf-16", "utf-32", "not-utf-8", "lone-surrogate"])
    if codec == "not-utf-8":
        raw = bytearray(draft.plaintext)
        at = next((i for i, byte in enumerate(raw) if byte >= 0x80), None)
        if at is None:
            return "not UTF-8", _with_extra(draft.plaintext, "zz", b'"\xff"')
        raw[at] = 0xFF
        return "not UTF-8", bytes(raw)
    if codec == "lone-surrogate":
        return "a lone surrogate", _with_extra(draft.plaintext, "zz", b'"\\ud800"')
    return codec, text.encode(codec)


def _huge(draw: st.DrawFn, draft: Draft) -> Made:
    size = pick(draw, _HUGE)
    return f"huge {size}", _with_extra(draft.plaintext, "zz", b'"' + b"x" * size + b'"')


_PLAIN: dict[str, Callable[[st.DrawFn, Draft], Made]] = {
    "deep": _deep,
    "deep-inside": _deep_inside,
    "deep-string": _deep_string,
    "not-json": _not_json,
    "truncated": _truncated,
    "not-an-object": _not_an_object,
    "extra-field": _extra_field,
    "no-key-field": _no_key_field,
    "key-field-type": _key_field_type,
    "other-entity": _other_entity,
    "numbers": _numbers,
    "encoding": _encoding,
}


def plain_values(draw: st.DrawFn, draft: Draft, *, large: bool = False) -> Made:
    """A hostile event JSON (a plain record's value, or what a sealed one seals)."""
    if large:
        return _huge(draw, draft)
    kind = pick(draw, sorted(_PLAIN))
    return _PLAIN[kind](draw, draft)


# -- sealed envelopes --------------------------------------------------------------------


def _b64(draw: st.DrawFn, odd: tuple[str, ...]) -> str:
    """One of ``odd`` (not base64, or the wrong size), or base64 of random bytes."""
    if draw(st.booleans()):
        return pick(draw, odd)
    return base64.b64encode(draw(st.binary(max_size=200))).decode()


def _hostile_kid(draw: st.DrawFn, scene: Scene, own: str) -> str:
    """A kid that is a path, a name, a key of the wrong kind or of another agency."""
    own_signing = scene.forge.signer(scene.consumer)[0]
    paths = [
        own_signing,
        f"{own}.pem/x",
        f"{own}/..",
        "../keys.json",
        "../../../../etc/passwd",
        "/",
        ".",
        "..",
        "\u0000",
        "x" * 200,
        "a/" * 99,
        own.upper(),
    ]
    paths += [scene.forge.sealing_kid(m) for m in scene.members]  # another agency's
    kid = pick(draw, paths) if draw(st.booleans()) else draw(st.text(min_size=1, max_size=200))
    return kid if kid != own else own + "x"


def _envelope(draw: st.DrawFn, scene: Scene, draft: Draft, kind: str) -> Made:  # noqa: PLR0912
    envelope = json.loads(draft.value)
    mine: dict[str, Any] = next(r for r in envelope["recipients"] if r["agency"] == scene.consumer)
    label = kind
    if kind == "recipients-not-list":
        envelope["recipients"] = pick(draw, ["x", 1, None, {}, True, {"agency": "x"}])
    elif kind == "recipients-not-objects":
        envelope["recipients"] = pick(draw, [[1], ["a"], [[]], [None], [mine, 1]])
    elif kind == "recipients-empty":
        envelope["recipients"] = []
    elif kind == "recipients-many":
        envelope["recipients"] = [mine] * 1025
    elif kind == "entry-missing":
        field = pick(draw, ["agency", "kid", "enc"])
        label = f"recipient without {field}"
        del mine[field]
    elif kind == "entry-extra":
        mine["zz"] = draw(JSON_VALUES)
    elif kind == "kid":
        mine["kid"] = _hostile_kid(draw, scene, mine["kid"])
        label = f"kid {mine['kid'][:40]!r}"
    elif kind == "kid-type":
        mine["kid"] = pick(draw, [1, None, [], {}, True])
    elif kind == "enc":
        mine["enc"] = _b64(draw, ("", "!!!", "AAAA", "A", "====", "x" * 5000, "AA==AA=="))
        label = f"enc {mine['enc'][:20]!r}"
    elif kind == "not-for-us":
        envelope["recipients"] = [r for r in envelope["recipients"] if r is not mine]
    elif kind in ("nonce", "ciphertext"):
        envelope[kind] = _b64(draw, ("", "!!", "AAAA"))
    elif kind == "version":
        envelope["v"] = pick(draw, (2, 0, "1", 1.0, True, None))
    elif kind == "alg":
        envelope["alg"] = pick(draw, ["A128GCM", "none", "", 1])
    else:  # "extra"
        envelope["zz"] = draw(JSON_VALUES)
    return label, json.dumps(envelope).encode()


_ENVELOPE_KINDS = (
    "recipients-not-list",
    "recipients-not-objects",
    "recipients-empty",
    "recipients-many",
    "entry-missing",
    "entry-extra",
    "kid",
    "kid-type",
    "enc",
    "not-for-us",
    "nonce",
    "ciphertext",
    "version",
    "alg",
    "extra",
)


def envelope_values(draw: st.DrawFn, scene: Scene, draft: Draft, *, large: bool = False) -> Made:
    """The sealed value of ``draft`` made hostile: its envelope, or what it seals."""
    kind = pick(
        draw,
        ("sealed-plaintext",)
        if large
        else (*_ENVELOPE_KINDS, "other-record", "deep", "not-an-object", "sealed-plaintext"),
    )
    a = draft.attributes
    if kind == "other-record":  # a real seal, bound to another event id: its AAD differs
        return kind, scene.forge.seal(
            draft.plaintext, event_id=a.id + "x", ce_type=a.type, topic=draft.topic
        )
    if kind == "deep":
        depth = pick(draw, [33, 1000, 100_000])
        return f"deep envelope {depth}", _with_extra(draft.value, "zz", nested(depth))
    if kind == "not-an-object":
        return kind, pick(draw, [b"[]", b"null", b"1", b'"sealed"', draft.value[:-1]])
    if kind == "sealed-plaintext":  # a proper seal around a hostile plaintext
        what, plaintext = plain_values(draw, draft, large=large)
        sealed = scene.forge.seal(plaintext, event_id=a.id, ce_type=a.type, topic=draft.topic)
        return f"sealed: {what}", sealed
    return _envelope(draw, scene, draft, kind)


# -- receipts ----------------------------------------------------------------------------

_RECEIPT = next(e for _, e in examples.example_story() if isinstance(e, ReceiptReceived))
_RECEIPT_IDS: st.SearchStrategy[object] = st.one_of(
    st.text(max_size=200).map(lambda s: "-" + s),  # an event id starts with a letter or digit
    st.text(min_size=1, max_size=200).map(lambda s: s + " "),  # and holds no space
    st.sampled_from(("", "a" * 129, "x\ny", "a b")),
    st.integers(),
    st.none(),
)
_RECEIPT_SOURCES: st.SearchStrategy[object] = st.one_of(
    st.text(max_size=40), st.sampled_from(("urn:silian:agency:1", None, 1))
)
_RECEIPT_TYPES = st.one_of(st.text(max_size=40), st.just("cn.silian.x.y.v0"))


def receipt_drafts(draw: st.DrawFn, scene: Scene, agency: str) -> tuple[Draft, str]:
    """A receipt whose ``answers`` is hostile: ids outside the pattern, wrong types …"""
    draft = scene.forge.draft(agency, _RECEIPT)
    value = json.loads(draft.plaintext)
    answers = value["answers"]
    kind = pick(draw, ["ce_id", "ce_source", "ce_type", "shape", "missing"])
    if kind == "ce_id":
        answers["ce_id"] = draw(_RECEIPT_IDS)
    elif kind == "ce_source":
        answers["ce_source"] = draw(_RECEIPT_SOURCES)
    elif kind == "ce_type":
        answers["ce_type"] = draw(_RECEIPT_TYPES)
    elif kind == "shape":
        value["answers"] = pick(draw, [None, [], "x", 1, [answers]])
    else:
        del answers[pick(draw, ["ce_id", "ce_source", "ce_type"])]
    data = json.dumps(value).encode()
    return replace(draft, value=data, plaintext=data), f"receipt answers: {kind}"
