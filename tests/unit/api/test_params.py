"""The API's parameters: ISO-8601 times and symbols, refused with a 422 naming them."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.exceptions import RequestValidationError

from cryptomonitor.api import params


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
        ("2008-12-31T23:59:59Z", "out of range (2009 to 9999)"),
        ("9999-01-01T00:00:01Z", "out of range (2009 to 9999)"),
    ],
)
def test_a_bad_time_is_a_422_naming_it(text: str, message: str) -> None:
    with pytest.raises(RequestValidationError) as refused:
        params.time(text, "to")
    (error,) = refused.value.errors()
    assert error["loc"] == ("query", "to") and message in error["msg"]


def test_a_symbol_is_1_to_100_printable_characters() -> None:
    assert params.symbol("bitcoin") == "bitcoin"
    for bad in ("", "x" * 101, "btc\x00"):
        with pytest.raises(RequestValidationError) as refused:
            params.symbol(bad, "query")
        assert refused.value.errors()[0]["loc"] == ("query", "symbol")
