"""Shared helpers for CLI command modules: exit codes, output, running coroutines."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from enum import IntEnum
from typing import Any

__all__ = ["ExitCode", "Handler", "add_json_flag", "emit_json", "run_async"]


class ExitCode(IntEnum):
    """Exit codes that mean something to scripts."""

    OK = 0
    FAILED = 1  # the command ran and found a problem (verification failed, test red, ...)
    USAGE = 2  # bad arguments or input (argparse uses 2 too)
    ENVIRONMENT = 3  # a tool, port or service outside silian is missing or in the way
    INTERRUPTED = 130


Handler = Callable[[argparse.Namespace], int]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print machine-readable JSON instead of text"
    )


def emit_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(coro)
