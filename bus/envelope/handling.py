"""The ``ce_handling`` header: a handling code and a TLP 2.0 label, ``H2/TLP:AMBER``."""

from __future__ import annotations

import functools

from contracts.vocab import Handling, HandlingCode, Tlp

__all__ = ["DEFAULT_HANDLING", "HANDLING_VALUES", "format_handling", "parse_handling"]

# What an event carries when neither it nor its entity declares a handling code.
DEFAULT_HANDLING = Handling(code=HandlingCode.H1, tlp=Tlp.GREEN)


def format_handling(handling: Handling) -> str:
    """The ``ce_handling`` header: ``H2/TLP:AMBER``."""
    return f"{handling.code.value}/TLP:{handling.tlp.value}"


@functools.lru_cache(maxsize=64)  # 20 valid values; a refusal raises and is not kept
def parse_handling(text: str) -> Handling:
    """The handling of a ``ce_handling`` header; ValueError if it is not one."""
    code, _, tlp = text.partition("/TLP:")
    return Handling(code=HandlingCode(code), tlp=Tlp(tlp))


# Every value ce_handling can hold: what format_handling makes.
HANDLING_VALUES = frozenset(
    format_handling(Handling(code=code, tlp=tlp)) for code in HandlingCode for tlp in Tlp
)
