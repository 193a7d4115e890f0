"""The consumer-pipeline fuzz on a real broker: fewer examples, the same properties.

What differs on Kafka is the transport: records come back through aiokafka's fetcher
(and silian's tolerant batch reader, for header names that are not UTF-8), quarantine
copies are real produce requests that a large record may not fit, and offsets are a
consumer group's. Random, bent and hostile records are drawn together; a handful more
are large enough (about 1 MB) that their quarantine copy would not fit a request.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from bus.transport.base import OutgoingRecord, estimated_size
from tests.fuzz.budget import KAFKA_LARGE_RECORDS, KAFKA_RECORDS, fuzz_settings
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
from tests.fuzz.world import CONSUMER, kafka_world, running

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.fuzz,
    # A failing example's report shows its arguments; some hold 100,000-level JSON.
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]

_MIB = 1024 * 1024


def _sendable(record: OutgoingRecord) -> bool:
    """What a Kafka producer can send at all: a key or a value (aiokafka insists)."""
    return record.key is not None or record.value is not None


def test_every_record_on_kafka_is_delivered_or_quarantined(
    kafka_bootstrap: str, fuzz_dir: Path
) -> None:
    with running(lambda: kafka_world(kafka_bootstrap, fuzz_dir)) as (world, run):
        scene = run(scene_of(world))
        counter = itertools.count(1)
        watch = MemoryWatch(warmup=KAFKA_RECORDS // 5, roots=roots_of(world), rss_bound=24 * _MIB)
        # A broker refuses a producer's time more than an hour ahead (Kafka 4's default).
        now_ms = int(time.time() * 1000)
        anything = st.one_of(
            random_records(world.topics, both_null=False, max_timestamp=now_ms),
            mutated_records(world.real, world.topics).filter(lambda b: _sendable(b.record)),
            hostile_records(scene, lambda: next(counter)),
        )

        def judged_right(drawn: OutgoingRecord | Bent | Forged) -> None:
            if isinstance(drawn, Forged):
                note(f"changes: {drawn.changes}")
                judged = run(world.judge(drawn.record))
                if drawn.valid:
                    assert_delivered(judged)
                else:
                    assert_refused(judged, signers=frozenset({drawn.signer}))
            elif isinstance(drawn, Bent):
                note(f"steps: {drawn.steps}")
                signer = signer_of(drawn.original)
                assert_refused(
                    run(world.judge(drawn.record)),
                    signers=frozenset({signer} if signer else ()),
                    own_replay=signer == CONSUMER,
                )
            else:
                assert_refused(run(world.judge(drawn)))
            watch.tick(delivered=isinstance(drawn, Forged) and drawn.valid)

        by_reference = 0
        large = random_records(world.topics, large=True, both_null=False, max_value=1_040_000)

        @fuzz_settings(KAFKA_LARGE_RECORDS)
        @given(large.filter(lambda r: estimated_size(r) <= world.transport.max_request_size))
        def large_refused(record: OutgoingRecord) -> None:
            nonlocal by_reference
            judged = run(world.judge(record))
            assert_refused(judged)
            by_reference += judged.kept is not None and not judged.kept.copy

        # The records the issue names, then generated ones of the three kinds.
        named = named_records(scene, lambda: next(counter))
        fuzz_settings(KAFKA_RECORDS)(given(anything)(with_named(judged_right, named, "drawn")))()
        large_refused()
        assert by_reference > 0, "no record was too large for its quarantine copy to fit"
        assert watch.seen >= KAFKA_RECORDS
        assert_alive(world, run, 1)
        watch.check()
