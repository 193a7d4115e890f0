"""Validly signed records with hostile fields: what a stolen key, or a buggy member, can
put on the bus.

Each example drafts what a real publisher would send (:class:`~tests.fuzz.forge.Forge`)
— an alert, a sealed alert, or a receipt whose ``answers`` is hostile — applies zero to
three hostile changes (a signed attribute, the value, the sealed envelope, the signing
key) and signs the result with a real member key. Every change is invalid by
construction, so the oracle is exact: a record with no change is valid and must be
delivered; any other must be quarantined.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from hypothesis import strategies as st

from bus.envelope.headers import CONTENT_TYPE_SEALED
from bus.transport.base import OutgoingRecord
from contracts import examples
from contracts.alerts import AlertIssued
from contracts.vocab import Handling, HandlingCode, Priority, Tlp, WarningMarker
from tests.fuzz.draws import pick
from tests.fuzz.forge import Draft, Scene
from tests.fuzz.hostile_fields import attribute_change
from tests.fuzz.hostile_values import envelope_values, plain_values, receipt_drafts

__all__ = ["Forged", "hostile_records"]

_ALERT = next(e for _, e in examples.example_story() if isinstance(e, AlertIssued))
_MARKERS = st.lists(st.sampled_from(tuple(WarningMarker)), unique=True)
_SEALED = Handling(code=HandlingCode.H2, tlp=Tlp.AMBER)  # confidential: sealed for readers


@dataclass(frozen=True, kw_only=True)
class Forged:
    """A signed record, the agency whose key signed it, and what was made hostile."""

    record: OutgoingRecord
    signer: str
    changes: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.changes


def _value_change(draw: st.DrawFn, scene: Scene, draft: Draft, large: bool) -> tuple[str, Draft]:
    if draft.sealed and draft.attributes.content_type == CONTENT_TYPE_SEALED:
        label, value = envelope_values(draw, scene, draft, large=large)
    else:
        label, value = plain_values(draw, draft, large=large)
    return label, replace(draft, value=value)


def _alert(draw: st.DrawFn, counter: Callable[[], int], *, sealed: bool) -> AlertIssued:
    """A valid alert of its own (a fresh id), its words and priority drawn."""
    fields = _ALERT.model_dump(mode="json")
    fields.update(
        alert_id=f"FZ-ALERT-{counter()}",
        reason=draw(st.text(min_size=1, max_size=120)),
        priority=pick(draw, tuple(Priority)).value,
        warning_markers=draw(_MARKERS),
        handling=(_SEALED if sealed else _ALERT.handling).model_dump(mode="json"),
    )
    return AlertIssued.model_validate(fields)


# What an example changes. Mostly one thing, so that each hostile field or value gets
# past the steps before it (a bad signature hides everything after it); sometimes several.
_PLANS = ("value", "value", "value", "attribute", "attribute", "mixed", "valid")


def _signed_by_another(draw: st.DrawFn, scene: Scene, draft: Draft) -> tuple[str, str]:
    """Any member's key but the one ``ce_keyid`` names: the signature never verifies."""
    keyid = draft.attributes.keyid
    signer = pick(draw, [m for m in (*scene.members, scene.consumer) if not keyid.startswith(m)])
    return signer, f"signed by {signer}, ce_keyid {keyid[:40]!r}"


@st.composite
def _hostile(
    draw: st.DrawFn,
    scene: Scene,
    counter: Callable[[], int],
    large: bool,
    templates: tuple[str, ...],
) -> Forged:
    agency = pick(draw, scene.members)
    template = pick(draw, tuple(t for t in templates if t != "receipt") if large else templates)
    changes: list[str] = []
    if template == "receipt":  # its value is the hostile part already
        draft, label = receipt_drafts(draw, scene, agency)
        changes.append(label)
    else:
        draft = scene.forge.draft(agency, _alert(draw, counter, sealed=template != "alert"))
    plan = "value" if large else pick(draw, _PLANS)
    if plan == "value" and not changes:
        label, draft = _value_change(draw, scene, draft, large)
        changes.append(label)
    elif plan == "attribute" or (plan == "value" and changes):
        label, draft = attribute_change(draw, scene, draft)
        changes.append(label)
    signer = agency
    if plan == "mixed":
        value_changed = bool(changes)
        for _ in range(pick(draw, (2, 3))):
            # One value change at most: a second would only replace the first.
            kinds = ("attribute", "signer") if value_changed else ("attribute", "value", "signer")
            what = pick(draw, kinds)
            if what == "attribute":
                label, draft = attribute_change(draw, scene, draft)
            elif what == "signer":
                signer, label = _signed_by_another(draw, scene, draft)
            else:
                label, draft = _value_change(draw, scene, draft, False)
                value_changed = True
            changes.append(label)
    return Forged(
        record=scene.forge.sign(draft, signer=signer), signer=signer, changes=tuple(changes)
    )


def hostile_records(
    scene: Scene,
    counter: Callable[[], int],
    *,
    large: bool = False,
    templates: tuple[str, ...] = ("alert", "sealed-alert", "receipt"),
) -> st.SearchStrategy[Forged]:
    """Validly signed records of ``scene.members``, one in fifteen or so left valid (the
    controls); ``large``: each with a value of half a megabyte or more (never valid);
    ``templates``: what is drafted (an auditor, who opens no seal, takes no sealed one)."""
    return _hostile(scene, counter, large, templates)
