"""bench/audit_bench.py still runs: a tiny history generated, read and replayed clean.

No timing is asserted (speed is the benchmark's business); only that the generated
history replays clean in every mode with every record trusted or verified as it should
be, and that the baselines report positive figures, so the script cannot rot unseen.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "audit_bench.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_bench", _SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_a_small_history_replays_clean_in_every_mode(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "CHECKPOINT_EVERY", 40)  # several checkpoints per partition
    bundle = bench.generate(tmp_path, 600)
    assert bench.generate(tmp_path, 600) == bundle  # cached
    for mode in ("full", "checkpoint", "checkpoint-slow"):
        result = bench.measure(bundle, mode)
        assert result["clean"], result
        assert result["records"] == 600
        expected = (0, 600) if mode == "full" else (600, 0)
        assert (result["trusted"], result["verified"]) == expected
    assert bench.raw_hash_rate(bundle) > 0
    rate, cores = bench.read_floor_rate(bundle)
    assert rate > 0
    assert cores >= 1
