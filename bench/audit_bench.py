"""Audit benchmark: records/s of full and checkpoint replay beside raw Ed25519 verify/s.

::

    .venv/bin/python bench/audit_bench.py [--records 1000000] [--small 100000] [--dir /tmp/…]

1. Writes (once, cached in ``--dir``) synthetic signed histories of ``--small`` and
   ``--records`` records: liaison meetings of 3 agencies over 6 partitions (18 chains),
   signed exactly as the publisher signs, with log-signed, witness-cosigned checkpoints
   every 20,000 records of each partition and at its end, as audit bundles.
2. Measures, in this run: raw Ed25519 verifications/s on all cores (processes, no
   Python around it but the loop); raw hashing on one core (``SHA-256(signature base ||
   signature)`` of every record of the same bundle, the bases built beforehand and not
   timed: the floor checkpoint mode's hashing cannot go below); reading the bundle on all
   cores (every record line read, ``json.loads``-ed and SHA-256'd: what any reader of
   the JSON Lines bundle pays before judging anything); then each replay in a
   fresh process — full mode and checkpoint mode, each also without byte ranges
   (``full-slow``, ``checkpoint-slow``: the auditor's process reads record by record and
   the workers judge chunks of records, as before ``bus.audit.spans``; the same report) —
   reporting records/s and the peak RSS of the auditor process (and of its largest
   worker) for both history sizes.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from agencies.keys import KeyAlg, SigningKey
from agencies.signatures import dump_signatures
from bus.audit.bundle import BUNDLE_FORMAT, BundleWriter, byte_spans, open_bundle
from bus.audit.replay import Mode, ReplayOptions
from bus.audit.runner import replay_bundle
from bus.envelope.signature import decode_headers, record_hash, signature_base
from bus.sandbox.federation import create_federation
from bus.sandbox.synthetic import ChainWriter
from bus.tlog.checkpoint import Checkpoint, Cosigner, NoteSigner
from bus.tlog.log import log_origin
from bus.tlog.merkle import CompactRange, leaf_hash
from bus.tlog.witness import witness_name
from contracts import examples
from contracts.registry import encode, spec_for_model

CST = timezone(timedelta(hours=8))
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=CST)
PARTITIONS = 6
CHECKPOINT_EVERY = 20_000  # leaves of a partition between two checkpoints


def _hash(record: Any) -> bytes:
    attributes, signature = decode_headers(record.headers)
    base = signature_base(
        topic=record.topic, key=record.key, attributes=attributes, value=record.value
    )
    return bytes.fromhex(record_hash(base, signature))


def generate(directory: Path, count: int) -> Path:
    """A bundle of ``count`` signed records with cosigned checkpoints (cached)."""
    final = directory / f"history-{count}-{BUNDLE_FORMAT}.jsonl"  # a new format: new files
    if final.exists():
        return final
    directory.mkdir(parents=True, exist_ok=True)
    fed = create_federation(directory / f"fed-{count}", now=T0)
    documents = [(fed.document, dump_signatures(_signatures(directory / f"fed-{count}", fed)))]
    writers = []
    for code in fed.members:
        key_id = fed.keystore.current(code, KeyAlg.ED25519, at=T0).key_id
        writers.append(
            ChainWriter(agency=code, key_id=key_id, key=fed.keystore.signing_key(key_id))
        )
    meeting = next(e for _, e in examples.example_story() if e.event_type == "liaison.meeting")
    spec = spec_for_model(meeting)
    topic = spec.topic("jpg", meeting)
    template = encode(meeting)
    trees = [CompactRange() for _ in range(PARTITIONS)]
    offsets = [0] * PARTITIONS
    sizes: list[list[tuple[int, bytes]]] = [[] for _ in range(PARTITIONS)]
    raw = directory / f"raw-{count}.jsonl"
    started = time.perf_counter()
    with BundleWriter(
        raw, federation="jpg", agreements=fed.agreements, documents=documents
    ) as writer:
        for i in range(count):
            partition = i % PARTITIONS
            meeting_id = f"LM-{i:08d}"
            record = writers[i % len(writers)].record(
                topic=topic,
                partition=partition,
                offset=offsets[partition],
                key=meeting_id.encode(),
                value=template.replace(b"LM-2024-Q2", meeting_id.encode()),
                ce_type=spec.ce_type,
                dataschema=spec.dataschema,
                subject=meeting_id,
                handling="H1/TLP:GREEN",
                at=T0 + timedelta(milliseconds=i),
            )
            offsets[partition] += 1
            trees[partition].append(leaf_hash(_hash(record)))
            if trees[partition].size % CHECKPOINT_EVERY == 0:
                sizes[partition].append((trees[partition].size, trees[partition].root()))
            writer.record(record)
            if i and i % 100_000 == 0:
                print(f"  generated {i:,} records", file=sys.stderr)
    print(f"  signed {count:,} records in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    keeper, *witnesses = fed.members  # every other member cosigns: the default quorum
    log_key = _signing_key(fed, keeper)
    cosigners = [Cosigner(witness_name("jpg", w), _signing_key(fed, w)) for w in witnesses]
    with BundleWriter(
        final, federation="jpg", agreements=fed.agreements, documents=documents, log_keeper=keeper
    ) as writer:
        for partition, tree in enumerate(trees):
            origin = log_origin(topic, partition)
            if not sizes[partition] or sizes[partition][-1][0] != tree.size:
                sizes[partition].append((tree.size, tree.root()))
            for size, root in sizes[partition]:
                checkpoint = Checkpoint(origin=origin, size=size, root=root)
                note = NoteSigner(origin, log_key).sign_checkpoint(checkpoint)
                for cosigner in cosigners:
                    note = note.with_signature(
                        cosigner.cosign(checkpoint, timestamp=int(time.time()))
                    )
                writer.checkpoint(note.to_bytes())
        writer.copy_records(open_bundle(raw))
    raw.unlink()
    return final


def _signing_key(fed: Any, code: str) -> SigningKey:
    key_id = fed.keystore.current(code, KeyAlg.ED25519, at=T0).key_id
    return fed.keystore.signing_key(key_id)  # type: ignore[no-any-return]


def _signatures(directory: Path, fed: Any) -> list[Any]:
    from agencies.templates import sign_as  # noqa: PLC0415

    return [sign_as(fed.document, signer=c, keystore=fed.keystore) for c in fed.members]


# -- raw Ed25519 baseline ------------------------------------------------------------------


def _verify_loop(count: int) -> int:
    key = SigningKey.generate()
    message = b"x" * 600  # about a signature base's size
    signature = key.sign(message)
    public = key.public_key
    for _ in range(count):
        public.verify(signature, message)
    return count


def raw_verify_rate(seconds_hint: float = 5.0) -> tuple[float, int]:
    workers = os.cpu_count() or 1
    per_worker = 20_000
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_verify_loop, [100] * workers))  # warm up the processes
        started = time.perf_counter()
        done = sum(pool.map(_verify_loop, [per_worker] * workers * 2))
        elapsed = time.perf_counter() - started
    return done / elapsed, workers


# -- raw hashing baseline -----------------------------------------------------------------


def raw_hash_rate(bundle: Path, batch: int = 10_000) -> float:
    """SHA-256(base || signature) per record of ``bundle``, one core; only the hashing timed."""
    sha256 = hashlib.sha256
    elapsed, done = 0.0, 0
    records = open_bundle(bundle).records()
    while True:
        messages = []
        for record in itertools.islice(records, batch):
            attributes, signature = decode_headers(record.headers)
            base = signature_base(
                topic=record.topic, key=record.key, attributes=attributes, value=record.value
            )
            messages.append(base + signature)
        if not messages:
            return done / elapsed if elapsed else 0.0
        started = time.perf_counter()
        for message in messages:
            sha256(message).digest()
        elapsed += time.perf_counter() - started
        done += len(messages)


# -- reading the bundle: the floor for any reader of JSON Lines ------------------------------


def _read_span(path: str, start: int, end: int) -> int:
    sha256, loads = hashlib.sha256, json.loads
    with open(path, "rb") as source:
        source.seek(start)
        lines = source.read(end - start).split(b"\n")[:-1]
    for line in lines:
        loads(line)
        sha256(line).digest()
    return len(lines)


def read_floor_rate(bundle: Path) -> tuple[float, int]:
    """Record lines read, parsed (json.loads) and SHA-256'd per second, on all cores."""
    section = open_bundle(bundle).record_section()
    assert section is not None
    start, end, _ = section
    workers = os.cpu_count() or 1
    spans = list(byte_spans(bundle, start, end, 1 << 20))
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_read_span, [str(bundle)] * workers, *zip(*spans[:workers], strict=True)))
        started = time.perf_counter()
        done = sum(pool.map(_read_span, [str(bundle)] * len(spans), *zip(*spans, strict=True)))
        elapsed = time.perf_counter() - started
    return done / elapsed, workers


