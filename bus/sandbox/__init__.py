"""A federation on one machine, for the demo, the tests and the benchmarks — not for
agencies: fresh keys for every member and version 1 of the agreement signed by all
(:func:`create_federation`), and signed histories of any size made without a broker
(:class:`ChainWriter`). A real deployment does these steps across agencies with
``silian keys`` and ``silian agreement``, and publishes through a :class:`bus.Bus`.
"""

from __future__ import annotations

from bus.sandbox.federation import Federation, create_federation
from bus.sandbox.synthetic import ChainWriter

__all__ = ["ChainWriter", "Federation", "create_federation"]
