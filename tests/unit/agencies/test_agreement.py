from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from agencies import (
    Agreement,
    AgreementError,
    AgreementSignature,
    AgreementVerificationError,
    KeyRecord,
    KeyStoreError,
    PermissionDeniedError,
    PermissionRule,
    Permissions,
    SigningKey,
    UnknownAgencyError,
    VerificationError,
    dump_signatures,
    field_digests,
    load_signatures,
    next_agreement,
    sign_agreement,
    sign_as,
    verify_agreement,
)

from .conftest import GUANGFENG, JIANGSHAN, JUDICIAL, PUCHENG, T0, TANSHI, TRIBUNAL, Signed


def test_round_trip_every_member_signs_and_verify_passes(jpg: Signed):
    agreement = verify_agreement(jpg.document, jpg.signatures)
    assert isinstance(agreement, Agreement)
    assert agreement.label == "jpg v1"
    assert [m.code for m in agreement.members] == [JIANGSHAN, PUCHENG, GUANGFENG]
    assert agreement.member(PUCHENG).name_zh == "浦城县公安局"
    assert b"PRIVATE" not in jpg.document


def test_sanshan_round_trip(sanshan: Signed):
    agreement = verify_agreement(sanshan.document, sanshan.signatures)
    assert len(agreement.members) == 6
    assert agreement.member(TRIBUNAL).kind == "partner"


def test_signatures_file_round_trips(jpg: Signed):
    again = load_signatures(dump_signatures(jpg.signatures))
    assert verify_agreement(jpg.document, again).version == 1
    with pytest.raises(AgreementError, match="signature file"):
        load_signatures(b'{"signatures": [{"signer": "x"}]}')


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("江山—浦城—广丰跨区域警务合作协议书", "江山—浦城跨区域警务合作协议书", "name_zh"),
        ('"urgent": "PT15M"', '"urgent": "PT16M"', "deadlines"),
        ('"max_handling": "H3"', '"max_handling": "H2"', "permissions"),
        ('"events_days": 1825', '"events_days": 1826', "retention"),
        ("浦城县公安局", "浦城县公安分局", f"members[{PUCHENG}]"),
        ('"effective_from": "2025-03-01T09', '"effective_from": "2025-03-02T09', "effective_from"),
    ],
)
def test_any_changed_field_is_named_with_the_member(jpg: Signed, old: str, new: str, field: str):
    text = jpg.document.decode()
    assert text.count(old) == 1, old
    tampered = text.replace(old, new).encode()
    with pytest.raises(AgreementVerificationError) as caught:
        verify_agreement(tampered, jpg.signatures)
    assert caught.value.field == field
    assert caught.value.member == JIANGSHAN  # the first member whose signature no longer fits
    assert f"field {field} changed after it signed" in str(caught.value)
    assert "江山市公安局" in str(caught.value)


def test_change_outside_any_field_is_still_caught(jpg: Signed):
    tampered = jpg.document.replace(b'{\n  "format"', b'{\n   "format"', 1)
    assert tampered != jpg.document
    with pytest.raises(AgreementVerificationError, match="outside any field") as caught:
        verify_agreement(tampered, jpg.signatures)
    assert (caught.value.member, caught.value.field) == (JIANGSHAN, None)


def test_every_single_byte_flip_is_rejected(jpg: Signed):
    document = jpg.document
    for index in range(0, len(document), 97):
        tampered = bytearray(document)
        tampered[index] ^= 0x01
        with pytest.raises(AgreementError):
            verify_agreement(bytes(tampered), jpg.signatures)


def test_added_field_is_named(jpg: Signed):
    tampered = jpg.document.replace(b'"version": 1,', b'"version": 1, "extra": 1,', 1)
    with pytest.raises(AgreementVerificationError) as caught:
        verify_agreement(tampered, jpg.signatures)
    assert caught.value.field == "extra"


def test_duplicate_json_key_is_refused(jpg: Signed):
    tampered = jpg.document.replace(b'"version": 1,', b'"version": 1, "version": 1,', 1)
    with pytest.raises(AgreementVerificationError, match="appears twice"):
        verify_agreement(tampered, jpg.signatures)


