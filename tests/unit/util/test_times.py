"""The time conversions every module shares: exact microseconds, ISO 8601 in and out."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptomonitor.util import times

UTC = dt.UTC
#: Aware times in years 1000-9999 (ISO 8601's four digits) in UTC or another zone.
ZONES = [UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(dt.timedelta(hours=-8))]
aware = st.datetimes(
    min_value=dt.datetime(1, 1, 2),
    max_value=dt.datetime(9999, 12, 30),
    timezones=st.sampled_from(ZONES),
)


def test_the_constants() -> None:
    assert dt.datetime(1970, 1, 1, tzinfo=UTC) == times.EPOCH
    assert times.micros(times.POSTGRES_EPOCH) == 946_684_800 * times.MICROS_PER_SECOND
    assert dt.timedelta(seconds=1) == times.MICROSECOND * times.MICROS_PER_SECOND


def test_micros_are_exact_where_a_float_is_not() -> None:
    late = dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert times.micros(late) == 253_402_300_799_999_999  # past a float's 2**53
    assert times.from_micros(253_402_300_799_999_999) == late
    assert times.micros(dt.datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)) == -1
    assert times.from_micros(1) == times.EPOCH + times.MICROSECOND


@given(st.integers(min_value=times.micros(dt.datetime(1, 1, 2, tzinfo=UTC)), max_value=2**62))
def test_micros_round_trip(us: int) -> None:
    if us > times.micros(dt.datetime.max.replace(tzinfo=UTC)):
        with pytest.raises(OverflowError):
            times.from_micros(us)
        return
    back = times.from_micros(us)
    assert back.tzinfo is UTC and times.micros(back) == us


@given(aware)
def test_micros_count_the_instant_whatever_the_zone(time: dt.datetime) -> None:
    assert times.from_micros(times.micros(time)) == time  # the same instant, in UTC
    assert times.micros(time) == times.micros(time.astimezone(UTC))


def test_a_naive_time_has_no_micros() -> None:
    with pytest.raises(TypeError):
        times.micros(dt.datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T03:04:05Z", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05.000007Z", dt.datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC)),
        ("2026-01-02T03:04:05+00:00", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T05:04:05+02:00", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02 03:04:05", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),  # naive: UTC
        ("2026-01-02", dt.datetime(2026, 1, 2, tzinfo=UTC)),
        ("  2026-01-02T03:04:05Z\n", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_parse_iso(text: str, expected: dt.datetime) -> None:
    parsed = times.parse_iso(text)
    assert parsed == expected and parsed.utcoffset() is not None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2026-13-01T00:00:00Z",
        "2026-01-01T25:00Z",
        "1767225600",
        "2026-01-01T00:00:00z",
    ],
)
def test_parse_iso_refuses_what_is_not_a_time(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (ValueError is the contract; messages vary)
        times.parse_iso(text)


def test_read_iso_keeps_a_time_without_zone_naive() -> None:
    assert times.read_iso("2026-01-02T03:04:05").tzinfo is None
    assert times.read_iso("2026-01-02T03:04:05Z") == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with pytest.raises(ValueError):  # noqa: PT011
        times.read_iso(" 2026-01-02T03:04:05Z")  # as written: blanks are not a time


@pytest.mark.parametrize(
    ("time", "text"),
    [
        (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05Z"),
        (dt.datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC), "2026-01-02T03:04:05.000007Z"),
        (dt.datetime(2026, 1, 2, 3, 4, 5, 120_000, tzinfo=UTC), "2026-01-02T03:04:05.120000Z"),
        (
            dt.datetime(2026, 1, 2, 4, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            "2026-01-02T03:04:05Z",
        ),
        # Four digits of year always (strftime's %Y writes "1-01-01" on glibc).
        (dt.datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),
        (dt.datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC), "0999-12-31T23:59:59Z"),
    ],
)
def test_format_time(time: dt.datetime, text: str) -> None:
    """The alert line's time (and the API's, and the receivers'): these bytes exactly."""
    assert times.format_time(time) == text


@given(aware)
def test_format_time_round_trips(time: dt.datetime) -> None:
    assert times.parse_iso(times.format_time(time)) == time


@given(aware)
def test_format_time_is_the_iso_text_alertmanager_was_sent(time: dt.datetime) -> None:
    """The Alertmanager receiver wrote its own ``isoformat`` with a Z; the same bytes."""
    assert times.format_time(time) == time.astimezone(UTC).isoformat().replace("+00:00", "Z")
