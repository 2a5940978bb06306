"""The rows the API's named queries (``sql/app/api.sql``) return, read by column name.

Each class's fields are the columns of its query, by name and in order; `by_name` reads
rows into it. The routes turn them into the `schemas` they answer with.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any, NamedTuple, TypeVar

from psycopg.rows import RowFactory, RowMaker

Row = TypeVar("Row", bound=NamedTuple)


def by_name(row: type[Row]) -> RowFactory[Row]:
    """A row factory building a `row` from each row of a query whose columns are `row`'s
    fields, by name and in order (checked once per query: TypeError naming both if not).

    As safe as psycopg's `class_row`, at a fraction of its cost: a row is made as a tuple,
    without a dictionary of keywords (100,000 points in one answer).
    """

    def maker(cur: Any) -> RowMaker[Row]:  # psycopg's BaseCursor, private to it
        columns = tuple(c.name for c in cur.description or ())
        if columns != row._fields:
            raise TypeError(f"{row.__name__} reads columns {row._fields}, not {columns}")
        make: RowMaker[Row] = row._make
        return make

    return maker


class Tick(NamedTuple):
    """``api_latest``, ``api_points``: one stored tick of a symbol."""

    time: dt.datetime
    price: float
    volume_24h: float | None


class WindowStart(NamedTuple):
    """``api_window_start``: where the last 24 hours begin (the first of their minutes)."""

    start: dt.datetime


class TickAge(NamedTuple):
    """``api_newest_tick_age``: seconds since the newest tick; None if none in 7 days."""

    age_s: decimal.Decimal | None


class Newest(NamedTuple):
    """``api_symbols``: a symbol and its newest tick."""

    symbol: str
    time: dt.datetime
    price: float
    volume_24h: float | None


class Summary(NamedTuple):
    """``api_summary``: a symbol's price over a period (None but `samples` when it is empty)."""

    samples: int
    min: float | None
    max: float | None
    avg: float | None
    stddev: float | None


class Candle(NamedTuple):
    """``api_candles_1m``, ``_1h``, ``_1d``: one OHLCV candle."""

    bucket: dt.datetime
    open: float
    high: float
    low: float
    close: float
    volume: decimal.Decimal | None  # a numeric column: exact sums of traded volume
    volume_24h: float | None
    ticks: int


class Rank(NamedTuple):
    """``api_ranking``: a symbol's places among the `total` ranked by 24-hour volatility:
    `rank` by the standard deviation, `cv_rank` by the coefficient of variation."""

    symbol: str
    stddev: float | None
    samples: int
    rank: int
    mean: float
    cv_pct: float | None
    cv_rank: int
    total: int
    last_price: float
    change_24h_pct: float | None


class Gap(NamedTuple):
    """``api_gaps``: a hole in a symbol's ticks."""

    symbol: str
    gap_start: dt.datetime
    gap_end: dt.datetime
    seconds: float


class ReceiverStatus(NamedTuple):
    """``receiver_status`` (sql/app/delivery.sql): a receiver's undelivered alert events."""

    name: str
    kind: str
    pending: int
    oldest_pending_s: float | None
    last_error: str | None
