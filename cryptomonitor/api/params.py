"""The API's query and path parameters: parsed strictly, refused with a 422 naming them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import fastapi

from cryptomonitor.api.deps import invalid

MAX_SYMBOL = 100


def symbol(symbol: str, where: str = "path") -> str:
    if len(symbol) > MAX_SYMBOL or not symbol.isprintable() or not symbol:
        raise invalid(where, "symbol", f"a symbol is 1-{MAX_SYMBOL} printable characters")
    return symbol


def time(text: str | None, name: str) -> dt.datetime | None:
    """An ISO-8601 time (naive: UTC). Numbers are refused: the spec says date-time."""
    if text is None:
        return None
    try:
        if len(text) > 40 or text.strip().lstrip("+-").replace(".", "", 1).isdigit():
            raise ValueError
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid(
            "query", name, "expected an ISO-8601 date-time such as 2025-05-30T17:00:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    if (
        not dt.datetime(2009, 1, 1, tzinfo=dt.UTC)
        <= value
        <= dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
    ):
        raise invalid("query", name, "out of range (2009 to 9999)")
    return value


def time_query(description: str, alias: str | None = None, deprecated: bool = False) -> Any:
    return fastapi.Query(
        alias=alias,
        deprecated=deprecated,
        json_schema_extra={"format": "date-time"},
        description=f"{description}: an ISO-8601 date-time such as "
        "2025-05-30T17:00:00Z (without a time zone: UTC)",
    )
