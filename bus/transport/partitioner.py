"""Kafka's default partitioner for keyed records, so the embedded transport agrees with it.

Kafka's Java client (``BuiltInPartitioner.partitionForKey``) computes
``toPositive(murmur2(key)) % partitions``; aiokafka's ``DefaultPartitioner`` does the same
with the same murmur2, which is reused here rather than copied.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2

__all__ = ["murmur2_signed", "partition_for_key"]


def murmur2_signed(key: bytes) -> int:
    """Kafka's ``Utils.murmur2(key)`` as Java returns it (a signed 32-bit int)."""
    unsigned = int(murmur2(key)) & 0xFFFFFFFF
    return unsigned - (1 << 32) if unsigned & 0x80000000 else unsigned


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner puts ``key`` in."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, got {partitions}")
    return (int(murmur2(key)) & 0x7FFFFFFF) % partitions
