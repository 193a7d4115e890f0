"""The ``ce_handling`` header: a handling code and a TLP 2.0 label, ``H2/TLP:AMBER``."""

from __future__ import annotations

import pytest

from bus.envelope.handling import (
    DEFAULT_HANDLING,
    HANDLING_VALUES,
    format_handling,
    parse_handling,
)
from contracts.vocab import Handling, HandlingCode, Tlp


def test_every_code_and_label_is_one_header_value_and_back() -> None:
    every = [Handling(code=code, tlp=tlp) for code in HandlingCode for tlp in Tlp]
    assert {format_handling(h) for h in every} == HANDLING_VALUES
    assert len(HANDLING_VALUES) == len(every)
    for handling in every:
        assert parse_handling(format_handling(handling)) == handling


@pytest.mark.parametrize(
    ("handling", "text"),
    [
        (Handling(code=HandlingCode.H2, tlp=Tlp.AMBER), "H2/TLP:AMBER"),
        (Handling(code=HandlingCode.H2, tlp=Tlp.AMBER_STRICT), "H2/TLP:AMBER+STRICT"),
        (Handling(code=HandlingCode.H0, tlp=Tlp.CLEAR), "H0/TLP:CLEAR"),
    ],
)
def test_the_header_as_the_wire_format_writes_it(handling: Handling, text: str) -> None:
    assert format_handling(handling) == text
    assert parse_handling(text) == handling


def test_an_event_without_a_code_is_h1_green() -> None:
    assert format_handling(DEFAULT_HANDLING) == "H1/TLP:GREEN"


@pytest.mark.parametrize(
    "text", ["", "H2", "H2/AMBER", "H4/TLP:AMBER", "h2/TLP:AMBER", "H2/TLP:amber", "H2/TLP:"]
)
def test_anything_else_is_no_handling(text: str) -> None:
    assert text not in HANDLING_VALUES
    with pytest.raises(ValueError, match="is not a valid"):
        parse_handling(text)
