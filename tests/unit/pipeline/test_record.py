"""Steps 1–6 of the pipeline, each on its own: shape, issuer, time, key, signature, fields.

Each refusal is a :class:`RecordRejectedError` with its :class:`Reason`; a refusal after
the signature verified (step 6) names the signer, none before it does.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agencies.keys import KeyAlg, SigningKey
from bus.envelope.headers import GENESIS, Attributes
from bus.envelope.ids import parse_time
from bus.envelope.signature import record_hash, signature_base
from bus.errors import RecordRejectedError
from bus.pipeline import SEQ_MAX, VerifiedRecord, VerifyPolicy, parse_seq, verify_record
from bus.pipeline.record import check_fields, check_shape, issuer_of
from bus.reasons import Reason
from bus.transport.base import Record, TimestampType
from tests.unit.histories import (
    GUANGFENG,
    JIANGSHAN,
    PUCHENG,
    T0,
    T_CHANGE,
    Federation,
    build_federation,
)
from tests.unit.records import header, signed, with_header

SIGNER_KEY = "330881000000:ed25519:0123456789abcdef"
GOOD = Attributes(
    specversion="1.0",
    id="01a215ef-3566-7daa-ad31-bd4dd4855fc4",
    source="urn:silian:agency:330881000000",
    type="cn.silian.alert.issued.v1",
    time="2025-03-01T09:00:00.000+08:00",
    subject="JS-ALERT-2024-0117",
    content_type="application/json",
    dataschema="urn:silian:schema:alert.issued.v1",
    handling="H1/TLP:GREEN",
    priority="routine",
    keyid=SIGNER_KEY,
    chainid="330881000000.main.0123456789ab.p0",
    chainseq="7",
    prevhash="ab" * 32,
)


def _refused(
    reason: Reason, run: Callable[..., object], *args: object, **kwargs: object
) -> RecordRejectedError:
    """Call ``run`` and return its refusal, which must be for ``reason``."""
    with pytest.raises(RecordRejectedError) as caught:
        run(*args, **kwargs)
    assert caught.value.reason is reason, caught.value
    return caught.value


def _bare(
    value: bytes | None = b"{}",
    *,
    key: bytes | None = b"k",
    headers: tuple[tuple[str, bytes | None], ...] = (),
    timestamp_type: TimestampType = TimestampType.LOG_APPEND_TIME,
) -> Record:
    return Record(
        topic="t",
        partition=0,
        offset=0,
        key=key,
        value=value,
        headers=headers,
        timestamp_ms=0,
        timestamp_type=timestamp_type,
    )


# -- step 1: shape and limits, before anything is parsed ------------------------------------

SMALL = VerifyPolicy(max_value_bytes=10, max_key_bytes=4, max_headers=3, max_header_bytes=8)


def test_shape_returns_the_value_itself() -> None:
    record = _bare(b"0123456789", key=b"1234", headers=(("a", b"1234567"),) * 3)
    assert check_shape(record, SMALL) is record.value  # every limit reached, none exceeded


def test_a_tombstone_has_no_value() -> None:
    error = _refused(Reason.NO_VALUE, check_shape, _bare(None), VerifyPolicy())
    assert "tombstone" in error.detail
    assert error.signer is None


def test_a_time_the_producer_chose_is_not_trusted() -> None:
    error = _refused(
        Reason.UNTRUSTED_TIME,
        check_shape,
        _bare(timestamp_type=TimestampType.CREATE_TIME),
        VerifyPolicy(),
    )
    assert "LogAppendTime" in error.detail


def test_a_tombstone_is_refused_before_its_time_is_judged() -> None:
    record = _bare(None, timestamp_type=TimestampType.CREATE_TIME)
    _refused(Reason.NO_VALUE, check_shape, record, VerifyPolicy())


@pytest.mark.parametrize(
    ("record", "words"),
    [
        (_bare(b"0123456789A"), "value of 11 bytes exceeds the limit of 10"),
        (_bare(key=b"12345"), "key of 5 bytes exceeds the limit of 4"),
        (_bare(headers=(("a", b"1"),) * 4), "4 headers exceed the limit of 3"),
        (_bare(headers=(("ab", b"1234567"),)), "a header of 9 bytes exceeds the limit of 8"),
        (_bare(headers=(("123456789", None),)), "a header of 9 bytes exceeds the limit of 8"),
    ],
    ids=["value", "key", "header-count", "header-size", "null-header-name-counts"],
)
def test_each_limit_is_one_byte_too_many_and_named(record: Record, words: str) -> None:
    assert _refused(Reason.OVERSIZED, check_shape, record, SMALL).detail == words


def test_a_null_key_and_null_header_values_keep_every_limit() -> None:
    record = _bare(key=None, headers=(("ce_id", None), ("x", None)))
    assert check_shape(record, SMALL) == b"{}"


def test_the_default_limits_are_the_documented_ones() -> None:
    # docs/wire-format.md step 1: key ≤ 1 KiB, value ≤ 512 KiB, ≤ 32 headers, none > 4 KiB
    policy = VerifyPolicy()
    assert (policy.max_key_bytes, policy.max_value_bytes) == (1024, 512 * 1024)
    assert (policy.max_headers, policy.max_header_bytes) == (32, 4096)
    assert (policy.max_ahead, policy.max_behind) == (timedelta(minutes=5), timedelta(hours=1))
    check_shape(_bare(b"x" * 512 * 1024, key=b"k" * 1024), policy)
    _refused(Reason.OVERSIZED, check_shape, _bare(b"x" * (512 * 1024 + 1)), policy)


# -- step 3: the issuer ---------------------------------------------------------------------


def test_the_issuer_is_the_agency_of_the_source() -> None:
    assert issuer_of(GOOD) == JIANGSHAN


@pytest.mark.parametrize(
    "source",
    [
        "urn:silian:agency:33088100000",  # 11 digits
        "urn:silian:agency:3308810000001",  # 13 digits
        "urn:silian:agency:33088100000x",
        "URN:SILIAN:AGENCY:330881000000",
        "urn:silian:partner:330881000000",
        "330881000000",
        "urn:silian:agency:330881000000 ",
    ],
)
def test_a_source_that_is_not_an_agency_urn_is_malformed(source: str) -> None:
    error = _refused(Reason.MALFORMED_HEADERS, issuer_of, GOOD._replace(source=source))
    assert "is not an agency URN" in error.detail


@pytest.mark.parametrize(
    "keyid",
    [
        "350722000000:ed25519:0123456789abcdef",  # another member's key
        "33088100000:ed25519:0123456789abcdef",  # a prefix of the issuer's code
        "x330881000000:ed25519:0123456789abcdef",
        ":330881000000:ed25519:0123456789abcdef",
        "3308810000001:ed25519:0123456789abcdef",  # the issuer's code is a prefix of it
        "330881000000x:ed25519:0123456789abcdef",
    ],
)
def test_a_key_of_another_agency_is_unknown(keyid: str) -> None:
    error = _refused(Reason.UNKNOWN_KEY, issuer_of, GOOD._replace(keyid=keyid))
    assert "does not belong to urn:silian:agency:330881000000" in error.detail


# -- ce_chainseq --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seq"), [("1", 1), ("9", 9), ("10", 10), ("1000", 1000), (str(SEQ_MAX), SEQ_MAX)]
)
def test_a_seq_is_a_plain_decimal(text: str, seq: int) -> None:
    assert parse_seq(text) == seq


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0",
        "-1",
        "+1",
        "01",
        " 1",
        "1 ",
        "1_000",
        "1e3",
        "0x10",
        "\u0661",  # ARABIC-INDIC DIGIT ONE: int() takes it, the wire format does not
        "\uff11",  # FULLWIDTH DIGIT ONE
        str(SEQ_MAX + 1),
        "9" * 20,
    ],
)
def test_anything_else_is_not_a_seq(text: str) -> None:
    with pytest.raises(ValueError, match="is not a decimal from 1 to 2\\^63-1"):
        parse_seq(text)


def test_the_largest_seq_is_what_a_signed_64_bit_integer_holds() -> None:
    assert SEQ_MAX == 9_223_372_036_854_775_807


# -- step 6: the other signed fields --------------------------------------------------------


def test_well_formed_fields_give_the_seq() -> None:
    assert check_fields(GOOD, signer=JIANGSHAN) == 7
    for content_type in ("application/json", "application/vnd.silian.sealed+json"):
        assert check_fields(GOOD._replace(content_type=content_type), signer=JIANGSHAN) == 7
    assert check_fields(GOOD._replace(prevhash=GENESIS, chainseq="1"), signer=JIANGSHAN) == 1


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("specversion", "0.3", "ce_specversion '0.3' is not 1.0"),
        ("id", "-starts-with-a-dash", "ce_id '-starts-with-a-dash' is not an event id"),
        ("id", "a" * 129, "is not an event id"),
        ("id", "has space", "is not an event id"),
        ("type", "cn.silian.alert.issued", "is not a silian event type"),
        ("type", "cn.silian.alert.issued.v0", "is not a silian event type"),
        ("type", "org.example.alert.issued.v1", "is not a silian event type"),
        ("prevhash", "AB" * 32, "ce_prevhash 'ABAB"),
        ("prevhash", "ab" * 31 + "a", "is not 64 lowercase hex"),
        ("prevhash", "ab" * 33, "is not 64 lowercase hex"),
        ("priority", "URGENT", "ce_priority 'URGENT' is not one of"),
        ("handling", "H4/TLP:GREEN", "ce_handling 'H4/TLP:GREEN' is not valid"),
        ("handling", "H1/TLP:green", "is not valid"),
        ("content_type", "text/plain", "content-type 'text/plain' unknown"),
        ("chainseq", "0", "ce_chainseq '0' is not a decimal"),
        ("chainseq", "07", "ce_chainseq '07' is not a decimal"),
    ],
)
def test_a_malformed_field_is_refused_naming_it_and_the_signer(
    field: str, value: str, words: str
) -> None:
    error = _refused(
        Reason.MALFORMED_HEADERS,
        check_fields,
        GOOD._replace(**{field: value}),
        signer=PUCHENG,
    )
    assert words in error.detail
    assert error.detail.endswith(f"(validly signed by {PUCHENG})")
    assert error.signer == PUCHENG


def test_a_huge_malformed_field_is_cut_short_in_the_refusal() -> None:
    error = _refused(
        Reason.MALFORMED_HEADERS, check_fields, GOOD._replace(id="-" * 4000), signer=PUCHENG
    )
    assert len(error.detail) < 300


# -- steps 1–6 together: verify_record ------------------------------------------------------


def test_a_good_record_verifies_into_everything_the_later_steps_need(
    federation: Federation,
) -> None:
    record = signed(federation, at=T0 + timedelta(minutes=3), chainseq="4", prevhash="cd" * 32)
    verified = verify_record(record, federation.agreements)
    assert isinstance(verified, VerifiedRecord)
    assert verified.record is record
    assert verified.value is record.value
    assert verified.agency == JIANGSHAN
    assert verified.seq == 4
    assert verified.time == T0 + timedelta(minutes=3)
    assert verified.time == parse_time(verified.attributes.time)
    assert verified.attributes.prevhash == "cd" * 32
    assert dict(verified.attributes.as_headers()) == {
        n: v.decode() for n, v in record.headers if n != "ce_signature" and v is not None
    }
    signature = base64.b64decode(header(record, "ce_signature") or b"")
    assert verified.signature == signature
    base = signature_base(
        topic=record.topic, key=record.key, attributes=verified.attributes, value=record.value
    )
    assert verified.base == base
    assert verified.hash == record_hash(base, signature)
    assert verified.checkpointed is False


def test_the_steps_run_in_order(federation: Federation) -> None:
    record = signed(federation, chainseq="0")
    # a tombstone (1) before missing headers (2) before a bad issuer (3) before a bad
    # signature (5) before a malformed field (6)
    tombstone = dataclasses.replace(record, value=None, headers=())
    assert _refused(Reason.NO_VALUE, verify_record, tombstone, federation.agreements)
    headless = dataclasses.replace(record, headers=record.headers[1:])
    error = _refused(Reason.MALFORMED_HEADERS, verify_record, headless, federation.agreements)
    assert "missing header ce_specversion" in error.detail
    stranger = with_header(record, "ce_source", b"urn:silian:agency:1")
    error = _refused(Reason.MALFORMED_HEADERS, verify_record, stranger, federation.agreements)
    assert "is not an agency URN" in error.detail
    altered = dataclasses.replace(record, value=(record.value or b"") + b" ")
    error = _refused(Reason.BAD_SIGNATURE, verify_record, altered, federation.agreements)
    assert error.signer is None  # the signature did not verify: nobody is named
    error = _refused(Reason.MALFORMED_HEADERS, verify_record, record, federation.agreements)
    assert error.signer == JIANGSHAN


def test_the_policy_is_the_callers(federation: Federation) -> None:
    record = signed(federation)
    size = len(record.value or b"")
    tight = VerifyPolicy(max_value_bytes=size - 1)
    _refused(Reason.OVERSIZED, verify_record, record, federation.agreements, tight)
    verify_record(record, federation.agreements, VerifyPolicy(max_value_bytes=size))


# -- step 3: ce_time against the broker's append time ---------------------------------------


@pytest.mark.parametrize(
    "time",
    [
        "2025-03-01 09:00:00.000+08:00",  # ISO 8601's space, not RFC 3339's T
        "2025-03-01T09:00:00.000",  # no offset
        "20250301T090000Z",
        "2025-03-01",
        "2025-02-30T09:00:00.000+08:00",  # no such day
    ],
)
def test_a_time_that_is_not_rfc3339_is_malformed(federation: Federation, time: str) -> None:
    record = signed(federation, time=time)
    error = _refused(Reason.MALFORMED_HEADERS, verify_record, record, federation.agreements)
    assert error.detail.startswith("ce_time: time ")


@pytest.mark.parametrize(
    ("appended", "ok"),
    [
        (T0 - timedelta(minutes=5), True),  # signed 5 minutes ahead of the broker: skew
        (T0 - timedelta(minutes=5, milliseconds=1), False),
        (T0 + timedelta(hours=1), True),  # appended an hour after signing: a slow link
        (T0 + timedelta(hours=1, milliseconds=1), False),  # … longer: a backdated signature
    ],
)
def test_the_signed_time_stays_in_the_window_around_the_broker(
    federation: Federation, appended: datetime, ok: bool
) -> None:
    record = signed(federation, at=T0, appended=appended)
    if ok:
        assert verify_record(record, federation.agreements).time == T0
        return
    error = _refused(Reason.TIME_SKEW, verify_record, record, federation.agreements)
    assert "too far from the broker's append time" in error.detail


@pytest.mark.parametrize("ms", [253_402_300_800_000, 2**53, 2**63 - 1])  # 10000-01-01 on
def test_a_broker_time_no_calendar_holds_is_not_trusted(federation: Federation, ms: int) -> None:
    # found by tests/fuzz: a bundle record stamped 2**53 ms stopped the auditor's verify step
    record = dataclasses.replace(signed(federation), timestamp_ms=ms)
    error = _refused(Reason.UNTRUSTED_TIME, verify_record, record, federation.agreements)
    assert error.detail == (
        f"the broker's append time {ms} ms is not a time between the years 1 and 9999"
    )


def test_the_window_is_the_policys(federation: Federation) -> None:
    record = signed(federation, appended=T0 + timedelta(minutes=2))
    policy = VerifyPolicy(max_behind=timedelta(minutes=1))
    _refused(Reason.TIME_SKEW, verify_record, record, federation.agreements, policy)


# -- step 4: the key, as the agreement in force at ce_time judges it ------------------------


def test_an_agency_that_is_not_a_member_yet(tmp_path: Path) -> None:
    fed = build_federation(tmp_path, late_member=GUANGFENG)  # joins at T_CHANGE
    early = signed(fed, agency=GUANGFENG, at=T0 + timedelta(hours=1))
    error = _refused(Reason.NOT_A_MEMBER, verify_record, early, fed.agreements)
    assert error.signer is None
    later = signed(fed, agency=GUANGFENG, at=T_CHANGE + timedelta(hours=1))
    assert verify_record(later, fed.agreements).agency == GUANGFENG


def test_a_time_before_any_agreement_names_no_member(federation: Federation) -> None:
    before = T0 - timedelta(minutes=2)  # version 1 takes effect a minute before T0
    key_id = federation.keystore.current(JIANGSHAN, KeyAlg.ED25519, at=T0).key_id
    record = signed(federation, at=before, key_id=key_id)
    _refused(Reason.NOT_A_MEMBER, verify_record, record, federation.agreements)


def test_a_key_the_agreement_does_not_declare(federation: Federation) -> None:
    stray = SigningKey.generate()
    record = signed(federation, key_id=stray.public_key.key_id(JIANGSHAN), signer=stray)
    error = _refused(Reason.UNKNOWN_KEY, verify_record, record, federation.agreements)
    assert error.signer is None


def test_a_sealing_key_named_as_the_signer_is_unknown(federation: Federation) -> None:
    sealing = federation.keystore.current(JIANGSHAN, KeyAlg.X25519, at=T0).key_id
    signing = federation.keystore.signing_key(
        federation.keystore.current(JIANGSHAN, KeyAlg.ED25519, at=T0).key_id
    )
    record = signed(federation, key_id=sealing, signer=signing)
    _refused(Reason.UNKNOWN_KEY, verify_record, record, federation.agreements)


def test_a_key_used_after_its_revocation(tmp_path: Path) -> None:
    fed = build_federation(tmp_path, revoke=JIANGSHAN)  # revoked at T_CHANGE
    old = next(r for r in fed.keystore.records(JIANGSHAN) if r.revoked_at is not None)
    before = signed(fed, key_id=old.key_id, at=T_CHANGE - timedelta(minutes=1))
    assert verify_record(before, fed.agreements).attributes.keyid == old.key_id
    after = signed(fed, key_id=old.key_id, at=T_CHANGE + timedelta(minutes=1))
    error = _refused(Reason.KEY_REVOKED, verify_record, after, fed.agreements)
    assert "revoked" in error.detail


def test_a_key_used_outside_its_window(tmp_path: Path) -> None:
    fed = build_federation(tmp_path, rotate=PUCHENG)  # the old key retires at T_CHANGE
    keys = [r for r in fed.keystore.records(PUCHENG) if r.alg is KeyAlg.ED25519]
    retired = next(r for r in keys if r.valid_until is not None)
    fresh = next(r for r in keys if r.valid_until is None)
    assert retired.valid_until == fresh.valid_from == T_CHANGE
    after = T_CHANGE + timedelta(minutes=1)
    late = signed(fed, agency=PUCHENG, key_id=retired.key_id, at=after)
    error = _refused(Reason.KEY_OUT_OF_WINDOW, verify_record, late, fed.agreements)
    assert "expired" in error.detail
    on_time = signed(fed, agency=PUCHENG, key_id=fresh.key_id, at=after)
    assert verify_record(on_time, fed.agreements).attributes.keyid == fresh.key_id
    # the new key is staged: it signs nothing before the version declaring it is in force
    early = signed(fed, agency=PUCHENG, key_id=fresh.key_id, at=T_CHANGE - timedelta(minutes=1))
    _refused(Reason.UNKNOWN_KEY, verify_record, early, fed.agreements)


# -- step 5: the signature over the exact bytes received ------------------------------------


def _altered(record: Record) -> dict[str, Record]:
    return {
        "value": dataclasses.replace(record, value=(record.value or b"") + b" "),
        "signed-header": with_header(record, "ce_priority", b"urgent"),
        "topic": dataclasses.replace(record, topic=record.topic + "x"),
        "key": dataclasses.replace(record, key=(record.key or b"") + b"x"),
        "no-key": dataclasses.replace(record, key=None),
        "signature": with_header(record, "ce_signature", base64.b64encode(bytes(64))),
    }


@pytest.mark.parametrize("what", ["value", "signed-header", "topic", "key", "no-key", "signature"])
def test_anything_signed_that_changed_breaks_the_signature(
    federation: Federation, what: str
) -> None:
    record = signed(federation)
    verify_record(record, federation.agreements)
    error = _refused(
        Reason.BAD_SIGNATURE, verify_record, _altered(record)[what], federation.agreements
    )
    keyid = (header(record, "ce_keyid") or b"").decode()
    assert f"does not verify with key {keyid}" in error.detail


def test_another_members_key_cannot_sign_in_a_members_name(federation: Federation) -> None:
    theirs = federation.keystore.signing_key(
        federation.keystore.current(PUCHENG, KeyAlg.ED25519, at=T0).key_id
    )
    record = signed(federation, agency=JIANGSHAN, signer=theirs)
    _refused(Reason.BAD_SIGNATURE, verify_record, record, federation.agreements)


def test_headers_nobody_signed_are_passed_over(federation: Federation) -> None:
    record = signed(federation)
    extra = dataclasses.replace(
        record, headers=(("x-trace", b"\x00\xff"), *record.headers, ("x-none", None))
    )
    assert verify_record(extra, federation.agreements).hash == (
        verify_record(record, federation.agreements).hash
    )


# -- trusting a checkpoint: the signature is vouched for, every other step runs -------------


def test_a_checkpointed_record_skips_the_signature_check_only(tmp_path: Path) -> None:
    fed = build_federation(tmp_path, revoke=JIANGSHAN)
    record = signed(fed)
    altered = dataclasses.replace(record, value=(record.value or b"") + b" ")
    _refused(Reason.BAD_SIGNATURE, verify_record, altered, fed.agreements)
    trusted = verify_record(altered, fed.agreements, checkpointed=True)
    assert trusted.checkpointed is True
    # its hash is of the bytes received, so the checkpoint's root shows the change
    assert trusted.hash != verify_record(record, fed.agreements).hash
    assert trusted.hash == record_hash(trusted.base, trusted.signature)
    # every other step still runs
    cases = {
        Reason.NO_VALUE: dataclasses.replace(record, value=None),
        Reason.MALFORMED_HEADERS: signed(fed, chainseq="0"),
        Reason.TIME_SKEW: signed(fed, appended=T0 + timedelta(hours=2)),
        Reason.KEY_REVOKED: signed(
            fed,
            key_id=next(r.key_id for r in fed.keystore.records(JIANGSHAN) if r.revoked_at),
            at=T_CHANGE + timedelta(minutes=1),
        ),
    }
    for reason, case in cases.items():
        _refused(reason, verify_record, case, fed.agreements, checkpointed=True)
