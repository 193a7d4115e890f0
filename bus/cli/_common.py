"""Shared helpers for CLI command modules: exit codes, output, running coroutines."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable, Coroutine, Iterable, Iterator
from enum import IntEnum
from typing import Any, TextIO, cast

__all__ = [
    "COMMAND_GROUPS",
    "ExitCode",
    "Handler",
    "add_json_flag",
    "emit_json",
    "guarded_stdout",
    "reader_gone",
    "run_async",
]


COMMAND_GROUPS = "silian.commands"
"""The entry-point group a package names its command modules in: ``name = "pkg.module"``,
the entry point's name being the command's."""


class ExitCode(IntEnum):
    """Exit codes that mean something to scripts (docs/cli.md lists them)."""

    OK = 0
    FAILED = 1  # the command ran and found a problem (verification failed, test red, ...)
    USAGE = 2  # bad arguments or input (argparse uses 2 too)
    ENVIRONMENT = 3  # a tool, port or service outside silian is missing or in the way
    INTERNAL = 70  # an unexpected error: a defect or an unforeseen fault (sysexits EX_SOFTWARE)
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


class _GuardedStdout:
    """``sys.stdout`` while a command runs: once its reader has gone, output is dropped.

    ``silian … | head`` closes the pipe early. Only a write to *this* stream is taken to
    mean that (any other broken pipe is an error): the rest of the output goes nowhere,
    and the command finishes its work and exits with its own verdict.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._gone()
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._gone()

    def _gone(self) -> None:
        self.reader_gone = True
        # What is still buffered goes to /dev/null, so that no later flush (Python's at
        # exit included, which would turn the exit code into 120) meets the pipe again.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def guarded_stdout() -> Iterator[None]:
    """Run a command with :class:`_GuardedStdout` as ``sys.stdout``, flushed at the end."""
    real = sys.stdout
    guard = _GuardedStdout(real)
    sys.stdout = cast(TextIO, guard)
    try:
        yield
        guard.flush()
    except BaseException:
        with contextlib.suppress(OSError, ValueError):  # the error that ended it is told
            guard.flush()
        raise
    finally:
        sys.stdout = real


def reader_gone() -> bool:
    """Whether stdout's reader went away: a command that would print forever stops."""
    return isinstance(sys.stdout, _GuardedStdout) and sys.stdout.reader_gone
