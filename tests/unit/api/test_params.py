"""The API's parameters: ISO-8601 times and symbols, refused with a 422 naming them."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import hypothesis
import hypothesis.strategies
import pytest
from fastapi.exceptions import RequestValidationError

from cryptomonitor.api import params
from cryptomonitor.util import times


@pytest.mark.parametrize(
    "text",
    [
        "2025-05-30T17:00:00Z",
        "2025-05-30T17:00:00+00:00",
        " 2025-05-30T17:00:00 ",
        "2025-05-30T19:00+02:00",
    ],
)
def test_a_time_is_iso_8601_and_utc_without_a_zone(text: str) -> None:
    assert params.time(text, "from") == dt.datetime(2025, 5, 30, 17, tzinfo=dt.UTC)
    assert params.time(None, "from") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "expected an ISO-8601 date-time such as 2025-05-30T17:00:00Z"),
        ("1748624400", "expected an ISO-8601 date-time"),  # numbers are not date-times
        ("-0.5", "expected an ISO-8601 date-time"),
        ("2025-05-30T17:00:00Z" + " " * 30, "expected an ISO-8601 date-time"),  # over 40
        ("10000-01-01T00:00:00Z", "expected an ISO-8601 date-time"),
    ],
)
def test_a_bad_time_is_a_422_naming_it(text: str, message: str) -> None:
    with pytest.raises(RequestValidationError) as refused:
        params.time(text, "to")
    (error,) = refused.value.errors()
    assert error["loc"] == ("query", "to") and message in error["msg"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Any time a datetime holds: the fuzzer's 2000 was refused as "out of range".
        ("2000-01-01T00:00:00Z", dt.datetime(2000, 1, 1, tzinfo=dt.UTC)),
        ("0001-01-01T00:00:00Z", times.EARLIEST),
        ("9999-12-31T23:59:59.999999Z", times.LATEST),
        ("2025-05-30T19:00+02:00", dt.datetime(2025, 5, 30, 17, tzinfo=dt.UTC)),  # in UTC
        # An offset taking it past the years 1 to 9999: held there, not an OverflowError.
        ("0001-01-01T00:00:00+01:00", times.EARLIEST),
        ("9999-12-31T23:30:00-01:00", times.LATEST),
    ],
)
def test_every_time_a_datetime_holds_is_accepted(text: str, expected: dt.datetime) -> None:
    got = params.time(text, "from")
    assert got == expected and got is not None and got.utcoffset() == dt.timedelta(0)


def test_a_symbol_is_1_to_100_characters_without_control_characters() -> None:
    assert params.symbol("bitcoin") == "bitcoin"
    assert params.symbol("x" * 100) == "x" * 100
    assert params.symbol("Ünï cødé ✓ / ?") == "Ünï cødé ✓ / ?"
    for bad in ("", "x" * 101, "btc\x00", "\x7f", "a\x9fb", "\n", "btc\n"):
        with pytest.raises(RequestValidationError) as refused:
            params.symbol(bad, "query")
        assert refused.value.errors()[0]["loc"] == ("query", "symbol")


@hypothesis.given(
    hypothesis.strategies.text(max_size=120)
    | hypothesis.strategies.text(max_size=3).map(lambda t: t + "\n")
)
def test_the_symbol_check_is_the_schema_s_pattern(text: str) -> None:
    """What /openapi.json says of a symbol (`pattern`, `minLength`, `maxLength`) is what the
    API checks: a schema-valid symbol is never refused, a refused one is schema-invalid."""
    no_control = bool(text) and not any(unicodedata.category(c) == "Cc" for c in text)
    valid = no_control and len(text) <= params.MAX_SYMBOL
    # As a JSON Schema validator reads the pattern (ECMA 262: $ only at the very end).
    assert bool(re.fullmatch(params.SYMBOL_PATTERN, text)) == no_control
    try:
        params.symbol(text)
    except RequestValidationError:
        assert not valid
    else:
        assert valid


def test_a_period_that_cannot_overflow() -> None:
    assert times.shift(times.LATEST, dt.timedelta(days=31)) == times.LATEST
    assert times.shift(times.EARLIEST, -dt.timedelta(days=1)) == times.EARLIEST
    assert times.shift(times.EARLIEST, dt.timedelta(days=1)) == dt.datetime(1, 1, 2, tzinfo=dt.UTC)
