"""How many examples each fuzz test runs, and the hypothesis settings they share.

Issue 10 asks for at least 10,000 generated records through the real pipeline on the
embedded transport and 10,000 examples in the suite as a whole; the counts live here so
the total is read in one place (``tests/fuzz/test_budget.py`` pins it), and each test
checks that it really ran its count.

Reproducible in CI, which runs on a fresh clone: ``derandomize`` draws the same examples
on every run (from a hash of the test), and ``database=None`` neither reads nor writes an
example database (``.hypothesis/`` is ignored by git all the same). ``deadline=None``:
an example's time is the real pipeline's (SQLite, Kafka round trips), not a property.
"""

from __future__ import annotations

from hypothesis import settings

__all__ = [
    "AGREEMENT_FILES",
    "BUNDLE_LINES",
    "BUNDLE_RECORDS",
    "EMBEDDED_RECORDS",
    "HOSTILE_RECORDS",
    "KAFKA_LARGE_RECORDS",
    "KAFKA_RECORDS",
    "KEY_FILES",
    "LARGE_RECORDS",
    "MUTATED_RECORDS",
    "RANDOM_RECORDS",
    "TOTAL_EXAMPLES",
    "fuzz_settings",
]

# The consumer pipeline on the embedded transport (tests/fuzz/test_records.py).
RANDOM_RECORDS = 3_500  # random bytes for key, value and headers
MUTATED_RECORDS = 3_500  # real signed records, bent
HOSTILE_RECORDS = 3_500  # validly signed by a member, with hostile fields and values
LARGE_RECORDS = 40  # random, then signed: values of 512 KiB to 3 MB, in a world apart
EMBEDDED_RECORDS = RANDOM_RECORDS + MUTATED_RECORDS + HOSTILE_RECORDS + 2 * LARGE_RECORDS
# The same on a real broker (tests/fuzz/test_records_kafka.py).
KAFKA_RECORDS = 300  # the three kinds drawn together
KAFKA_LARGE_RECORDS = 6  # about 1 MB each: kept by reference
# The files silian reads (tests/fuzz/test_files.py).
BUNDLE_LINES = 500  # a line of a real bundle bent
BUNDLE_RECORDS = 500  # a hostile record in a well-formed bundle
AGREEMENT_FILES = 500
KEY_FILES = 500
TOTAL_EXAMPLES = (
    EMBEDDED_RECORDS
    + KAFKA_RECORDS
    + KAFKA_LARGE_RECORDS
    + BUNDLE_LINES
    + BUNDLE_RECORDS
    + AGREEMENT_FILES
    + KEY_FILES
)


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        # No health check is suppressed: none fires (large values are drawn as a size and
        # built in the test, strategies are built once).
        print_blob=False,
    )
