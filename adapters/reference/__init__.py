"""REFERENCE LOCAL SYSTEMS, for the demo and the tests — not part of silian.

Stand-ins for the agencies' own systems (Pucheng's database: ``pucheng_schema.*.sql`` and
``pucheng_app``), so that the adapters can be shown and tested end to end.
"""

from __future__ import annotations

# Nothing is handed on here: the demo and the tests import each stand-in by its module.
__all__: list[str] = []