def test_not_json_is_refused():
    with pytest.raises(AgreementError, match="not valid UTF-8 JSON"):
        verify_agreement(b"\xff{", [])
    with pytest.raises(AgreementError, match="not a JSON object"):
        verify_agreement(b"[1]", [])


@pytest.mark.parametrize("missing", [JIANGSHAN, PUCHENG, GUANGFENG])
def test_missing_signature_names_the_member(jpg: Signed, missing: str):
    kept = [s for s in jpg.signatures if s.signer != missing]
    with pytest.raises(AgreementVerificationError, match="has not signed") as caught:
        verify_agreement(jpg.document, kept)
    assert caught.value.member == missing
    assert missing in str(caught.value)


def test_signature_by_non_member_key_is_rejected(jpg: Signed):
    attacker = SigningKey.generate()
    real = next(s for s in jpg.signatures if s.signer == PUCHENG)
    # Claims to be Pucheng's signature with Pucheng's key id, made with another key.
    forged = real.model_copy(
        update={"signature": base64.b64encode(attacker.sign(real.manifest())).decode()}
    )
    others = [s for s in jpg.signatures if s.signer != PUCHENG]
    with pytest.raises(AgreementVerificationError, match="does not verify") as caught:
        verify_agreement(jpg.document, [*others, forged])
    assert caught.value.member == PUCHENG


def test_signature_with_an_undeclared_key_is_rejected(jpg: Signed):
    attacker = SigningKey.generate()
    key_id = attacker.public_key.key_id(PUCHENG)
    real = next(s for s in jpg.signatures if s.signer == PUCHENG)
    unsigned = real.model_copy(update={"key_id": key_id})
    forged = unsigned.model_copy(
        update={"signature": base64.b64encode(attacker.sign(unsigned.manifest())).decode()}
    )
    others = [s for s in jpg.signatures if s.signer != PUCHENG]
    with pytest.raises(AgreementVerificationError, match="not one of its signing keys") as c:
        verify_agreement(jpg.document, [*others, forged])
    assert (c.value.member, c.value.field) == (PUCHENG, f"members[{PUCHENG}]")


def test_signature_by_an_outsider_is_rejected(jpg: Signed):
    outsider = SigningKey.generate()
    fake = AgreementSignature(
        signer=TANSHI,
        key_id=outsider.public_key.key_id(TANSHI),
        document_sha256="0" * 64,
        fields=field_digests(jpg.document),
        signature=base64.b64encode(b"\x00" * 64).decode(),
    )
    with pytest.raises(AgreementVerificationError, match="not a member") as caught:
        verify_agreement(jpg.document, [*jpg.signatures, fake])
    assert caught.value.member == TANSHI


def test_sign_refuses_a_key_that_is_not_the_declared_one(jpg: Signed):
    agreement = verify_agreement(jpg.document, jpg.signatures)
    key_id = next(k.key_id for k in agreement.member(PUCHENG).keys if k.alg == "ed25519")
    with pytest.raises(AgreementError, match="is not"):
        sign_agreement(jpg.document, signer=PUCHENG, key_id=key_id, key=SigningKey.generate())


def test_signature_by_a_revoked_key_is_rejected_naming_member_and_field(jpg: Signed):
    t1 = T0 + timedelta(hours=1)
    (revoked,) = jpg.keystore.revoke(PUCHENG, now=t1, reason="compromised", key_id=_signing_id(jpg))
    document, unsigned = next_agreement(jpg.document, jpg.keystore, t1 + timedelta(hours=1))
    others = [sign_as(document, signer=c, keystore=jpg.keystore) for c in unsigned if c != PUCHENG]
    with pytest.raises(KeyStoreError, match="no private signing key"):
        sign_as(document, signer=PUCHENG, keystore=jpg.keystore)
    # Signing anyway with the revoked key (someone holding the stolen file):
    stolen = jpg.keystore.signing_key(revoked.key_id)
    forged = sign_agreement(document, signer=PUCHENG, key_id=revoked.key_id, key=stolen)
    with pytest.raises(AgreementVerificationError, match="revoked at") as caught:
        verify_agreement(document, [*others, forged])
    assert (caught.value.member, caught.value.field) == (PUCHENG, f"members[{PUCHENG}]")


