"""The ``silian`` command line. Each sub-command group lives in a module of its own.

A package above the bus adds a group of its own by naming a module with
``register(subparsers)`` in the ``silian.commands`` entry-point group; its handlers return
an :class:`ExitCode` and print JSON with :func:`emit_json` like the bus's own.
"""

from __future__ import annotations

from bus.cli._common import ExitCode, add_json_flag, emit_json
from bus.cli.main import COMMAND_GROUPS, main

__all__ = ["COMMAND_GROUPS", "ExitCode", "add_json_flag", "emit_json", "main"]
