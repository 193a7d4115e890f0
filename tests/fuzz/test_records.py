"""Fuzzing the consumer pipeline on the embedded transport (issue 10, part 8).

Three kinds of generated records go through one real subscription — Pucheng's, after the
three agencies played the example story — one by one, as ``silian serve`` reads them:
random bytes, real signed records bent, and records validly signed by a member with
hostile fields. Every record ends delivered (only a valid one) or quarantined with a
reason; the handler never runs for an invalid one; the consumer is alive after the last
example and its memory stayed flat. See tests/fuzz/checks.py for the exact properties.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, note

from bus.reasons import Reason
from bus.transport.base import OutgoingRecord
from tests.fuzz.budget import (
    HOSTILE_RECORDS,
    LARGE_RECORDS,
    MUTATED_RECORDS,
    RANDOM_RECORDS,
    fuzz_settings,
)
from tests.fuzz.checks import (
    MemoryWatch,
    assert_alive,
    assert_delivered,
    assert_refused,
    roots_of,
    signer_of,
)
from tests.fuzz.forge import scene_of
from tests.fuzz.hostile import Forged, hostile_records
from tests.fuzz.named import named_records, with_named
from tests.fuzz.records import Bent, mutated_records, random_records
from tests.fuzz.world import CONSUMER, embedded_world, running

pytestmark = [
    pytest.mark.fuzz,
    # A failing example's report shows its arguments; some hold 100,000-level JSON.
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]

# Steps a signed hostile record does not reach here: a tombstone or a producer's time is
# refused before any signature (the random records reach those); this federation has no
# revoked or expired key, no agency barred from alerts, no membership to break (alerts
# need none) and no lifecycle rule a fresh alert can break; a handler never fails; and
# only a defect is ``unprocessable``.
_NOT_REACHED = {
    Reason.NO_VALUE,
    Reason.UNTRUSTED_TIME,
    Reason.KEY_REVOKED,
    Reason.KEY_OUT_OF_WINDOW,
    Reason.NOT_PERMITTED,
    Reason.NOT_A_MEMBER,
    Reason.LIFECYCLE,
    Reason.HANDLER_FAILED,
    Reason.UNPROCESSABLE,
}


def _reached(reasons: Counter[Reason | None], wanted: set[Reason]) -> None:
    """The examples got as far as every step in ``wanted`` (else they fuzz too little)."""
    missing = sorted(wanted - set(reasons))
    assert not missing, f"no example was refused as {missing}: {dict(reasons)}"


_KIB, _MIB = 1024, 1024 * 1024


def _rss_bound(examples: int) -> int:
    """What RSS may grow by: 16 MiB, and 16 KiB an example for what hypothesis itself
    keeps of each (its choices: drawn bytes and text; measured with tracemalloc at 1 to
    10 KB an example, all of a random run's growth). Coarse on purpose: the object and
    byte counts of :class:`MemoryWatch` are the fine measures; this one catches memory
    no Python object owns."""
    return 16 * _MIB + 16 * _KIB * examples


def test_random_bytes_are_quarantined_with_a_reason(fuzz_dir: Path) -> None:
    with running(lambda: embedded_world(fuzz_dir)) as (world, run):
        watch = MemoryWatch(
            warmup=RANDOM_RECORDS // 5,
            roots=roots_of(world),
            rss_bound=_rss_bound(RANDOM_RECORDS),
        )

        reasons: Counter[Reason | None] = Counter()

        @fuzz_settings(RANDOM_RECORDS)
        @given(random_records(world.topics))
        def refused(record: OutgoingRecord) -> None:
            reasons[assert_refused(run(world.judge(record)))] += 1
            watch.tick()

        refused()
        assert watch.seen >= RANDOM_RECORDS
        _reached(
            reasons,
            {Reason.NO_VALUE, Reason.MALFORMED_HEADERS, Reason.OVERSIZED, Reason.UNTRUSTED_TIME},
        )
        assert_alive(world, run, 1)
        watch.check()


def test_bent_real_records_are_quarantined_never_handled(fuzz_dir: Path) -> None:
    """Every real record was delivered before: a copy, however bent, is refused (a bad
    signature, a malformed header, a replay) — or, if it still verifies as one of the
    consumer's own records, taken as its own and not handled."""
    with running(lambda: embedded_world(fuzz_dir)) as (world, run):
        watch = MemoryWatch(
            warmup=MUTATED_RECORDS // 5,
            roots=roots_of(world),
            rss_bound=_rss_bound(MUTATED_RECORDS),
        )
        reasons: Counter[Reason | None] = Counter()

        @fuzz_settings(MUTATED_RECORDS)
        @given(mutated_records(world.real, world.topics))
        def refused(bent: Bent) -> None:
            signer = signer_of(bent.original)
            note(f"steps: {bent.steps}")
            judged = run(world.judge(bent.record))
            reasons[
                assert_refused(
                    judged,
                    signers=frozenset({signer} if signer else ()),
                    own_replay=signer == CONSUMER,
                )
            ] += 1
            watch.tick()

        refused()
        assert watch.seen >= MUTATED_RECORDS
        _reached(
            reasons,
            {
                Reason.BAD_SIGNATURE,
                Reason.MALFORMED_HEADERS,
                Reason.DUPLICATE,
                Reason.NO_VALUE,
                Reason.UNTRUSTED_TIME,
            },
        )
        assert_alive(world, run, 1)
        watch.check()


def test_validly_signed_hostile_records_are_quarantined(fuzz_dir: Path) -> None:
    """A member's real key signs whatever fields and value an attacker likes; only the
    records left as a publisher makes them are delivered."""
    with running(lambda: embedded_world(fuzz_dir)) as (world, run):
        scene = run(scene_of(world))
        counter = itertools.count(1)
        watch = MemoryWatch(
            warmup=HOSTILE_RECORDS // 5,
            roots=roots_of(world),
            rss_bound=_rss_bound(HOSTILE_RECORDS),
        )
        delivered = 0
        reasons: Counter[Reason | None] = Counter()

        def judged_right(forged: Forged) -> None:
            nonlocal delivered
            note(f"changes: {forged.changes}")
            judged = run(world.judge(forged.record))
            if forged.valid:
                assert_delivered(judged)
                delivered += 1
            else:
                reasons[assert_refused(judged, signers=frozenset({forged.signer}))] += 1
            watch.tick(delivered=forged.valid)

        # The records the issue names first (explicit examples), then generated ones.
        run_all = given(hostile_records(scene, lambda: next(counter)))(
            with_named(judged_right, named_records(scene, lambda: next(counter)), "forged")
        )
        fuzz_settings(HOSTILE_RECORDS)(run_all)()
        assert watch.seen >= HOSTILE_RECORDS
        assert delivered >= HOSTILE_RECORDS // 40, "too few valid controls among the examples"
        # Past the signature, every step was reached: the hostile fields got that far.
        _reached(reasons, {r for r in Reason if r.by_subscription} - _NOT_REACHED)
        assert_alive(world, run, 1)
        watch.check()


def test_large_records_are_quarantined_by_copy_or_by_reference(fuzz_dir: Path) -> None:
    """Values from the size limit (512 KiB) to past what a request may carry (1 MiB): each
    refused as oversized, kept whole if a copy fits a request, else by reference — random
    bytes and validly signed alerts alike. Apart from the others: the embedded store
    reads large rows slowly (see tests/fuzz/README.md), so these are few."""
    with running(lambda: embedded_world(fuzz_dir)) as (world, run):
        scene = run(scene_of(world))
        counter = itertools.count(1)
        by_reference = 0
        # Here hypothesis keeps a size, not the value: RSS tells. Each record is half a
        # megabyte to 3 MB, about 90 MB in all after the warm-up; keeping a third would show.
        watch = MemoryWatch(warmup=10, roots=roots_of(world), rss_bound=32 * _MIB)

        def judged(record: OutgoingRecord, signers: frozenset[str]) -> None:
            nonlocal by_reference
            result = run(world.judge(record))
            assert_refused(result, signers=signers)
            by_reference += result.kept is not None and not result.kept.copy
            watch.tick()

        @fuzz_settings(LARGE_RECORDS)
        @given(random_records(world.topics, large=True))
        def random_refused(record: OutgoingRecord) -> None:
            judged(record, frozenset())

        @fuzz_settings(LARGE_RECORDS)
        @given(hostile_records(scene, lambda: next(counter), large=True))
        def signed_refused(forged: Forged) -> None:
            judged(forged.record, frozenset({forged.signer}))

        random_refused()
        signed_refused()
        assert by_reference > 0, "no record was too large to copy"
        assert_alive(world, run, 1)
        watch.check()
