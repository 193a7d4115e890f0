"""The fuzz suite's size, as issue 10 asks for it: at least 10,000 generated records
through the real pipeline on the embedded transport, at least 10,000 examples in all.

Each fuzz test checks that it really ran its share (hypothesis stops early when a
strategy runs out of new examples); this pins the shares themselves.
"""

from __future__ import annotations

import pytest

from tests.fuzz import budget

pytestmark = pytest.mark.fuzz


def test_the_fuzz_suite_runs_at_least_ten_thousand_examples() -> None:
    assert budget.EMBEDDED_RECORDS >= 10_000
    assert budget.TOTAL_EXAMPLES >= 10_000
    assert budget.KAFKA_RECORDS > 0


def test_examples_are_reproducible_and_leave_no_database() -> None:
    chosen = budget.fuzz_settings(10)
    assert chosen.derandomize
    assert chosen.database is None
    assert chosen.deadline is None
    assert chosen.max_examples == 10
