"""Step 7 of the pipeline, the rule alone: a chain id's owner and partition, and a record's
place after its chain's head (the consumer keeps heads in its store, the auditor in
memory; both judge with :func:`place`)."""

from __future__ import annotations

import pytest

import bus.envelope.headers
from bus.errors import RecordRejectedError
from bus.pipeline import GENESIS, Place, check_placement, place
from bus.reasons import Reason

JS = "330881000000"
H1, H2 = "1" * 64, "2" * 64


def test_one_genesis_names_no_record_before_the_first() -> None:
    assert GENESIS == "0" * 64
    assert GENESIS is bus.envelope.headers.GENESIS  # one constant, not a copy


@pytest.mark.parametrize(
    ("head_seq", "head_hash", "seq", "prevhash", "expected"),
    [
        (0, GENESIS, 1, GENESIS, Place.NEXT),  # a chain's first record
        (0, GENESIS, 1, H1, Place.FORKED),  # a first record naming one before it
        (4, H1, 5, H1, Place.NEXT),
        (4, H1, 5, H2, Place.FORKED),  # the next seq, but after another record
        (4, None, 5, H2, Place.NEXT),  # the head did not verify: its hash is not judged
        (4, H1, 6, H1, Place.AHEAD),  # one record missing
        (0, GENESIS, 2, GENESIS, Place.AHEAD),  # the first record missing
        (4, H1, 4, H1, Place.BEHIND),  # the head again: a replay or a duplicate
        (4, H1, 1, GENESIS, Place.BEHIND),  # long after: a restart from seq 1 is a fork
        (4, None, 3, H2, Place.BEHIND),
    ],
)
def test_a_records_place_after_the_head(
    head_seq: int, head_hash: str | None, seq: int, prevhash: str, expected: Place
) -> None:
    assert place(head_seq, head_hash, seq, prevhash) is expected


def test_the_places_are_the_four_the_judges_know() -> None:
    assert {p.value for p in Place} == {"next", "forked", "ahead", "behind"}


@pytest.mark.parametrize(
    ("chain_id", "partition"),
    [
        (f"{JS}.main.0123456789ab.p0", 0),
        (f"{JS}.main.0123456789ab.p11", 11),
        (f"{JS}.p3", 3),
    ],
)
def test_a_chain_of_the_issuer_in_its_partition(chain_id: str, partition: int) -> None:
    assert check_placement(chain_id, agency=JS, partition=partition) is None


@pytest.mark.parametrize(
    ("chain_id", "words"),
    [
        ("350722000000.main.0123456789ab.p1", "is not 330881000000's"),
        ("33088100000.main.0123456789ab.p1", "is not 330881000000's"),  # a prefix of it
        ("3308810000001.main.p1", "is not 330881000000's"),  # it is a prefix of this
        (f"{JS}main.p1", "is not 330881000000's"),  # no dot after the code
        (f"{JS}.main.0123456789ab.p11", "belongs to another partition than 1"),
        (f"{JS}.main.0123456789ab.p", "belongs to another partition than 1"),
        (f"{JS}.main.0123456789ab.p01", "belongs to another partition than 1"),
        (f"{JS}.main.0123456789ab", "belongs to another partition than 1"),
        (f"{JS}.main.0123456789abp1", "belongs to another partition than 1"),  # no dot
    ],
)
def test_a_chain_of_another_agency_or_partition_is_misplaced(chain_id: str, words: str) -> None:
    with pytest.raises(RecordRejectedError) as caught:
        check_placement(chain_id, agency=JS, partition=1)
    assert caught.value.reason is Reason.CHAIN_MISPLACED
    assert words in caught.value.detail
    assert caught.value.signer == JS  # judged on verified records: their signer's doing


def test_without_a_known_issuer_only_the_partition_is_judged() -> None:
    # an auditor's hint from a record that did not verify: whose chain it is, is not known
    assert check_placement("350722000000.main.x.p2", agency=None, partition=2) is None
    with pytest.raises(RecordRejectedError) as caught:
        check_placement("350722000000.main.x.p2", agency=None, partition=1)
    assert caught.value.reason is Reason.CHAIN_MISPLACED
    assert caught.value.signer is None


def test_a_huge_chain_id_is_cut_short_in_the_refusal() -> None:
    with pytest.raises(RecordRejectedError) as caught:
        check_placement("9" * 5000, agency=JS, partition=0)
    assert len(caught.value.detail) < 200
