"""Signed attributes no publisher would sign: one strategy per field of the signature base.

Every value drawn for a field is invalid for the draft at hand by construction — never
what a publisher would put there (a fresh, well-placed chain id of the issuer, the right
seq, a time within the skew window are all left out; a drawn value that happens to be the
publisher's own is bent) — so a record with any one of them must be quarantined,
whatever else it holds.

The strategies are built once (per agency and topic where they depend on them): hypothesis
validates and analyses every strategy object it is handed, which costs more than the draw.
"""

from __future__ import annotations

from datetime import timedelta, timezone

from hypothesis import strategies as st

from bus.envelope.handling import format_handling
from bus.envelope.headers import CONTENT_TYPE_JSON, CONTENT_TYPE_SEALED, GENESIS, SPEC_VERSION
from bus.envelope.ids import now, parse_time
from bus.pipeline import SEQ_MAX
from contracts.registry import REGISTRY
from contracts.vocab import Handling, HandlingCode, Priority, Tlp
from tests.fuzz.forge import Draft, Scene

__all__ = ["attribute_change"]

_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_TEXT = st.text(_PRINTABLE, min_size=1, max_size=60)
_LONG = st.integers(4097, 6000).map(lambda n: "x" * n)  # over the header limit
_HANDLINGS = tuple(format_handling(Handling(code=c, tlp=t)) for c in HandlingCode for t in Tlp)
_PRIORITIES = frozenset(p.value for p in Priority)
_TIMES = (
    "9999-12-31T23:59:59.999999999-23:59",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00Z",
    "2026-02-30T12:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-06-30T23:59:60Z",
    "2026-01-01T00:00:00+24:00",
    "2026-01-01T00:00:00+99:99",
    "2026-01-01T00:00:00.Z",
    "2026-01-01 00:00:00Z",
    "20260101T000000Z",
    "2026-01-01",
    "2026-01-01T00:00:00",
)
_SEQS = (
    str(10**30),
    " 1",
    "1 ",
    "1_0",
    "0",
    "-1",
    "01",
    "+1",
    "1e3",
    "0x1",
    "1.0",
    str(SEQ_MAX),  # well formed: a gap on a fresh chain
    str(SEQ_MAX + 1),
    str(2**64),
)
_HEX = st.binary(min_size=32, max_size=32)


def _far_from_now(drawn: tuple[int, int]) -> str:
    """A time ``minutes`` from now (outside the skew window), at a UTC offset."""
    minutes, offset = drawn
    zone = timezone(timedelta(minutes=offset))
    try:
        return (now() + timedelta(minutes=minutes)).astimezone(zone).isoformat()
    except OverflowError:  # past year 9999 or before year 1
        return _TIMES[0]


def _time(drawn: str) -> str:
    """``drawn``, unless it is a time within the skew window (5 min ahead, 1 h behind,
    with a margin for the example's own time): then one far out of it."""
    try:
        delta = parse_time(drawn) - now()
    except ValueError:
        return drawn
    return _TIMES[0] if timedelta(minutes=-70) < delta < timedelta(minutes=10) else drawn


# Field -> what a drawn value is made of; "text" values are bent below when they happen to
# be the publisher's own value.
_STATIC: dict[str, st.SearchStrategy[str]] = {
    "specversion": st.one_of(st.sampled_from(("1.1", "0.3", " 1.0", "1.0 ")), _TEXT),
    "id": st.one_of(
        _TEXT.map(lambda s: "-" + s),  # an event id starts with a letter or a digit
        _TEXT.map(lambda s: s + " "),  # and holds no space
        st.sampled_from(("-x", "a" * 129, "x y", "a/b", ".x", "x\\y")),
    ),
    "time": st.one_of(
        st.sampled_from(_TIMES),
        st.tuples(
            st.one_of(st.integers(10, 10**7), st.integers(-(10**7), -70)),
            st.integers(-23 * 60, 23 * 60),
        ).map(_far_from_now),
        _TEXT,
    ),
    "subject": st.one_of(_TEXT, _LONG),
    "content_type": st.one_of(st.just("<other>"), _TEXT),
    "dataschema": st.one_of(_TEXT, _LONG),
    "handling": st.one_of(st.sampled_from(_HANDLINGS), _TEXT),
    "priority": _TEXT,
    "chainseq": st.one_of(st.sampled_from(_SEQS), st.integers(2, SEQ_MAX).map(str), _TEXT),
    "prevhash": st.one_of(
        _HEX.map(bytes.hex),
        _HEX.map(lambda b: b.hex().upper()),
        st.sampled_from((GENESIS[:-1], GENESIS + "0")),
        _TEXT,
    ),
}
_FIELD = st.sampled_from((*_STATIC, "source", "type", "keyid", "chainid"))


