"""File-drop memory benchmark: peak RSS reading a large CSV export, beside two baselines.

::

    .venv/bin/python bench/filedrop_memory.py [--rows 1000000] [--json] [--dir /tmp/…]

1. Writes (once, cached in ``--dir``, default ``$TMPDIR/silian-filedrop-bench``) a GBK
   CSV export of ``--rows`` dispute rows in Guangfeng's layout (about 106 bytes a row:
   ~106 MB for a million), with its ``.done`` marker written beside each run's copy.
2. Runs each measurement in a fresh Python process and reads that process's peak RSS
   (``ru_maxrss``) when it is done:

   * ``bare``: a Python process that does nothing (the interpreter's own floor);
   * ``import``: a process that imports ``adapters.filedrop`` (the floor of the next row);
   * ``read_bytes``: ``Path.read_bytes()`` of the export, and nothing else (what holding
     the file whole costs);
   * ``filedrop``: the file-drop adapter reading the export as the runner drives it —
     ``fetch_outbound()`` then ``confirm_outbound()`` of each record, until the file is
     archived — in a temporary drop folder (the export is hard-linked into its outbox).

The adapter's row reports the rows it handed out (all of them, or the figure is wrong)
and how long it took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HEADER = (
    "记录类型,纠纷编号,纠纷类别,甲方,甲方区划,甲方身份,乙方,乙方区划,乙方身份,"
    "地点区划,地点,概况,调解编号,调解时间,调解结果,调解摘要,协议内容,协议扫描件SHA256,"
    "申请司法确认,签订时间"
)
MODES = ("bare", "import", "read_bytes", "filedrop")
_ROW_CHUNK = 10_000  # rows written per write() while generating


def _row(number: int) -> str:
    """One dispute report, ~106 bytes in GBK (the numbers make every row distinct)."""
    return (
        f"纠纷上报,GF-DSP{number:08d},山林,张{number % 97:02d},361103,村民,"
        f"李{number % 89:02d},330881,村民,361103,广丰江山交界山林,界址争执{number % 7},"
        ",,,,,,,"
    )


def generate(directory: Path, rows: int) -> Path:
    """The cached export of ``rows`` rows (written under a temporary name, then renamed)."""
    final = directory / f"export-{rows}.gbk.csv"
    if final.exists():
        return final
    directory.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as out:
        out.write((HEADER + "\r\n").encode("gbk"))
        for start in range(0, rows, _ROW_CHUNK):
            chunk = range(start, min(start + _ROW_CHUNK, rows))
            out.write("".join(_row(n) + "\r\n" for n in chunk).encode("gbk"))
    os.replace(temporary, final)
    return final


@dataclass(frozen=True, kw_only=True, slots=True)
class Measure:
    mode: str
    peak_rss_mb: float
    rows: int | None = None
    seconds: float | None = None


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _drop_folder(work: Path, export: Path) -> Path:
    """A drop folder in ``work`` whose outbox holds ``export`` (linked) and its marker."""
    outbox = work / "drop" / "outbox"
    outbox.mkdir(parents=True)
    try:
        os.link(export, outbox / export.name)  # archiving moves the link, not the cache
    except OSError:  # another file system: a copy will do (streamed: not measured whole)
        shutil.copyfile(export, outbox / export.name)
    (outbox / f"{export.name}.done").write_bytes(b"")
    return work


async def _read_with_filedrop(root: Path) -> tuple[int, float]:
    from adapters.config import LocalSection  # noqa: PLC0415 - the import row measures it
    from adapters.filedrop import FileDropConfig, FileDropSystem  # noqa: PLC0415

    section = LocalSection(
        kind="filedrop",
        settings={"root": "drop", "encodings": ["utf-8", "gbk"]},
        base_dir=root,
        state_dir=root / "state",
        source="bench [local]",
    )
    system = FileDropSystem(FileDropConfig.from_section(section))
    await system.start()
    started = time.monotonic()
    rows = 0
    while records := await system.fetch_outbound():
        rows += len(records)
        for record in records:
            await system.confirm_outbound(record)
    seconds = time.monotonic() - started
    await system.stop()
    return rows, seconds


def measure(mode: str, export: Path) -> Measure:
    """Run in the child process: do ``mode``'s work, then report the peak RSS."""
    if mode == "import":
        import adapters.filedrop  # noqa: F401, PLC0415 - the import is what is measured
    elif mode == "read_bytes":
        data = export.read_bytes()
        return Measure(mode=mode, peak_rss_mb=_peak_rss_mb(), rows=data.count(b"\n") - 1)
    elif mode == "filedrop":
        with tempfile.TemporaryDirectory(prefix="silian-filedrop-bench-") as work:
            root = _drop_folder(Path(work), export)
            rows, seconds = asyncio.run(_read_with_filedrop(root))
            if not (root / "drop" / "archive" / export.name).exists():
                raise SystemExit(f"the export was not archived after {rows} rows")
        return Measure(mode=mode, peak_rss_mb=_peak_rss_mb(), rows=rows, seconds=seconds)
    return Measure(mode=mode, peak_rss_mb=_peak_rss_mb())


def run_child(mode: str, export: Path) -> Measure:
    """``mode`` measured in a fresh interpreter (its peak RSS is its own)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(export)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(command, capture_output=True, check=False, env=env, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{mode}: the measuring process failed: {done.stderr.strip()[-2000:]}")
    return Measure(**json.loads(done.stdout.strip().splitlines()[-1]))


def render(export: Path, rows: int, measures: list[Measure]) -> str:
    size = export.stat().st_size / 1_000_000
    lines = [
        f"export: {rows:,} rows, {size:.1f} MB (GBK CSV) — {export}",
        f"{'process':<12} {'peak RSS':>10} {'rows':>11} {'seconds':>8}",
    ]
    for m in measures:
        rows_text = "" if m.rows is None else f"{m.rows:,}"
        seconds = "" if m.seconds is None else f"{m.seconds:.1f}"
        lines.append(f"{m.mode:<12} {m.peak_rss_mb:>7.1f} MB {rows_text:>11} {seconds:>8}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "silian-filedrop-bench",
        help="where the generated export is cached",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document instead")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "EXPORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, export = args.child
        print(json.dumps(asdict(measure(mode, Path(export)))))
        return
    export = generate(args.dir, args.rows)
    measures = [run_child(mode, export) for mode in MODES]
    if args.json:
        report = {
            "rows": args.rows,
            "export_bytes": export.stat().st_size,
            "measures": [asdict(m) for m in measures],
        }
        print(json.dumps(report, indent=2))
    else:
        print(render(export, args.rows, measures))


if __name__ == "__main__":
    main()
