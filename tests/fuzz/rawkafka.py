"""A Kafka producer that writes header names that are not UTF-8, as any client may.

Kafka's protocol types a header name as a UTF-8 string, but brokers store whatever bytes
a client sends, and clients other than ours (librdkafka, a raw socket) send what they
like. aiokafka encodes names strictly, and silian's transport refuses such a name before
sending, so the fuzz tests bring their own producer: aiokafka's, with its pure-Python
batch builder (which calls ``name.encode``) and names that encode to the bytes they were
read from. What reaches the broker is a real record batch; only the writing side bends.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy

from bus.transport.base import Coordinates, OutgoingRecord

__all__ = ["RawProducer"]


class _RawName(str):
    """A header name read with ``surrogateescape``: it encodes back to its raw bytes."""

    __slots__ = ()

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return str.encode(self, "utf-8", "surrogateescape")


class _Producer(AIOKafkaProducer):  # type: ignore[misc] # aiokafka: no stubs
    def _serialize(self, key: Any, value: Any, headers: Any) -> tuple[Any, Any]:
        # aiokafka's C size estimate refuses a ``str`` subclass; the broker checks size.
        return key, value


class RawProducer:
    """Sends :class:`OutgoingRecord` s whatever their header names hold."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = _Producer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=False
        )
        accumulator = self._producer._message_accumulator

        def create_builder(key_serializer: Any = None, value_serializer: Any = None) -> Any:
            batch = BatchBuilder(
                accumulator._batch_size,
                accumulator._compression_type,
                key_serializer=key_serializer,
                value_serializer=value_serializer,
            )
            batch._builder = _DefaultRecordBatchBuilderPy(
                2,
                accumulator._compression_type,
                is_transactional=0,
                producer_id=-1,
                producer_epoch=-1,
                base_sequence=0,
                batch_size=accumulator._batch_size,
            )
            return batch

        accumulator.create_builder = create_builder

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, record: OutgoingRecord) -> Coordinates:
        headers = [(_RawName(name), value) for name, value in record.headers]
        sent = await self._producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=headers
        )
        return Coordinates(topic=sent.topic, partition=sent.partition, offset=sent.offset)
