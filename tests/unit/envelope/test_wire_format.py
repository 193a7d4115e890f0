"""The documented signature base is what the bus signs: an outside tool verifies records."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from bus.envelope.signature import decode_headers, record_hash, signature_base
from bus.node.bus import Bus, BusConfig
from bus.node.topics import TopicPlan, plan_topics
from bus.sandbox.federation import create_federation
from bus.transport.embedded import EmbeddedTransport
from contracts import examples

ROOT = Path(__file__).resolve().parents[3]
VERIFIER = ROOT / "docs" / "examples" / "verify_record.py"


async def test_outside_verifier_accepts_bus_records_and_refuses_tampering(tmp_path: Path) -> None:
    fed = create_federation(tmp_path)
    async with EmbeddedTransport(tmp_path / "bus.sqlite") as transport:
        await transport.ensure_topics(
            plan_topics(fed.federation_id, fed.agreements.latest, TopicPlan())
        )
        bus = Bus(
            BusConfig(
                agency=examples.JIANGSHAN, federation=fed.federation_id, state_dir=tmp_path / "js"
            ),
            transport=transport,
            agreements=fed.agreements,
            keystore=fed.keystore,
        )
        async with bus:
            published = await bus.publish(examples.example_events()[0])
        consumer = transport.consumer(group_id="reader", topics=[published.topic])
        async with consumer:
            (record,) = await consumer.fetch(timeout=1)
    attributes, signature = decode_headers(record.headers)
    key = fed.agreements.latest.signing_key(attributes.keyid, published.time)
    doc = {
        "topic": record.topic,
        "key_hex": (record.key or b"").hex(),
        "value_b64": base64.b64encode(record.value).decode(),
        "headers": [[n, v.decode("ascii")] for n, v in record.headers],
        "public_key_b64": base64.b64encode(key.public_bytes_raw()).decode(),
    }
    ok = subprocess.run(  # noqa: ASYNC221 - a one-off child process in a test
        [sys.executable, str(VERIFIER)],
        input=json.dumps(doc),
        text=True,
        capture_output=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    base = signature_base(
        topic=record.topic, key=record.key, attributes=attributes, value=record.value
    )
    assert ok.stdout.strip() == record_hash(base, signature) == published.hash
    doc["value_b64"] = base64.b64encode(record.value + b" ").decode()
    bad = subprocess.run(  # noqa: ASYNC221 - a one-off child process in a test
        [sys.executable, str(VERIFIER)],
        input=json.dumps(doc),
        text=True,
        capture_output=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "does not verify" in bad.stderr
