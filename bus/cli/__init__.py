"""The ``silian`` command line (:func:`bus.cli.main.main`). Each sub-command group lives in
a module of its own; ``python -m bus.cli`` runs it as the ``silian`` script does.

A package above the bus adds a group of its own by naming a module with
``register(subparsers)`` in the :data:`COMMAND_GROUPS` entry-point group; its handlers
return an :class:`ExitCode` and print JSON with :func:`emit_json` like the bus's own.

The package does not import :mod:`bus.cli.main` itself, so that ``python -m bus.cli.main``
runs it once, as ``__main__``.
"""

from __future__ import annotations

from bus.cli._common import COMMAND_GROUPS, ExitCode, add_json_flag, emit_json

__all__ = ["COMMAND_GROUPS", "ExitCode", "add_json_flag", "emit_json"]
