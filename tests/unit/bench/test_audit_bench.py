"""bench/audit_bench.py still runs: a tiny history generated, read and replayed clean.

No timing is asserted (speed is the benchmark's business); only that the generated
history replays clean in every mode with every record trusted or verified as it should
be, and that the baselines report positive figures, so the script cannot rot unseen.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.bench_scripts import load_bench


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("audit_bench")


def test_a_small_history_replays_clean_in_every_mode(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "CHECKPOINT_EVERY", 40)  # several checkpoints per partition
    bundle = bench.generate(tmp_path, 600)
    assert bench.generate(tmp_path, 600) == bundle  # cached
    for mode in bench.MODES:
        result = bench.measure(bundle, mode)
        assert result["clean"], result
        assert result["records"] == 600
        expected = (0, 600) if mode.startswith("full") else (600, 0)
        assert (result["trusted"], result["verified"]) == expected
    assert bench.raw_hash_rate(bundle) > 0
    rate, cores = bench.read_floor_rate(bundle)
    assert rate > 0
    assert cores >= 1
