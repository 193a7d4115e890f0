"""Rotation and revocation across agreement versions: records judged at their time."""

from __future__ import annotations

import pickle
from datetime import timedelta

import pytest

from agencies import (
    Agreement,
    AgreementError,
    AgreementHistory,
    AgreementVerificationError,
    KeyAlg,
    KeyStore,
    VerificationError,
    agreement_bytes,
    next_agreement,
    parse_agreement,
    sign_agreement,
    sign_as,
    verify_agreement,
)

from .conftest import GUANGFENG, JIANGSHAN, PUCHENG, T0, Signed

T1 = T0 + timedelta(days=30)  # Jiangshan rotates its keys
DAY = timedelta(days=1)


def _sign_all(document: bytes, signed: Signed, codes: tuple[str, ...]) -> list:  # type: ignore[type-arg]
    return [sign_as(document, signer=c, keystore=signed.keystore) for c in codes]


def test_rotation_old_window_verifies_after_window_does_not(jpg: Signed):
    store = jpg.keystore
    history = AgreementHistory()
    history.add(jpg.document, jpg.signatures)
    old = store.current(JIANGSHAN, KeyAlg.ED25519, at=T0)
    old_key = store.signing_key(old.key_id)
    # A record signed by the old key inside its window, before the rotation.
    message_in_window = b"alert.issued at T0+10d"
    sig_in_window = old_key.sign(message_in_window)
    # Rotate, then a new version signed by all with the current keys.
    new = store.rotate(JIANGSHAN, now=T1).signing
    v2_doc, unsigned = next_agreement(jpg.document, store, T1)
    v2 = history.add(v2_doc, _sign_all(v2_doc, jpg, unsigned))
    assert v2.version == 2
    assert history.in_force_at(T1 - DAY).version == 1
    assert history.in_force_at(T1 + DAY).version == 2
    # Signed in the old window: still verifies.
    history.signing_key(old.key_id, T0 + 10 * DAY).verify(sig_in_window, message_in_window)
    # Signed by the old key after its valid_until: refused, whichever version is asked.
    with pytest.raises(VerificationError, match="expired"):
        history.signing_key(old.key_id, T1 + DAY)
    with pytest.raises(VerificationError, match="expired"):
        v2.signing_key(old.key_id, T1 + DAY)
    # The new key works from T1, and not before (v1 never declared it).
    assert history.signing_key(new.key_id, T1 + DAY) == new.verify_key()
    with pytest.raises(VerificationError, match="unknown key"):
        history.signing_key(new.key_id, T0 + DAY)


def test_new_version_signed_with_the_retired_key_is_refused(jpg: Signed):
    store = jpg.keystore
    old = store.current(JIANGSHAN, KeyAlg.ED25519, at=T0)
    store.rotate(JIANGSHAN, now=T1)
    v2_doc, unsigned = next_agreement(jpg.document, store, T1)
    others = _sign_all(v2_doc, jpg, tuple(c for c in unsigned if c != JIANGSHAN))
    stale = sign_agreement(
        v2_doc, signer=JIANGSHAN, key_id=old.key_id, key=store.signing_key(old.key_id)
    )
    with pytest.raises(AgreementVerificationError, match="expired") as caught:
        verify_agreement(v2_doc, [*others, stale])
    assert (caught.value.member, caught.value.field) == (JIANGSHAN, f"members[{JIANGSHAN}]")


def test_revocation_in_a_later_version_applies_from_revoked_at(jpg: Signed):
    store = jpg.keystore
    history = AgreementHistory()
    history.add(jpg.document, jpg.signatures)
    key = store.current(JIANGSHAN, KeyAlg.ED25519, at=T0)
    compromised_at = T0 + 5 * DAY
    store.revoke(JIANGSHAN, now=compromised_at, reason="私钥泄露 key leaked")
    store.new(JIANGSHAN, now=T1)
    v2_doc, unsigned = next_agreement(jpg.document, store, T1)
    history.add(v2_doc, _sign_all(v2_doc, jpg, unsigned))
    # Before the compromise: fine. After: refused, though v1 was in force then.
    assert history.signing_key(key.key_id, compromised_at - DAY) == key.verify_key()
    with pytest.raises(VerificationError, match=r"revoked at .*key leaked.*\(per jpg v2\)"):
        history.signing_key(key.key_id, compromised_at + DAY)


