"""Small drawing helpers shared by the fuzz strategies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from hypothesis import strategies as st

__all__ = ["pick"]

T = TypeVar("T")


def pick(draw: st.DrawFn, options: Sequence[T]) -> T:
    """One of ``options``, about evenly (shrinking towards the first).

    Not ``st.sampled_from(options)``: built inside a composite, that is a new strategy per
    draw, which hypothesis validates each time; ``sampled_from(range(n))`` is cached. Nor
    ``st.integers(0, n - 1)``, which draws 0 several times as often as the others.
    """
    return options[draw(st.sampled_from(range(len(options))))]