class _PerDraft:
    """The strategies that depend on the draft's agency, topic and type, built once each."""

    def __init__(self, scene: Scene) -> None:
        self._scene = scene
        self._cache: dict[tuple[str, ...], st.SearchStrategy[str]] = {}

    def get(self, field: str, draft: Draft) -> st.SearchStrategy[str]:
        key = (field, draft.agency, draft.topic, str(draft.partition), draft.ce_type)
        if key not in self._cache:
            self._cache[key] = self._build(field, draft)
        return self._cache[key]

    def _build(self, field: str, draft: Draft) -> st.SearchStrategy[str]:
        scene, agency, a = self._scene, draft.agency, draft.canonical
        others = [m for m in scene.members if m != agency] + [scene.consumer]
        partition = draft.partition
        if field == "source":
            return st.one_of(
                st.sampled_from(tuple(f"urn:silian:agency:{m}" for m in others)),
                st.just("urn:silian:agency:999999999999"),  # not a member
                _TEXT,
            )
        if field == "type":
            return st.one_of(
                st.sampled_from(tuple(s.ce_type for s in REGISTRY.specs())),
                st.sampled_from((a.type[:-1] + "9", a.type[:-1] + "0", a.type + "1")),
                st.just(a.type.upper()),
                _TEXT,
            )
        if field == "keyid":
            return st.one_of(
                st.sampled_from(tuple(scene.forge.signer(m)[0] for m in others)),
                st.just(scene.forge.sealing_kid(agency)),  # a key of the wrong kind
                _HEX.map(lambda b: f"{agency}:ed25519:{b[:8].hex()}"),  # no such key
                _TEXT,
            )
        # chainid: another agency's, another partition's, a real one again (a fork), text
        real = scene.real_chains.get((agency, draft.topic), [])
        return st.one_of(
            st.sampled_from(tuple(f"{m}.fuzz.p{partition}" for m in others)),
            st.sampled_from(tuple(f"{agency}.fuzz.p{p}" for p in range(8) if p != partition)),
            *([st.sampled_from(tuple(real))] if real else []),
            st.one_of(_TEXT, _LONG),
        )


def _valid(field: str, value: str, draft: Draft, scene: Scene) -> bool:
    """Whether ``value`` is what a publisher could sign in ``field`` for this draft."""
    a = draft.canonical
    if field == "chainid":  # a new chain of the issuer on this partition (seq 1 is its first)
        placed = value.startswith(f"{draft.agency}.") and value.endswith(f".p{draft.partition}")
        return placed and value not in scene.real_chains.get((draft.agency, draft.topic), [])
    if field == "priority":
        return value in _PRIORITIES
    return bool(value == getattr(a, field))


def _bent(field: str, value: str, draft: Draft, scene: Scene) -> str:
    """A drawn value made invalid for ``field`` if it happened to be valid."""
    if field == "time":
        return _time(value)
    if field == "content_type" and value == "<other>":  # the other content type
        return CONTENT_TYPE_JSON if draft.sealed else CONTENT_TYPE_SEALED
    if field == "handling" and value == draft.canonical.handling:  # the next one
        return _HANDLINGS[(_HANDLINGS.index(value) + 1) % len(_HANDLINGS)]
    publishable = (
        (field == "content_type" and value in (CONTENT_TYPE_JSON, CONTENT_TYPE_SEALED))
        or (field == "specversion" and value == SPEC_VERSION)
        or _valid(field, value, draft, scene)
    )
    if not publishable:
        return value
    return value + ("/x" if field == "chainid" else "x")


_STRATEGIES: dict[int, _PerDraft] = {}


def attribute_change(draw: st.DrawFn, scene: Scene, draft: Draft) -> tuple[str, Draft]:
    """``draft`` with one signed attribute replaced by a value no publisher would sign
    (judged against what the publisher made, so a second change never puts it back)."""
    field = draw(_FIELD)
    if field in _STATIC:
        value = draw(_STATIC[field])
    else:
        per_draft = _STRATEGIES.setdefault(id(scene), _PerDraft(scene))
        value = draw(per_draft.get(field, draft))
    if field == "id" and draw(st.booleans()):
        used = scene.used_ids.get(draft.agency)
        if used:  # an id this agency already used: a replay of a kind
            value = used[draw(st.integers(0, len(used) - 1))]
    value = _bent(field, value, draft, scene)
    return f"{field}={value[:60]!r}", draft.with_attributes(**{field: value})