def test_history_requires_an_unbroken_chain(jpg: Signed):
    store = jpg.keystore
    history = AgreementHistory()
    with pytest.raises(AgreementError, match="no agreement version"):
        _ = history.latest
    with pytest.raises(VerificationError, match="no agreement version was in force"):
        history.in_force_at(T0)
    v2_doc, unsigned = next_agreement(jpg.document, store, T1)
    v2_sigs = _sign_all(v2_doc, jpg, unsigned)
    with pytest.raises(AgreementError, match="starts at version 1"):
        history.add(v2_doc, v2_sigs)
    history.add(jpg.document, jpg.signatures)
    with pytest.raises(AgreementError, match="does not follow"):
        history.add(jpg.document, jpg.signatures)
    # A v2 that does not chain to these v1 bytes.
    other_v1 = jpg.document.replace(b'"version": 1', b'"version": 1 ', 1)
    v2_other, _ = next_agreement(other_v1, store, T1)
    with pytest.raises(AgreementError, match="previous_digest"):
        history.add(v2_other, _sign_all(v2_other, jpg, unsigned))
    history.add(v2_doc, v2_sigs)
    assert history.latest.version == 2
    assert [v.version for v in history.versions] == [1, 2]


def test_history_permissions_follow_the_version_in_force(jpg: Signed):
    history = AgreementHistory()
    history.add(jpg.document, jpg.signatures)
    history.check_publish(JIANGSHAN, "alert", "H3", at=T0)
    history.check_read(JIANGSHAN, "case", "H3", at=T0 + DAY)
    with pytest.raises(VerificationError):
        history.check_read(JIANGSHAN, "case", "H3", at=T0 - DAY)


# -- what a next version may not do (check_succession) --------------------------------------


def _v2_with(jpg: Signed, code: str | None = None, keys=None) -> bytes:  # type: ignore[no-untyped-def]
    """v2 from the key store as it is, with member ``code``'s keys replaced by ``keys(old)``."""
    v2_doc, _ = next_agreement(jpg.document, jpg.keystore, T1)
    model = parse_agreement(v2_doc)
    members = [
        m.model_copy(update={"keys": tuple(keys(m))}) if code in (None, m.code) else m
        for m in model.members
    ]
    dumped = {**model.model_dump(), "members": [m.model_dump() for m in members]}
    return agreement_bytes(Agreement.model_validate(dumped))


def _codes(jpg: Signed) -> tuple[str, ...]:
    return tuple(m.code for m in parse_agreement(jpg.document).members)


def _v1(jpg: Signed) -> AgreementHistory:
    history = AgreementHistory()
    history.add(jpg.document, jpg.signatures)
    return history


def test_a_version_signed_only_with_keys_it_declares_itself_is_refused(jpg: Signed, tmp_path):
    """Whoever can write the agreement topic must not be able to replace every member's keys."""
    history = _v1(jpg)
    forger = KeyStore(tmp_path / "forger")
    for code in _codes(jpg):
        forger.new(code, now=T0)
    forged = _v2_with(jpg, keys=lambda m: forger.records(m.code))
    signatures = [sign_as(forged, signer=c, keystore=forger) for c in _codes(jpg)]
    verify_agreement(forged, signatures)  # well formed and self-consistent ...
    with pytest.raises(AgreementVerificationError, match=r"only 0 of jpg v1's 3 members"):
        history.add(forged, signatures)  # ... but not consented to by v1's members
    assert history.latest.version == 1


def test_two_of_three_members_carry_a_version_where_one_signs_with_a_new_key(jpg: Signed):
    history = _v1(jpg)
    jpg.keystore.revoke(JIANGSHAN, now=T1, reason="key leaked")
    jpg.keystore.new(JIANGSHAN, now=T1)
    v2_doc, unsigned = next_agreement(jpg.document, jpg.keystore, T1)
    assert history.add(v2_doc, _sign_all(v2_doc, jpg, unsigned)).version == 2


