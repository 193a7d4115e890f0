"""Fixtures of the fuzz suite: a fast scratch folder and the services' own log setup."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.logs import configure_logging

_SHM = Path("/dev/shm")


@pytest.fixture
def fuzz_dir(tmp_path: Path) -> Iterator[Path]:
    """Where a fuzz world keeps its SQLite files: in memory (tmpfs) when the machine has
    one. Thousands of examples each commit a few times; what is fuzzed is the pipeline,
    not the disk's sync time, which would double the suite's."""
    if _SHM.is_dir():
        with tempfile.TemporaryDirectory(prefix="silian-fuzz-", dir=_SHM) as scratch:
            yield Path(scratch)
    else:
        yield tmp_path


@pytest.fixture(autouse=True)
def _service_logging(tmp_path: Path) -> Iterator[Path]:
    """Log as ``silian serve`` does (JSON lines, INFO) into a file: every hostile detail
    goes through the real renderer to a UTF-8 stream, as it would in production."""
    path = tmp_path / "fuzz.log"
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with path.open("w", encoding="utf-8") as stream:
        configure_logging(fmt="json", level="INFO", stream=stream)
        try:
            yield path
        finally:  # the stdlib's root logger too (aiokafka's), before the file closes
            root.handlers[:] = handlers
            root.setLevel(level)
