"""Errors of the contracts layer.

``SilianError`` lives here because ``contracts`` is the lowest layer: ``agencies`` and
``bus`` import it from here. The whole tree is drawn in :mod:`bus.errors`.
"""

from __future__ import annotations

from contracts.rules import Rule


class SilianError(Exception):
    """Base of every error silian raises on purpose."""


class ContractError(SilianError, ValueError):
    """An event does not match its contract (type, version, field, code)."""


class LifecycleError(ContractError):
    """An event breaks its family's lifecycle rules; ``rule`` is the rule broken."""

    def __init__(self, message: str, *, rule: Rule) -> None:
        super().__init__(message)
        self.rule = rule
