"""What the API's routes depend on: the connection pools, the ranking cache, the period rule.

One `Service` lives on ``app.state`` for the app's lifetime (`application.create_app`); a
route receives it by declaring a parameter of type `ServiceDep`. It runs the named queries
of ``sql/app/api.sql`` and hands their rows over as the `rows` classes, read by name.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, NamedTuple, TypeVar

import anyio
import fastapi
import psycopg
import psycopg_pool
from psycopg.rows import RowFactory

from cryptomonitor.alerting.rules import DEFAULT_RULES, Rule
from cryptomonitor.api import rows
from cryptomonitor.db import queries
from cryptomonitor.util import times

MAX_PERIOD = dt.timedelta(days=31)
DAY = dt.timedelta(hours=24)
#: How long a pool keeps trying to open a connection before it gives up on that attempt.
#: psycopg_pool's default is 5 minutes with a delay that doubles meanwhile, so that after a
#: long outage the API stayed down for minutes once the database was back. Given up, an
#: attempt is made again as soon as a request waits for a connection: at most about a second
#: passes between the database's return and the API's (the delay of the current attempt).
RECONNECT_TIMEOUT = 2.0

Row = TypeVar("Row")


class Period(NamedTuple):
    """The period a request covers, [start, end); `cut`: shortened to `MAX_PERIOD`."""

    start: dt.datetime
    end: dt.datetime
    cut: bool


class Ranking:
    """The whole volatility ranking, recomputed at most every `ttl` seconds (None: always).

    Ranking one symbol means ranking them all; 100 symbols x 24 h of 1-second ticks take
    hundreds of milliseconds, so concurrent /rank requests share one computation.
    """

    def __init__(self, ttl: float | None) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._rows: dict[str, rows.Rank] = {}
        self._expires = 0.0

    def get(self, load: Callable[[], list[rows.Rank]]) -> dict[str, rows.Rank]:
        with self._lock:
            if self.ttl is None or time.monotonic() >= self._expires:
                self._rows = {row.symbol: row for row in load()}
                self._expires = time.monotonic() + (self.ttl or 0.0)
            return self._rows


def _pool(conninfo: str, name: str, size: int, timeout: float) -> psycopg_pool.ConnectionPool:
    return psycopg_pool.ConnectionPool(
        conninfo,
        min_size=1,
        max_size=size,
        open=False,
        timeout=timeout,
        reconnect_timeout=RECONNECT_TIMEOUT,
        name=name,
        # A connection is checked when taken: after a database restart the first request on
        # each idle connection would otherwise fail.
        check=psycopg_pool.ConnectionPool.check_connection,
        kwargs={"autocommit": True, "application_name": f"cryptomonitor-{name}"},
    )


def _fetch(
    conn: psycopg.Connection[Any],
    name: str,
    row: RowFactory[Row],
    bind: Mapping[str, Any] | None,
) -> list[Row]:
    with conn.cursor(row_factory=row) as cur:
        return cur.execute(queries.get(name), bind or {}).fetchall()


class Service:
    """What the routes share: the pools, the ranking cache and the settings.

    Its methods block (they run in FastAPI's thread pool). A database that cannot be reached
    raises `psycopg.OperationalError` or `psycopg_pool.PoolTimeout`, which the app answers
    with a 503.
    """

    def __init__(
        self,
        conninfo: str,
        stale_after: float,
        pool_size: int,
        pool_timeout: float,
        rank_ttl: float | None,
        rules: Sequence[Rule] = DEFAULT_RULES,
        rules_origin: str = "built-in",
    ) -> None:
        self.pool = _pool(conninfo, "api", pool_size, pool_timeout)
        # /health has a pool (and threads) of its own: heavy requests cannot starve it.
        self.health_pool = _pool(conninfo, "api-health", 1, pool_timeout)
        self.health_threads = anyio.CapacityLimiter(2)
        self.stale_after = stale_after
        self.ranking = Ranking(rank_ttl)
        self.rules = tuple(rules)
        self.rules_origin = rules_origin

    def fetch(
        self, name: str, row: RowFactory[Row], bind: Mapping[str, Any] | None = None
    ) -> list[Row]:
        """Every row of the named query with parameters `bind`, each made by `row` (e.g.
        ``rows.by_name(rows.Tick)``)."""
        with self.pool.connection() as conn:
            return _fetch(conn, name, row, bind)

    def ranked(self) -> dict[str, rows.Rank]:
        """The whole ranking by symbol, shared for the ranking's ttl."""
        return self.ranking.get(lambda: self.fetch("api_ranking", rows.by_name(rows.Rank)))

    def latest_or_404(self, symbol: str) -> rows.Tick:
        """The symbol's newest tick; a 404 if it has none."""
        found = self.fetch("api_latest", rows.by_name(rows.Tick), {"symbol": symbol})
        if not found:
            raise fastapi.HTTPException(404, f"unknown symbol {symbol!r}: no ticks stored")
        return found[0]

    def period(self, start: dt.datetime | None, end: dt.datetime | None) -> Period:
        """[start, end): the last 24 hours by default; `from` alone runs to now, `to` alone
        starts 24 hours earlier. Any two times make a period, so that no request the schema
        allows is refused: one longer than `MAX_PERIOD` is cut to its first `MAX_PERIOD`
        (`Period.cut`), one whose `to` is not after its `from` is empty (`to` = `from`)."""
        now = dt.datetime.now(dt.UTC)
        if start is None and end is None:
            (window,) = self.fetch("api_window_start", rows.by_name(rows.WindowStart))
            return Period(window.start, now + dt.timedelta(minutes=1), cut=False)
        if start is None:
            assert end is not None  # for mypy: one of the two is given
            return Period(times.shift(end, -DAY), end, cut=False)
        end = max(start, end or now + dt.timedelta(minutes=1))
        longest = times.shift(start, MAX_PERIOD)
        return Period(start, min(end, longest), cut=end > longest)

    def health(self) -> tuple[float | None, list[rows.ReceiverStatus]]:
        """From the health pool: the age in seconds of the newest tick (None: none in 7 days)
        and the delivery state of each receiver."""
        with self.health_pool.connection() as conn:
            (newest,) = _fetch(conn, "api_newest_tick_age", rows.by_name(rows.TickAge), None)
            receivers = _fetch(conn, "receiver_status", rows.by_name(rows.ReceiverStatus), None)
        return (None if newest.age_s is None else float(newest.age_s)), receivers


def service(request: fastapi.Request) -> Service:
    """The app's `Service`."""
    found: Service = request.app.state.service
    return found


#: A route's parameter of this type receives the app's `Service`.
ServiceDep = Annotated[Service, fastapi.Depends(service)]
