"""REFERENCE LOCAL SYSTEMS, for the demo and the tests — not part of silian.

Stand-ins for the agencies' own systems (Pucheng's database: ``pucheng_schema.*.sql`` and
``pucheng_app``), so that the adapters can be shown and tested end to end.
"""
