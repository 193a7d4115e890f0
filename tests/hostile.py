"""What a careless or hostile Kafka client can write, and silian's own clients cannot.

Kafka's protocol types a header name as UTF-8, but the broker does not check it; aiokafka
(and silian's transport) will not *send* such a name. :func:`send_raw` writes any record
to Kafka the way another client could: from a separate process whose aiokafka uses its
pure-Python record builder, with a header name whose wire bytes are what the test says.
On the embedded transport a record is stored as given (names read with surrogateescape).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys

from bus.transport.base import OutgoingRecord, Transport
from bus.transport.kafka import KafkaTransport

__all__ = ["raw_name", "send_raw"]

_PRODUCER = r"""
import asyncio, base64, json, os, sys
os.environ["AIOKAFKA_NO_EXTENSIONS"] = "1"
from aiokafka import AIOKafkaProducer

class Name(str):
    def __new__(cls, raw):
        self = super().__new__(cls, raw.decode("latin-1"))
        self.raw = raw
        return self
    def encode(self, *args, **kwargs):  # what the pure-Python batch builder writes
        return self.raw

def b(text):
    return None if text is None else base64.b64decode(text)

async def main(spec):
    producer = AIOKafkaProducer(bootstrap_servers=spec["bootstrap"], max_request_size=4 << 20)
    await producer.start()
    try:
        for record in spec["records"]:
            headers = [(Name(b(n)), b(v)) for n, v in record["headers"]]
            await producer.send_and_wait(
                record["topic"], b(record["value"]), key=b(record["key"]), headers=headers
            )
    finally:
        await producer.stop()

asyncio.run(main(json.load(sys.stdin)))
"""


def raw_name(wire: bytes) -> str:
    """A header name as silian reads the wire bytes ``wire`` (surrogateescape)."""
    return wire.decode("utf-8", "surrogateescape")


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


async def send_raw(transport: Transport, *records: OutgoingRecord) -> None:
    """Write ``records`` exactly as given, even what silian's own clients refuse to send."""
    if not isinstance(transport, KafkaTransport):
        for record in records:
            await transport.send(record)
        return
    spec = {
        "bootstrap": transport.config.bootstrap,
        "records": [
            {
                "topic": r.topic,
                "key": _b64(r.key),
                "value": _b64(r.value),
                "headers": [
                    [_b64(n.encode("utf-8", "surrogateescape")), _b64(v)] for n, v in r.headers
                ],
            }
            for r in records
        ],
    }
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    producer = await asyncio.create_subprocess_exec(  # a separate client, as a hostile one
        sys.executable, "-c", _PRODUCER, stdin=asyncio.subprocess.PIPE, env=env
    )
    await asyncio.wait_for(producer.communicate(json.dumps(spec).encode()), timeout=60)
    if producer.returncode != 0:
        raise RuntimeError(f"the raw producer failed (exit {producer.returncode})")
