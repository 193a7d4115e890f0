"""Reading fetched record batches so that no record can stop a consumer.

Kafka's protocol types a header name as a UTF-8 string, but the broker does not check it:
any client can write a name that is not UTF-8. aiokafka decodes names strictly while it
iterates a fetched batch, so such a record raises ``UnicodeDecodeError`` out of
``getmany`` *before* the position moves past it; every later fetch — and every restart —
meets it again, and the partition is stopped for good.

:func:`install` replaces the ``MemoryRecords`` aiokafka's fetcher builds batches with by
:class:`TolerantMemoryRecords`: each v2 batch is read by aiokafka's fast (C) reader as
before, and only a batch that fails to decode is read again by the pure-Python reader
with header names decoded as ``surrogateescape`` — the exact bytes are kept, and the
consumer's pipeline refuses the record with a reason instead of dying on it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from aiokafka.consumer import fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record import memory_records
from aiokafka.record.default_records import DefaultRecordBatch, _DefaultRecordBatchPy
from aiokafka.record.util import decode_varint

__all__ = ["TolerantMemoryRecords", "install"]

_LENGTH_OFFSET = struct.calcsize(">q")
_LOG_OVERHEAD = struct.calcsize(">qi")
_MAGIC_OFFSET = struct.calcsize(">qii")


class _LenientBatch(_DefaultRecordBatchPy):  # type: ignore[misc] # aiokafka: no stubs
    """aiokafka's pure-Python batch reader, header names decoded with ``surrogateescape``.

    ``_read_msg`` follows aiokafka 0.14's ``_DefaultRecordBatchPy._read_msg`` line for
    line; only the decoding of a header name differs.
    """

    _pos: int

    def _read_msg(self, decode_varint: Any = decode_varint) -> Any:
        buffer = self._buffer
        pos = self._pos
        length, pos = decode_varint(buffer, pos)
        start_pos = pos
        _, pos = decode_varint(buffer, pos)  # attributes: unused
        ts_delta, pos = decode_varint(buffer, pos)
        if self.timestamp_type == self.LOG_APPEND_TIME:
            timestamp = self.max_timestamp
        else:
            timestamp = self.first_timestamp + ts_delta
        offset_delta, pos = decode_varint(buffer, pos)
        offset = self.base_offset + offset_delta
        key_len, pos = decode_varint(buffer, pos)
        key = None
        if key_len >= 0:
            key = bytes(buffer[pos : pos + key_len])
            pos += key_len
        value_len, pos = decode_varint(buffer, pos)
        value = None
        if value_len >= 0:
            value = bytes(buffer[pos : pos + value_len])
            pos += value_len
        header_count, pos = decode_varint(buffer, pos)
        if header_count < 0:
            raise CorruptRecordException(f"Found invalid number of record headers {header_count}")
        headers: list[tuple[str, bytes | None]] = []
        for _ in range(header_count):
            name_len, pos = decode_varint(buffer, pos)
            if name_len < 0:
                raise CorruptRecordException(f"Invalid negative header key size {name_len}")
            name = bytes(buffer[pos : pos + name_len]).decode("utf-8", "surrogateescape")
            pos += name_len
            header_len, pos = decode_varint(buffer, pos)
            header_value = None
            if header_len >= 0:
                header_value = bytes(buffer[pos : pos + header_len])
                pos += header_len
            headers.append((name, header_value))
        if pos - start_pos != length:
            raise CorruptRecordException(
                f"Invalid record size: expected to read {length} bytes in record payload, "
                f"but instead read {pos - start_pos}"
            )
        self._pos = pos
        from aiokafka.record.default_records import _DefaultRecordPy  # noqa: PLC0415

        return _DefaultRecordPy(offset, timestamp, self.timestamp_type, key, value, headers)


class _TolerantBatch:
    """A v2 batch read by the C reader, or again by :class:`_LenientBatch` if that fails."""

    def __init__(self, data: memoryview) -> None:
        self._data = data
        self._batch = DefaultRecordBatch(data)
        self._records: Iterator[Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def validate_crc(self) -> bool:
        return bool(self._batch.validate_crc())

    def __iter__(self) -> _TolerantBatch:
        return self

    def __next__(self) -> Any:
        if self._records is None:
            try:
                records = list(self._batch)
            except UnicodeDecodeError:
                records = list(_LenientBatch(bytes(self._data)))
            self._records = iter(records)
        return next(self._records)


class TolerantMemoryRecords:
    """``MemoryRecords`` for the fetcher: v2 batches as :class:`_TolerantBatch`."""

    def __init__(self, data: bytes) -> None:
        self._buffer = data
        self._pos = 0

    def size_in_bytes(self) -> int:
        return len(self._buffer)

    def _next_slice(self) -> memoryview | None:
        remaining = len(self._buffer) - self._pos
        if remaining < _LOG_OVERHEAD:
            return None
        (length,) = struct.unpack_from(">i", self._buffer, self._pos + _LENGTH_OFFSET)
        end = self._pos + _LOG_OVERHEAD + length
        if end > len(self._buffer):
            return None  # a partial batch at the end of a fetch: fetched again later
        return memoryview(self._buffer)[self._pos : end]

    def has_next(self) -> bool:
        return self._next_slice() is not None

    def next_batch(self) -> Any:
        data = self._next_slice()
        if data is None:
            return None
        if data[_MAGIC_OFFSET] < 2:  # legacy message formats: aiokafka's own reader
            batch = memory_records.MemoryRecords(bytes(data)).next_batch()
        else:
            batch = _TolerantBatch(data)
        self._pos += len(data)
        return batch


def install() -> None:
    """Make aiokafka's fetcher read batches with :class:`TolerantMemoryRecords` (idempotent)."""
    fetcher.MemoryRecords = TolerantMemoryRecords
