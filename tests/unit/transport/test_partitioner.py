"""The embedded transport must place keys exactly where Kafka's Java client would.

Expected values were produced with kafka-clients 4.1.1 (``Utils.murmur2`` and
``Utils.toPositive(murmur2) % 3``); the first six are also the vectors of Kafka's own
``UtilsTest.testMurmur2``.
"""

from __future__ import annotations

import pytest

from bus.transport.partitioner import murmur2_signed, partition_for_key

JAVA_VECTORS = [
    (b"21", -973932308, 0),
    (b"foobar", -790332482, 0),
    (b"a-little-bit-long-string", -985981536, 2),
    (b"a-little-bit-longer-string", -1486304829, 2),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971, 2),
    (b"abc", 479470107, 0),
    ("案件-甲".encode(), -1865995324, 1),
    (b"\xff\x00", 1945074367, 1),
]


@pytest.mark.parametrize(("key", "murmur2", "partition_of_3"), JAVA_VECTORS)
def test_matches_kafkas_java_client(key: bytes, murmur2: int, partition_of_3: int) -> None:
    assert murmur2_signed(key) == murmur2
    assert partition_for_key(key, 3) == partition_of_3


def test_partition_is_within_range_for_any_count() -> None:
    for count in (1, 2, 7, 50):
        for key, murmur2, _ in JAVA_VECTORS:
            assert partition_for_key(key, count) == (murmur2 & 0x7FFFFFFF) % count


@pytest.mark.parametrize("partitions", [0, -1])
def test_rejects_topic_without_partitions(partitions: int) -> None:
    with pytest.raises(ValueError, match="at least one partition"):
        partition_for_key(b"k", partitions)
