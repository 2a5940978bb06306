"""The read-only REST API: tracked metrics, their last 24 hours, volatility rank, alerts, health.

FastAPI on a psycopg connection pool. "The last 24 hours" is the same window everywhere: the
1,440 minute buckets ending with the current one (SQL ``last_24h_start()``), which is also the
window of ``volatility_24h``, so ``/metrics/{symbol}``'s ``stddev`` equals ``/rank/{symbol}``'s
(as of the ranking's last computation: it is shared for ``rank_ttl`` seconds).
Unknown symbols get 404, bad parameters 422 naming the parameter, all with a JSON body.
OpenAPI docs are served at ``/docs`` and ``/openapi.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import fastapi
import psycopg
import psycopg_pool
import structlog
from fastapi.responses import JSONResponse
from psycopg.rows import class_row

from cryptomonitor import __version__, alerts, queries

log = structlog.get_logger(__name__)


class Interval(enum.StrEnum):
    raw = "raw"
    one_minute = "1m"
    one_hour = "1h"


def _iso(t: dt.datetime) -> str:
    return alerts.format_time(t)


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


def create_app(conninfo: str, stale_after: float = 300.0, pool_size: int = 10,
               pool_timeout: float = 5.0, rank_ttl: float | None = 10.0) -> fastapi.FastAPI:
    """The application; its pool opens at start-up and closes at shutdown."""
    pool = psycopg_pool.ConnectionPool(conninfo, min_size=1, max_size=pool_size, open=False,
                                       timeout=pool_timeout,
                                       kwargs={"autocommit": True,
                                               "application_name": "cryptomonitor-api"})

    @contextlib.asynccontextmanager
    async def lifespan(app: fastapi.FastAPI) -> AsyncIterator[None]:
        pool.open(wait=False)
        try:
            yield
        finally:
            pool.close()

    app = fastapi.FastAPI(title="CryptoMonitor", version=__version__, lifespan=lifespan,
                          description="Read-only access to the ticks, candles, volatility rank "
                                      "and alerts that CryptoMonitor stores.")

    ranking = Ranking(rank_ttl)

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg_pool.PoolTimeout)
    async def database_down(request: fastapi.Request, exc: Exception) -> JSONResponse:
        log.warning("api_database_unavailable", path=request.url.path, error=str(exc))
        return JSONResponse({"detail": "database unavailable"}, status_code=503)

    def fetch(name: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with pool.connection() as conn:
            return conn.execute(queries.get(name), params or {}).fetchall()

    def window_start() -> dt.datetime:
        start: dt.datetime = fetch("api_window_start")[0][0]
        return start

    def latest_or_404(symbol: str) -> tuple[Any, ...]:
        rows = fetch("api_latest", {"symbol": symbol})
        if not rows:
            raise fastapi.HTTPException(404, f"unknown symbol {symbol!r}: no ticks stored")
        return rows[0]

    @app.get("/metrics", summary="Tracked metrics and the time of their latest tick")
    def metrics() -> JSONResponse:
        out = []
        for symbol, latest, _price, volume in fetch("api_symbols"):
            out.append({"symbol": symbol, "metric": "price", "latest_time": _iso(latest)})
            if volume is not None:
                out.append({"symbol": symbol, "metric": "volume_24h",
                            "latest_time": _iso(latest)})
        return JSONResponse({"metrics": out})

    @app.get("/metrics/{symbol}", summary="The last 24 hours of a symbol, with summary figures")
    def symbol_detail(
        symbol: str,
        interval: Annotated[Interval, fastapi.Query(
            description="raw: every tick; 1m or 1h: OHLCV candles")] = Interval.raw,
    ) -> JSONResponse:
        latest = latest_or_404(symbol)
        start = window_start()
        n, low, high, avg, stddev = fetch("api_summary", {"symbol": symbol, "start": start})[0]
        body: dict[str, Any] = {
            "symbol": symbol, "interval": interval.value, "from": _iso(start),
            "summary": {"latest": {"time": _iso(latest[0]), "price": latest[1],
                                   "volume_24h": latest[2]},
                        "samples": n, "min": low, "max": high, "avg": avg, "stddev": stddev},
        }
        if interval is Interval.raw:
            body["points"] = [{"time": _iso(t), "price": p, "volume_24h": v}
                              for t, p, v in fetch("api_points", {"symbol": symbol,
                                                                  "start": start})]
        else:
            name = "api_candles_1m" if interval is Interval.one_minute else "api_candles_1h"
            body["candles"] = [
                {"bucket": _iso(b), "open": o, "high": h, "low": lo, "close": c,
                 "volume": v, "ticks": k}
                for b, o, h, lo, c, v, k in fetch(name, {"symbol": symbol, "start": start})]
        return JSONResponse(body)

    @app.get("/rank/{symbol}", summary="A symbol's rank by 24-hour price standard deviation")
    def rank(symbol: str) -> JSONResponse:
        row = ranking.get(lambda: fetch("api_ranking")).get(symbol)
        if row is None:
            latest_or_404(symbol)
            raise fastapi.HTTPException(404, f"{symbol!r} has no ticks in the last 24 hours")
        sym, stddev, samples, position, total = row
        return JSONResponse({"symbol": sym, "rank": position, "of": total, "stddev": stddev,
                             "samples": samples, "stddev_kind": "sample (n - 1)"})

    @app.get("/alerts", summary="Recent alerts, newest first")
    def recent_alerts(
        since: Annotated[dt.datetime | None, fastapi.Query(
            description="ISO-8601 time; default: 24 hours ago")] = None,
        symbol: str | None = None,
        limit: Annotated[int, fastapi.Query(ge=1, le=10_000)] = 1000,
    ) -> JSONResponse:
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        since = since or dt.datetime.now(dt.UTC) - dt.timedelta(hours=24)
        with pool.connection() as conn, conn.cursor(row_factory=class_row(alerts.Event)) as cur:
            events = cur.execute(queries.get("api_alerts"),
                                 {"since": since, "symbol": symbol, "limit": limit}).fetchall()
        return JSONResponse({"alerts": [
            {**dataclasses.asdict(e), "time": _iso(e.time), "alert_id": str(e.alert_id),
             "episode_id": str(e.episode_id)} for e in events]})

    @app.get("/health/live", summary="Liveness: the API process serves requests (no database)")
    def live() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    @app.get("/health", summary="Database reachable and data fresh (503 otherwise)")
    def health() -> JSONResponse:
        try:
            age = fetch("api_newest_tick_age")[0][0]
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            return JSONResponse({"status": "unavailable", "database": "unreachable",
                                 "error": str(exc)}, status_code=503)
        age_s = None if age is None else float(age)
        fresh = age_s is not None and age_s <= stale_after
        return JSONResponse({"status": "ok" if fresh else "stale", "database": "ok",
                             "newest_tick_age_s": age_s, "stale_after_s": stale_after},
                            status_code=200 if fresh else 503)

    return app
