"""bench/filedrop_memory.py still runs, on a small export.

No figure is judged (memory and speed are the benchmark's business, not a test's); only
that every row is read, every process reports a peak RSS, and ``--json`` parses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.bench_scripts import BENCH, load_bench


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("filedrop_memory")


def test_the_export_is_generated_once_in_guangfengs_layout(
    bench: ModuleType, tmp_path: Path
) -> None:
    export = bench.generate(tmp_path, 50)
    lines = export.read_bytes().decode("gbk").splitlines()
    assert len(lines) == 51
    assert lines[0].split(",")[:2] == ["记录类型", "纠纷编号"]
    assert all(len(line.split(",")) == 20 for line in lines)
    assert len(set(lines)) == 51
    stamp = export.stat().st_mtime_ns
    assert bench.generate(tmp_path, 50) == export
    assert export.stat().st_mtime_ns == stamp  # cached


def test_every_process_reports_and_the_adapter_reads_every_row(
    bench: ModuleType, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / "filedrop_memory.py"), "--rows", "1200", "--json",
         "--dir", str(tmp_path)],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    report = json.loads(result.stdout)
    measures = {m["mode"]: m for m in report["measures"]}
    assert list(measures) == list(bench.MODES)
    assert all(m["peak_rss_mb"] > 0 for m in measures.values())
    assert measures["filedrop"]["rows"] == 1200
    assert measures["read_bytes"]["rows"] == 1200
    assert measures["filedrop"]["seconds"] > 0
    assert report["export_bytes"] == (tmp_path / "export-1200.gbk.csv").stat().st_size
    table = bench.render(
        tmp_path / "export-1200.gbk.csv", 1200, [bench.Measure(**m) for m in measures.values()]
    )
    assert "filedrop" in table
    assert "peak RSS" in table
