"""The read-only REST API: tracked metrics, their history, volatility rank, alerts, health.

FastAPI on a psycopg connection pool. The default period is "the last 24 hours", the same
window everywhere: the 1,440 minute buckets ending with the current one (SQL
``last_24h_start()``), which is also the window of ``volatility_24h``, so
``/metrics/{symbol}``'s ``stddev`` equals ``/rank/{symbol}``'s (as of the ranking's last
computation: it is shared for ``rank_ttl`` seconds). ``from``/``to`` ask for another period.

One rule for input: a symbol with no stored tick is 404 on every endpoint; a malformed
parameter is 422 naming it; no input, however odd, is a 500. Error bodies are ``{"detail":
...}`` and never carry the database driver's text or more than 100 characters of the input.
Every request is one ``request`` log line. OpenAPI docs are served at ``/docs`` from the
package (Swagger UI 5.35.0, vendored: no network needed) and ``/openapi.json``; the dashboard
at ``/`` (Lightweight Charts 5.2.1, vendored; see static/README.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import importlib.resources
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import anyio
import fastapi
import psycopg
import psycopg_pool
import structlog
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from cryptomonitor import __version__
from cryptomonitor.alerting import episodes
from cryptomonitor.api import pages, params, schemas
from cryptomonitor.api.deps import DAY, Service
from cryptomonitor.db import queries
from cryptomonitor.metrics import HTTP_METHODS, HTTP_SECONDS
from cryptomonitor.util import times

log = structlog.get_logger(__name__)

MAX_ROWS = 100_000  # points or candles in one answer
MAX_ALERTS = 10_000


class Interval(enum.StrEnum):
    raw = "raw"
    one_minute = "1m"
    one_hour = "1h"
    one_day = "1d"


CANDLE_QUERIES = {
    Interval.one_minute: "api_candles_1m",
    Interval.one_hour: "api_candles_1h",
    Interval.one_day: "api_candles_1d",
}


def _iso(t: dt.datetime) -> str:
    return times.format_time(t)


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": schemas.Error, "description": "unknown symbol: no tick stored"},
    503: {"model": schemas.Error, "description": "database unavailable"},
}


def _service(request: fastapi.Request) -> Service:
    service: Service = request.app.state.service
    return service


Svc = Annotated[Service, fastapi.Depends(_service)]
router = fastapi.APIRouter()


@router.get(
    "/metrics",
    summary="Tracked metrics and the time of their latest tick",
    responses={503: ERRORS[503]},
)
def metrics(svc: Svc) -> schemas.Metrics:
    out = []
    for symbol, latest, _price, volume in svc.fetch("api_symbols"):
        out.append(schemas.Metric(symbol=symbol, metric="price", latest_time=_iso(latest)))
        if volume is not None:
            out.append(schemas.Metric(symbol=symbol, metric="volume_24h", latest_time=_iso(latest)))
    return schemas.Metrics(metrics=out)


@router.get(
    "/metrics/{symbol}",
    summary="A symbol's ticks or candles over a period "
    "(default: the last 24 hours), with summary figures",
    responses=ERRORS,
    response_model_by_alias=True,
)
def symbol_detail(
    svc: Svc,
    symbol: str,
    interval: Annotated[
        Interval, fastapi.Query(description="raw: every tick; 1m, 1h or 1d: OHLCV candles")
    ] = Interval.raw,
    from_: Annotated[
        str | None, params.time_query("start (default: 24 hours before `to`)", "from")
    ] = None,
    to: Annotated[str | None, params.time_query("end, excluded (default: now)")] = None,
    limit: Annotated[
        int,
        fastapi.Query(
            ge=1, le=MAX_ROWS, description=f"points or candles at most (up to {MAX_ROWS:,})"
        ),
    ] = MAX_ROWS,
) -> schemas.SymbolDetail:
    symbol = params.symbol(symbol)
    start, end = svc.period(params.time(from_, "from"), params.time(to, "to"))
    latest = svc.latest_or_404(symbol)
    bounds = {"symbol": symbol, "start": start, "end": end, "limit": limit + 1}
    n, low, high, avg, stddev = svc.fetch("api_summary", bounds)[0]
    summary = schemas.Summary(
        latest=schemas.Latest(time=_iso(latest[0]), price=latest[1], volume_24h=latest[2]),
        samples=n,
        min=low,
        max=high,
        avg=avg,
        stddev=stddev,
    )
    points = candles = None
    if interval is Interval.raw:
        rows = svc.fetch("api_points", bounds)
        points = [schemas.Point(time=_iso(t), price=p, volume_24h=v) for t, p, v in rows]
    else:
        rows = svc.fetch(CANDLE_QUERIES[interval], bounds)
        candles = [
            schemas.Candle(
                bucket=_iso(b), open=o, high=h, low=lo, close=c, volume=v, volume_24h=v24, ticks=k
            )
            for b, o, h, lo, c, v, v24, k in rows
        ]
    truncated = len(rows) > limit
    return schemas.SymbolDetail.model_validate(
        {
            "symbol": symbol,
            "interval": interval.value,
            "from": _iso(start),
            "to": _iso(end),
            "summary": summary,
            "points": points[:limit] if points is not None else None,
            "candles": candles[:limit] if candles is not None else None,
            "truncated": truncated,
        }
    )


def _rank(row: tuple[Any, ...]) -> schemas.Rank:
    sym, stddev, samples, position, total = row
    return schemas.Rank(
        symbol=sym,
        rank=position,
        of=total,
        stddev=stddev,
        samples=samples,
        stddev_kind="sample (n - 1)",
    )


@router.get(
    "/rank",
    summary="Every symbol's rank by 24-hour price standard deviation",
    responses={503: ERRORS[503]},
)
def ranking(svc: Svc) -> schemas.Ranking:
    rows = svc.ranked().values()
    return schemas.Ranking(ranking=sorted((_rank(r) for r in rows), key=lambda r: r.rank))


@router.get(
    "/rank/{symbol}",
    summary="A symbol's rank by 24-hour price standard deviation",
    responses=ERRORS,
)
def rank(svc: Svc, symbol: str) -> schemas.Rank:
    symbol = params.symbol(symbol)
    row = svc.ranked().get(symbol)
    if row is None:
        svc.latest_or_404(symbol)
        raise fastapi.HTTPException(404, f"{symbol!r} has no ticks in the last 24 hours")
    return _rank(row)


@router.get(
    "/alerts",
    summary="Alerts over a period (default: the last 24 hours), newest first",
    responses=ERRORS,
)
def recent_alerts(
    svc: Svc,
    from_: Annotated[
        str | None, params.time_query("start (default: 24 hours before `to`)", "from")
    ] = None,
    to: Annotated[str | None, params.time_query("end, excluded (default: none)")] = None,
    since: Annotated[str | None, params.time_query("the same as from", deprecated=True)] = None,
    symbol: Annotated[str | None, fastapi.Query(description="one symbol only")] = None,
    limit: Annotated[
        int,
        fastapi.Query(ge=1, le=MAX_ALERTS, description=f"alerts at most (up to {MAX_ALERTS:,})"),
    ] = 1000,
) -> schemas.Alerts:
    start = params.time(from_, "from") or params.time(since, "since")
    end = params.time(to, "to")
    if start is None:
        start = (end or dt.datetime.now(dt.UTC)) - DAY
    end = end or dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
    if symbol is not None:
        svc.latest_or_404(params.symbol(symbol, "query"))
    rows = svc.fetch(
        "api_alerts", {"start": start, "end": end, "symbol": symbol, "limit": limit + 1}
    )
    events = [episodes.Event(*row) for row in rows]
    return schemas.Alerts(
        truncated=len(events) > limit,
        alerts=[
            schemas.Alert(
                **{
                    **dataclasses.asdict(e),
                    "time": _iso(e.time),
                    "alert_id": str(e.alert_id),
                    "episode_id": str(e.episode_id),
                }
            )
            for e in events[:limit]
        ],
    )


@router.get(
    "/gaps",
    summary="Holes in the ticks over a period (default: the last 24 hours)",
    responses=ERRORS,
)
def gaps(
    svc: Svc,
    from_: Annotated[
        str | None, params.time_query("start (default: 24 hours before `to`)", "from")
    ] = None,
    to: Annotated[str | None, params.time_query("end, excluded (default: now)")] = None,
    symbol: Annotated[str | None, fastapi.Query(description="one symbol only")] = None,
    min_seconds: Annotated[
        float,
        fastapi.Query(
            gt=0,
            le=86_400 * 31,
            description="a gap is longer than this (default 300: ten polls at the default 30 s)",
        ),
    ] = 300.0,
    limit: Annotated[int, fastapi.Query(ge=1, le=MAX_ALERTS)] = 1000,
) -> schemas.Gaps:
    if symbol is not None:
        svc.latest_or_404(params.symbol(symbol, "query"))
    start, end = svc.period(params.time(from_, "from"), params.time(to, "to"))
    rows = svc.fetch(
        "api_gaps",
        {
            "start": start,
            "end": end,
            "symbol": symbol,
            "min_seconds": min_seconds,
            "limit": limit + 1,
        },
    )
    listed = [
        schemas.Gap(symbol=r[0], start=_iso(r[1]), end=_iso(r[2]), seconds=r[3])
        for r in rows[:limit]
    ]
    return schemas.Gaps(
        gaps=listed,
        count=len(listed),
        seconds=sum(g.seconds for g in listed),
        truncated=len(rows) > limit,
    )


@router.get(
    "/health",
    summary="Database reachable and data fresh (503 otherwise)",
    response_model=schemas.Health,
    responses={
        503: {"model": schemas.Health, "description": "database unreachable, or the data is stale"}
    },
)
async def health(svc: Svc) -> JSONResponse:
    def newest_age() -> tuple[Any, list[tuple[Any, ...]]]:
        with svc.health_pool.connection() as conn:
            row = conn.execute(queries.get("api_newest_tick_age")).fetchone()
            receivers = conn.execute(queries.get("receiver_status")).fetchall()
            return (row[0] if row else None), receivers

    try:
        age, receivers = await anyio.to_thread.run_sync(newest_age, limiter=svc.health_threads)
    except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        log.warning("health_database_unavailable", error=str(exc))
        body = schemas.Health(
            status="unavailable", database="unreachable", stale_after_s=svc.stale_after
        )
        return JSONResponse(body.model_dump(), status_code=503)
    age_s = None if age is None else float(age)
    fresh = age_s is not None and age_s <= svc.stale_after
    body = schemas.Health(
        status="ok" if fresh else "stale",
        database="ok",
        newest_tick_age_s=age_s,
        stale_after_s=svc.stale_after,
        receivers=[
            schemas.ReceiverHealth(
                name=r[0], kind=r[1], pending=r[2], oldest_pending_s=r[3], last_error=r[4]
            )
            for r in receivers
        ],
    )
    return JSONResponse(body.model_dump(), status_code=200 if fresh else 503)


@router.get("/health/live", summary="Liveness: the API process serves requests (no database)")
async def live() -> schemas.Live:
    return schemas.Live(status="ok", version=__version__)


def create_app(
    conninfo: str,
    stale_after: float = 300.0,
    pool_size: int = 10,
    pool_timeout: float = 5.0,
    rank_ttl: float | None = 10.0,
    public_url: str | None = None,
) -> fastapi.FastAPI:
    """The application; its pools open at start-up and close at shutdown."""
    service = Service(conninfo, stale_after, pool_size, pool_timeout, rank_ttl)

    @contextlib.asynccontextmanager
    async def lifespan(app: fastapi.FastAPI) -> AsyncIterator[None]:
        service.pool.open(wait=False)
        service.health_pool.open(wait=False)
        if public_url:
            log.info("api_serving", url=public_url, docs=public_url.rstrip("/") + "/docs")
        try:
            yield
        finally:
            service.pool.close()
            service.health_pool.close()

    app = fastapi.FastAPI(
        title="CryptoMonitor",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="Read-only access to the ticks, candles, volatility rank "
        "and alerts that CryptoMonitor stores.",
    )
    app.state.service = service
    app.include_router(router)
    static = importlib.resources.files("cryptomonitor.api") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.add_api_route("/docs", pages.swagger_ui, include_in_schema=False)
    app.add_api_route("/", pages.dashboard, include_in_schema=False)
    app.add_api_route("/prometheus", pages.prometheus, include_in_schema=False)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: fastapi.Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own body echoes the input whole: keep what names the problem.
        detail = [
            {
                "loc": list(e.get("loc", ())),
                "msg": str(e.get("msg", ""))[:200],
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()[:10]
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg_pool.PoolTimeout)
    async def database_down(request: fastapi.Request, exc: Exception) -> JSONResponse:
        log.warning("api_database_unavailable", path=request.url.path, error=str(exc))
        return JSONResponse({"detail": "database unavailable"}, status_code=503)

    @app.exception_handler(psycopg.Error)
    async def database_error(request: fastapi.Request, exc: Exception) -> JSONResponse:
        log.error(
            "api_database_error",
            path=request.url.path,
            error=str(exc),
            error_type=type(exc).__name__,
        )
        return JSONResponse({"detail": "database error"}, status_code=500)

    @app.middleware("http")
    async def access_log(
        request: fastapi.Request, call_next: Callable[[fastapi.Request], Awaitable[Any]]
    ) -> Any:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            # The healthcheck's liveness probe every few seconds would drown the rest.
            emit = log.debug if request.url.path == "/health/live" else log.info
            seconds = time.perf_counter() - started
            emit(
                "request",
                method=request.method,
                path=request.url.path[:200],
                status=status,
                ms=round(seconds * 1000, 1),
                client=request.client.host if request.client else None,
            )
            route = request.scope.get("route")  # the template: a bounded label set
            method = request.method if request.method in HTTP_METHODS else "other"
            HTTP_SECONDS.labels(getattr(route, "path", "unmatched"), method, str(status)).observe(
                seconds
            )

    return app