def test_a_version_that_widens_a_key_window_is_refused_naming_member_and_field(jpg: Signed):
    history = _v1(jpg)
    widened = _v2_with(
        jpg,
        PUCHENG,
        lambda m: [k.model_copy(update={"valid_from": k.valid_from - DAY}) for k in m.keys],
    )
    with pytest.raises(AgreementVerificationError, match="widens the window") as caught:
        history.add(widened, _sign_all(widened, jpg, _codes(jpg)))
    assert (caught.value.member, caught.value.field) == (PUCHENG, f"members[{PUCHENG}]")
    assert history.latest.version == 1


def test_a_version_may_not_end_a_key_before_it_takes_effect(jpg: Signed):
    """Records signed between the end and effective_from were accepted under v1."""
    history = _v1(jpg)
    jpg.keystore.rotate(GUANGFENG, now=T1)

    def ended(m):  # type: ignore[no-untyped-def]
        return [
            k.model_copy(update={"valid_until": T1 - DAY}) if k.valid_from < T1 else k
            for k in m.keys
        ]

    early = _v2_with(jpg, GUANGFENG, ended)
    with pytest.raises(AgreementVerificationError, match="before jpg v2 takes effect") as caught:
        history.add(early, _sign_all(early, jpg, _codes(jpg)))
    assert caught.value.member == GUANGFENG


def test_next_agreement_ends_a_rotated_key_when_the_version_takes_effect(jpg: Signed):
    """keys rotate ends the old key now; the next version moves that end to its own start."""
    history = _v1(jpg)
    old = jpg.keystore.current(GUANGFENG, KeyAlg.ED25519, at=T0)
    jpg.keystore.rotate(GUANGFENG, now=T1)
    v2_doc, unsigned = next_agreement(jpg.document, jpg.keystore, T1, effective_from=T1 + DAY)
    v2 = history.add(v2_doc, _sign_all(v2_doc, jpg, unsigned))
    assert v2.member(GUANGFENG).key(old.key_id).valid_until == T1 + DAY  # type: ignore[union-attr]
    assert history.signing_key(old.key_id, T1 + DAY / 2) == old.verify_key()


def test_a_key_staged_out_in_v2_keeps_that_end_in_v3(jpg: Signed):
    """v3 is made from a key store whose record of the old key still ends at the rotation."""
    history = _v1(jpg)
    old = jpg.keystore.current(GUANGFENG, KeyAlg.ED25519, at=T0)
    jpg.keystore.rotate(GUANGFENG, now=T1)
    v2_doc, unsigned = next_agreement(jpg.document, jpg.keystore, T1, effective_from=T1 + DAY)
    history.add(v2_doc, _sign_all(v2_doc, jpg, unsigned))
    v3_doc, unsigned = next_agreement(v2_doc, jpg.keystore, T1, effective_from=T1 + 2 * DAY)
    v3 = history.add(v3_doc, _sign_all(v3_doc, jpg, unsigned))
    assert v3.member(GUANGFENG).key(old.key_id).valid_until == T1 + DAY  # type: ignore[union-attr]


def test_a_history_that_judged_keys_goes_to_another_process(jpg: Signed):
    """The auditor hands its history to worker processes after judging records itself:
    the key windows it keeps hold key objects no pickle carries, and are not sent."""
    history = AgreementHistory()
    history.add(jpg.document, jpg.signatures)
    key = jpg.keystore.current(JIANGSHAN, KeyAlg.ED25519, at=T0)
    judged = history.signing_key(key.key_id, T0 + DAY)
    copy = pickle.loads(pickle.dumps(history))  # noqa: S301 - our own bytes, as a pool sends them
    assert copy.latest.version == 1
    assert copy.signing_key(key.key_id, T0 + DAY).public_bytes_raw() == judged.public_bytes_raw()
