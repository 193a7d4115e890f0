"""bench/bus_throughput.py still runs: its embedded and Ed25519 parts, with a tiny N.

No timing is asserted (speed is the benchmark's business, not a test's); only that every
path delivers and reports positive, finite figures, so the script cannot rot unseen.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType

import pytest

from bus.sandbox.federation import create_federation
from contracts.registry import encode
from tests.bench_scripts import load_bench


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("bus_throughput")


def test_events_are_distinct_and_of_the_asked_size(bench: ModuleType) -> None:
    events = bench.make_events(5, value_bytes=1024)
    assert len({e.meeting_id for e in events}) == 5
    assert {len(encode(e)) for e in events} == {1024}


def test_percentile_is_nearest_rank(bench: ModuleType) -> None:
    values = list(range(1, 101))
    assert bench.percentile(values, 50) == 50
    assert bench.percentile(values, 99) == 99
    assert bench.percentile([7.0], 99) == 7.0


async def test_embedded_run_reports_positive_figures(bench: ModuleType, tmp_path: Path) -> None:
    fed = create_federation(tmp_path / "federation")
    flow, crypto = await bench.measure_local(
        20, tmp_path / "embedded", fed=fed, warmup=5, crypto_seconds=0.05
    )
    assert flow.events == 20
    figures = [flow.per_second, flow.p50_ms, flow.p99_ms, flow.send_p50_ms, flow.send_p99_ms]
    figures += [crypto.sign_per_second, crypto.verify_per_second]
    figures.append(crypto.verify_record_per_second)
    assert all(math.isfinite(f) and f > 0 for f in figures)
    assert flow.p50_ms <= flow.p99_ms
    assert crypto.base_bytes > 0
    report = bench.Report(
        machine=bench.machine("none"),
        events=20,
        value_bytes=bench.VALUE_BYTES,
        flows={"silian_embedded": flow},
        crypto=crypto,
    )
    table = bench.render(report)
    assert "silian publish → verified delivery, embedded" in table
    assert report.as_json()["flows"]["silian_embedded"]["per_second"] > 0
