"""Fixtures shared by the contract tests."""

from __future__ import annotations

import pytest

from contracts.base import EventModel
from contracts.examples import example_events, example_story


@pytest.fixture
def story() -> list[tuple[str, EventModel]]:
    return example_story()


def examples_by_type() -> dict[str, EventModel]:
    """The first example of each event type (module-level: used to parametrize)."""
    found: dict[str, EventModel] = {}
    for event in example_events():
        found.setdefault(event.event_type, event)
    return found