def _signing_id(signed: Signed, code: str = PUCHENG) -> str:
    return next(r.key_id for r in signed.keystore.records(code) if r.alg == "ed25519")


# -- queries -----------------------------------------------------------------------------


def test_signing_key_queries_give_reasons(jpg: Signed):
    agreement = verify_agreement(jpg.document, jpg.signatures)
    record: KeyRecord = next(k for k in agreement.member(PUCHENG).keys if k.alg == "ed25519")
    assert agreement.signing_key(record.key_id, T0 + timedelta(days=1)) == record.verify_key()
    with pytest.raises(VerificationError, match="not in force"):
        agreement.signing_key(record.key_id, T0 - timedelta(days=1))
    with pytest.raises(VerificationError, match="unknown key"):
        agreement.signing_key(f"{PUCHENG}:ed25519:0000000000000000", T0)
    with pytest.raises(VerificationError, match="not a member"):
        agreement.signing_key(f"{TANSHI}:ed25519:0000000000000000", T0)
    sealing = next(k for k in agreement.member(PUCHENG).keys if k.alg == "x25519")
    with pytest.raises(VerificationError, match="not a signing key"):
        agreement.signing_key(sealing.key_id, T0)
    assert agreement.sealing_record(PUCHENG, T0) == sealing


def test_deadlines(jpg: Signed):
    agreement = verify_agreement(jpg.document, jpg.signatures)
    assert agreement.deadline("urgent") == timedelta(minutes=15)
    assert agreement.deadline("routine") == timedelta(hours=24)
    assert agreement.deadline("info") == timedelta(hours=72)
    with pytest.raises(ValueError, match="never"):
        agreement.deadline("never")


def test_police_may_publish_and_read_everything_in_jpg(jpg: Signed):
    agreement = verify_agreement(jpg.document, jpg.signatures)
    for family in ("alert", "case", "dispute", "patrol", "liaison", "receipt"):
        agreement.check_publish(GUANGFENG, family, "H3")
        agreement.check_read(GUANGFENG, family, "H3")
    with pytest.raises(UnknownAgencyError, match="not a member"):
        agreement.check_read(TANSHI, "alert", "H0")


def test_partners_never_read_alerts_and_are_bounded_by_rules(sanshan: Signed):
    agreement = verify_agreement(sanshan.document, sanshan.signatures)
    agreement.check_read(TANSHI, "alert", "H3")
    agreement.check_read(JUDICIAL, "dispute", "H1")
    agreement.check_publish(TRIBUNAL, "dispute", "H0")
    with pytest.raises(PermissionDeniedError, match="never read alerts") as caught:
        agreement.check_read(JUDICIAL, "alert", "H0")
    assert "江山市坛石司法所" in str(caught.value)
    with pytest.raises(PermissionDeniedError, match="no rule of the agreement allows it"):
        agreement.check_read(JUDICIAL, "dispute", "H2")
    with pytest.raises(PermissionDeniedError, match="no rule"):
        agreement.check_publish(TRIBUNAL, "alert", "H0")
    with pytest.raises(PermissionDeniedError, match="no rule"):
        agreement.check_publish(TRIBUNAL, "case", "H0")
    with pytest.raises(PermissionDeniedError, match="not a valid"):
        agreement.check_read(TRIBUNAL, "gossip", "H0")


def test_partner_alert_read_is_denied_even_when_a_rule_grants_it():
    generous = Permissions(
        rules=(
            PermissionRule(
                kinds=("partner",),  # type: ignore[arg-type]
                actions=("read", "publish"),  # type: ignore[arg-type]
                families=("alert",),  # type: ignore[arg-type]
                max_handling="H3",  # type: ignore[arg-type]
            ),
        )
    )
    generous.check(who="x", kind="partner", action="publish", family="alert", handling="H0")  # type: ignore[arg-type]
    with pytest.raises(PermissionDeniedError, match="whatever the agreement's rules say"):
        generous.check(who="x", kind="partner", action="read", family="alert", handling="H0")  # type: ignore[arg-type]
