"""bench/junk_flood.py still runs, on the embedded transport with a tiny flood.

No timing is asserted (speed is the benchmark's business); only that every junk record
is quarantined, the urgent alert gets through, and the figures are positive and finite.
"""

from __future__ import annotations

import math
from pathlib import Path

from bus.sandbox.federation import create_federation
from bus.transport import EmbeddedTransport
from tests.bench_scripts import load_bench


async def test_a_tiny_flood_reports_positive_figures(tmp_path: Path) -> None:
    bench = load_bench("junk_flood")
    figures = await bench.measure(
        "embedded",
        lambda: EmbeddedTransport(tmp_path / "bus.sqlite"),
        bench.EMBEDDED_PLAN,
        tmp_path,
        events=10,
        junk=40,
        mix=bench.MIXES,
    )
    assert figures.quarantined == 40
    values = [figures.handled_per_second, figures.junk_per_second, figures.urgent_seconds]
    assert all(math.isfinite(v) and v > 0 for v in values)
    assert "embedded" in bench.render([figures], "not used")


def test_the_junk_is_every_kind_asked_for(tmp_path: Path) -> None:
    bench = load_bench("junk_flood")
    fed = create_federation(tmp_path / "fed")
    records = bench.junk_records(fed, 8, bench.MIXES)
    assert sum(1 for r in records if r.value is None) == 2  # tombstones
    assert len({r.headers for r in records if r.value is not None}) == 6  # all different
