"""What the API's routes share: the connection pools, the ranking cache, the period rule.

`Service` lives on ``app.state`` for the app's lifetime; routes get it as a dependency
(`cryptomonitor.api`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import fastapi
import psycopg_pool
from fastapi.exceptions import RequestValidationError

from cryptomonitor.db import queries

MAX_PERIOD = dt.timedelta(days=31)
DAY = dt.timedelta(hours=24)
#: psycopg_pool doubles its reconnect delay up to its reconnect_timeout (5 minutes): after a
#: long outage the API would stay down for minutes once the database is back. Capped here.
MAX_RECONNECT_DELAY = 2.0


class _BoundedBackoff(psycopg_pool.base.AttemptWithBackoff):
    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, MAX_RECONNECT_DELAY)


# psycopg_pool has no setting for the longest delay between reconnection attempts.
setattr(psycopg_pool.pool, "AttemptWithBackoff", _BoundedBackoff)  # noqa: B010


class Ranking:
    """The whole volatility ranking, recomputed at most every `ttl` seconds (None: always).

    Ranking one symbol means ranking them all; 100 symbols x 24 h of 1-second ticks take
    hundreds of milliseconds, so concurrent /rank requests share one computation.
    """

    def __init__(self, ttl: float | None) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[Any, ...]] = {}
        self._expires = 0.0

    def get(self, load: Callable[[], list[tuple[Any, ...]]]) -> dict[str, tuple[Any, ...]]:
        with self._lock:
            if self.ttl is None or time.monotonic() >= self._expires:
                self._rows = {str(row[0]): row for row in load()}
                self._expires = time.monotonic() + (self.ttl or 0.0)
            return self._rows


def _pool(conninfo: str, name: str, size: int, timeout: float) -> psycopg_pool.ConnectionPool:
    return psycopg_pool.ConnectionPool(
        conninfo,
        min_size=1,
        max_size=size,
        open=False,
        timeout=timeout,
        name=name,
        # A connection is checked when taken: after a database restart the first request on
        # each idle connection would otherwise fail.
        check=psycopg_pool.ConnectionPool.check_connection,
        kwargs={"autocommit": True, "application_name": f"cryptomonitor-{name}"},
    )


def invalid(where: str, name: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": (where, name), "msg": message, "type": "value_error"}])


class Service:
    """What the routes share: the pools, the ranking cache and the settings."""

    def __init__(
        self,
        conninfo: str,
        stale_after: float,
        pool_size: int,
        pool_timeout: float,
        rank_ttl: float | None,
    ) -> None:
        self.pool = _pool(conninfo, "api", pool_size, pool_timeout)
        # /health has a pool (and threads) of its own: heavy requests cannot starve it.
        self.health_pool = _pool(conninfo, "api-health", 1, pool_timeout)
        self.health_threads = anyio.CapacityLimiter(2)
        self.stale_after = stale_after
        self.ranking = Ranking(rank_ttl)

    def fetch(self, name: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self.pool.connection() as conn:
            return conn.execute(queries.get(name), params or {}).fetchall()

    def ranked(self) -> dict[str, tuple[Any, ...]]:
        """The whole ranking by symbol, shared for the ranking's ttl."""
        return self.ranking.get(lambda: self.fetch("api_ranking"))

    def latest_or_404(self, symbol: str) -> tuple[Any, ...]:
        rows = self.fetch("api_latest", {"symbol": symbol})
        if not rows:
            raise fastapi.HTTPException(404, f"unknown symbol {symbol!r}: no ticks stored")
        return rows[0]

    def period(
        self,
        start: dt.datetime | None,
        end: dt.datetime | None,
    ) -> tuple[dt.datetime, dt.datetime]:
        """[start, end): the last 24 hours by default; `from` alone runs to now."""
        now = dt.datetime.now(dt.UTC)
        if start is None and end is None:
            window: dt.datetime = self.fetch("api_window_start")[0][0]
            return window, now + dt.timedelta(minutes=1)
        named = "to" if end is not None else "from"
        end = end or now + dt.timedelta(minutes=1)
        start = start or end - DAY
        if start >= end:
            raise invalid("query", named, "from must be before to (default: now)")
        if end - start > MAX_PERIOD:
            raise invalid("query", "to", f"a period is at most {MAX_PERIOD.days} days")
        return start, end
