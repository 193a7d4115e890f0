"""Event ids (UUIDv7, RFC 9562) and RFC 3339 times, against the RFCs' own examples.

``ce_time`` is read as RFC 3339 §5.6 ``date-time`` with an offset and nothing else ISO 8601
allows (docs/wire-format.md step 3), so a time means one instant to every reader.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bus.envelope.ids import FEDERATION_TZ, format_time, new_event_id, now, parse_time
from contracts.vocab import EVENT_ID_PATTERN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # RFC 3339 §5.8, the examples
        ("1985-04-12T23:20:50.52Z", datetime(1985, 4, 12, 23, 20, 50, 520000, tzinfo=UTC)),
        (
            "1996-12-19T16:39:57-08:00",
            datetime(1996, 12, 20, 0, 39, 57, tzinfo=UTC),
        ),
        (
            "1937-01-01T12:00:27.87+00:20",
            datetime(1937, 1, 1, 11, 40, 27, 870000, tzinfo=UTC),
        ),
        # the wire format's own example (docs/wire-format.md)
        (
            "2026-11-26T11:38:48.512+08:00",
            datetime(2026, 11, 26, 3, 38, 48, 512000, tzinfo=UTC),
        ),
        ("2026-11-26T11:38:48+08:00", datetime(2026, 11, 26, 3, 38, 48, tzinfo=UTC)),
        # finer than microseconds: the digits datetime cannot hold are dropped, not rounded
        ("2026-11-26T11:38:48.123456789Z", datetime(2026, 11, 26, 11, 38, 48, 123456, tzinfo=UTC)),
        ("2026-11-26T11:38:48.9999999Z", datetime(2026, 11, 26, 11, 38, 48, 999999, tzinfo=UTC)),
        ("2026-11-26T11:38:48.1Z", datetime(2026, 11, 26, 11, 38, 48, 100000, tzinfo=UTC)),
        ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),  # a leap day
    ],
)
def test_rfc3339_times_are_the_instants_they_name(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed.utcoffset() is not None


def test_the_offset_is_kept_not_only_the_instant() -> None:
    assert parse_time("1996-12-19T16:39:57-08:00").utcoffset() == timedelta(hours=-8)
    assert parse_time("2026-11-26T11:38:48+08:00").utcoffset() == timedelta(hours=8)
    assert parse_time("1985-04-12T23:20:50.52Z").utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-26T11:38:48",  # no offset: a local time of nobody knows where
        "2026-11-26 11:38:48Z",  # RFC 3339 §5.6 allows a space by agreement; silian does not
        "2026-11-26t11:38:48z",  # nor lower case (docs/wire-format.md: nothing else)
        "20261126T113848Z",  # ISO 8601 basic format
        "2026-11-26",
        "11:38:48Z",
        "2026-11-26T11:38Z",
        "2026-11-26T11:38:48.Z",
        "2026-11-26T11:38:48+0800",
        "2026-11-26T11:38:48+08",
        "+2026-11-26T11:38:48Z",
        " 2026-11-26T11:38:48Z",
        "2026-11-26T11:38:48Z ",
        "２０２６-11-26T11:38:48Z",  # full-width digits are digits to \d without re.ASCII
        "",
    ],
)
def test_anything_else_iso_8601_allows_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not RFC 3339 with an offset"):
        parse_time(text)


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-29T00:00:00Z",  # not a leap year
        "2026-13-01T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-11-26T24:00:00Z",
        "2026-11-26T11:60:00Z",
        # RFC 3339 §5.8's leap second: a valid RFC 3339 time that Python cannot hold, so it
        # is refused as not a valid date and time rather than moved to another second
        "1990-12-31T23:59:60Z",
        "2026-11-26T11:38:48+24:00",
    ],
)
def test_a_date_or_time_that_does_not_exist_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a valid date and time"):
        parse_time(text)


def test_a_long_time_is_cut_short_in_the_error() -> None:
    with pytest.raises(ValueError, match="is not RFC 3339") as caught:
        parse_time("9" * 10_000)
    assert len(str(caught.value)) < 100


def test_times_go_on_the_wire_with_an_offset_and_milliseconds() -> None:
    moment = datetime(2026, 11, 26, 11, 38, 48, 512345, tzinfo=FEDERATION_TZ)
    assert format_time(moment) == "2026-11-26T11:38:48.512+08:00"
    assert parse_time(format_time(moment)) == moment.replace(microsecond=512000)
    assert format_time(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000+00:00"
    with pytest.raises(ValueError, match="without an offset"):
        format_time(datetime(2026, 11, 26, 11, 38, 48))


def test_now_is_in_the_federations_zone() -> None:
    assert FEDERATION_TZ.utcoffset(None) == timedelta(hours=8)
    moment = now()
    assert moment.utcoffset() == timedelta(hours=8)
    assert abs(moment - datetime.now(UTC)) < timedelta(minutes=1)


def test_an_event_id_is_a_uuidv7_of_now() -> None:
    before = time.time_ns() // 1_000_000
    event_id = new_event_id()
    after = time.time_ns() // 1_000_000
    value = uuid.UUID(event_id)
    assert str(value) == event_id  # lowercase, hyphenated
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after  # RFC 9562 §5.7: 48-bit Unix milliseconds
    assert re.fullmatch(EVENT_ID_PATTERN, event_id)


def test_event_ids_are_unique_and_sort_by_time() -> None:
    ids = [new_event_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    millis = [uuid.UUID(i).int >> 80 for i in ids]
    assert millis == sorted(millis)
    # the 74 random bits are random: not all ids of one millisecond share them
    assert len({uuid.UUID(i).int & ((1 << 62) - 1) for i in ids}) == len(ids)
