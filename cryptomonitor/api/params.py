"""The API's query and path parameters: parsed strictly, refused with a 422 naming them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

import fastapi
from fastapi.exceptions import RequestValidationError

from cryptomonitor.util import times

MAX_SYMBOL = 100
#: A symbol: no control character (Unicode category Cc). The same text is the OpenAPI
#: ``pattern`` (ECMA 262 reads the escapes as Python does) and what `symbol` checks.
SYMBOL_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]+$"
_SYMBOL = re.compile(SYMBOL_PATTERN)
#: Longer text is no date-time (the longest with microseconds and an offset is 32).
MAX_TIME_TEXT = 40
_SYMBOL_SCHEMA = {"minLength": 1, "maxLength": MAX_SYMBOL, "pattern": SYMBOL_PATTERN}
_SYMBOL_RULE = f"1-{MAX_SYMBOL} characters, none a control character"

#: A route's ``{symbol}`` path parameter: the schema states what `symbol` checks.
SymbolPath = Annotated[
    str, fastapi.Path(description=f"the symbol: {_SYMBOL_RULE}", json_schema_extra=_SYMBOL_SCHEMA)
]
#: A route's optional ``symbol`` query parameter, the same rule.
SymbolQuery = Annotated[
    str | None,
    fastapi.Query(description=f"one symbol only: {_SYMBOL_RULE}", json_schema_extra=_SYMBOL_SCHEMA),
]


def invalid(where: str, name: str, message: str) -> RequestValidationError:
    """The 422 refusing parameter `name` (in the ``path`` or the ``query``), saying why."""
    return RequestValidationError([{"loc": (where, name), "msg": message, "type": "value_error"}])


def symbol(symbol: str, where: str = "path") -> str:
    """`symbol` if it is 1 to `MAX_SYMBOL` characters, none a control character (NUL, ...):
    what `SYMBOL_PATTERN` says; a 422 otherwise."""
    # fullmatch: Python's $ also matches before a final newline, ECMA 262's does not.
    if len(symbol) > MAX_SYMBOL or not _SYMBOL.fullmatch(symbol):
        raise invalid(where, "symbol", f"a symbol is {_SYMBOL_RULE}")
    return symbol


def time(text: str | None, name: str) -> dt.datetime | None:
    """An ISO-8601 time (naive: UTC), in UTC, None for no text; a 422 naming query parameter
    `name` otherwise. Any time a `datetime` holds is accepted (PostgreSQL's range is wider):
    the years 1 to 9999, held there when an offset takes it beyond (`times.to_utc`).
    Numbers are refused: the spec says date-time."""
    if text is None:
        return None
    try:
        if len(text) > MAX_TIME_TEXT or text.strip().lstrip("+-").replace(".", "", 1).isdigit():
            raise ValueError
        value = times.parse_iso(text)
    except ValueError:
        raise invalid(
            "query", name, "expected an ISO-8601 date-time such as 2025-05-30T17:00:00Z"
        ) from None
    return times.to_utc(value)


#: The descriptions of a period's `from` and `to` (`deps.Service.period`).
FROM_IN_PERIOD = "start (default: 24 hours before `to`)"
TO_IN_PERIOD = (
    "end, excluded (default: now). A period is 31 days at most: a longer one is cut to its "
    "first 31 days (`truncated`; the answer's `to` says where it ends); one whose `to` is "
    "not after its `from` is empty"
)


def time_query(description: str, alias: str | None = None, deprecated: bool = False) -> Any:
    """The `fastapi.Query` of a time parameter: a string that the spec marks ``date-time``."""
    return fastapi.Query(
        alias=alias,
        deprecated=deprecated,
        json_schema_extra={"format": "date-time", "maxLength": MAX_TIME_TEXT},
        description=f"{description}: an ISO-8601 date-time such as "
        "2025-05-30T17:00:00Z (without a time zone: UTC)",
    )
