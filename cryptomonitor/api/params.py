"""The API's query and path parameters: parsed strictly, refused with a 422 naming them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import fastapi
from fastapi.exceptions import RequestValidationError

from cryptomonitor.util import times

MAX_SYMBOL = 100
#: The times a query may name: from Bitcoin's first year to the last four-digit one.
EARLIEST = dt.datetime(2009, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def invalid(where: str, name: str, message: str) -> RequestValidationError:
    """The 422 refusing parameter `name` (in the ``path`` or the ``query``), saying why."""
    return RequestValidationError([{"loc": (where, name), "msg": message, "type": "value_error"}])


def symbol(symbol: str, where: str = "path") -> str:
    """`symbol` if it is 1 to `MAX_SYMBOL` printable characters; a 422 otherwise."""
    if len(symbol) > MAX_SYMBOL or not symbol.isprintable() or not symbol:
        raise invalid(where, "symbol", f"a symbol is 1-{MAX_SYMBOL} printable characters")
    return symbol


def time(text: str | None, name: str) -> dt.datetime | None:
    """An ISO-8601 time (naive: UTC) between `EARLIEST` and `LATEST`, None for no text; a 422
    naming query parameter `name` otherwise. Numbers are refused: the spec says date-time."""
    if text is None:
        return None
    try:
        if len(text) > 40 or text.strip().lstrip("+-").replace(".", "", 1).isdigit():
            raise ValueError
        value = times.parse_iso(text)
    except ValueError:
        raise invalid(
            "query", name, "expected an ISO-8601 date-time such as 2025-05-30T17:00:00Z"
        ) from None
    if not EARLIEST <= value <= LATEST:
        raise invalid("query", name, "out of range (2009 to 9999)")
    return value


def time_query(description: str, alias: str | None = None, deprecated: bool = False) -> Any:
    """The `fastapi.Query` of a time parameter: a string that the spec marks ``date-time``."""
    return fastapi.Query(
        alias=alias,
        deprecated=deprecated,
        json_schema_extra={"format": "date-time"},
        description=f"{description}: an ISO-8601 date-time such as "
        "2025-05-30T17:00:00Z (without a time zone: UTC)",
    )
