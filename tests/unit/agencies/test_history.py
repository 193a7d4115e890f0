"""Rotation and revocation across agreement versions: records judged at their time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agencies import (
    AgreementError,
    AgreementHistory,
    AgreementVerificationError,
    KeyAlg,
    VerificationError,
    next_agreement,
    sign_agreement,
    sign_as,
    verify_agreement,
)

from .conftest import JIANGSHAN, T0, Signed

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
