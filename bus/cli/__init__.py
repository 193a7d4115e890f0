"""The ``silian`` command line. Each sub-command group lives in a module of its own."""

from __future__ import annotations

from bus.cli.main import main

__all__ = ["main"]