# -- one measured replay in a fresh process --------------------------------------------------


# "-slow" is a mode without byte ranges (bus.audit.spans): the auditor's process reads
# every record and the workers judge them in chunks, as before ranges.
MODES = ("full", "full-slow", "checkpoint", "checkpoint-slow")


def measure(bundle: Path, mode: str) -> dict[str, Any]:
    options = ReplayOptions(
        mode=Mode(mode.removesuffix("-slow")), ranges=not mode.endswith("-slow")
    )
    report = replay_bundle(bundle, options=options)
    return {
        "mode": mode,
        "records": report.records,
        "clean": report.clean,
        "anomalies": len(report.anomalies),
        "seconds": round(report.seconds, 2),
        "records_per_second": round(report.rate),
        "trusted": report.trusted,
        "verified": report.verified,
        "workers": report.workers,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "worker_peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
    }


def _run_measure(bundle: Path, mode: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", mode, "--bundle", str(bundle)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument(
        "--dir", type=Path, default=Path(tempfile.gettempdir()) / "silian-audit-bench"
    )
    parser.add_argument("--measure", choices=MODES, default=None)
    parser.add_argument("--bundle", type=Path, default=None)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.bundle, args.measure)))
        return
    results: dict[str, Any] = {"cores": os.cpu_count()}
    rate, workers = raw_verify_rate()
    results["raw_ed25519_verify_per_second_all_cores"] = round(rate)
    print(f"raw Ed25519 verify on {workers} cores: {rate:,.0f}/s", file=sys.stderr)
    for count in (args.small, args.records):
        bundle = generate(args.dir, count)
        hashing = raw_hash_rate(bundle)
        results[f"raw_sha256_per_second_one_core_{count}"] = round(hashing)
        print(f"{count:>9,} records raw SHA-256 (1 core): {hashing:>9,.0f}/s", file=sys.stderr)
        floor, cores = read_floor_rate(bundle)
        results[f"read_parse_hash_per_second_all_cores_{count}"] = round(floor)
        print(
            f"{count:>9,} records read+parse+SHA-256 ({cores} cores): {floor:>9,.0f}/s",
            file=sys.stderr,
        )
        for mode in MODES:
            result = _run_measure(bundle, mode)
            results[f"{mode}_{count}"] = result
            print(
                f"{count:>9,} records {mode:>15}: {result['records_per_second']:>9,}/s "
                f"peak RSS {result['peak_rss_mb']} MB (worker {result['worker_peak_rss_mb']} MB)"
                f" clean={result['clean']}"
                f" ({result['records_per_second'] / hashing:.1%} of raw hashing, "
                f"{result['records_per_second'] / floor:.0%} of reading the bundle, "
                f"{result['records_per_second'] / rate:.1f}x raw Ed25519)",
                file=sys.stderr,
            )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
