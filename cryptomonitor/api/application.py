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

This module builds the app: its routes are in `routes` (one module per resource), what they
share in `deps`, their bodies in `schemas`.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import pathlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import fastapi
import psycopg
import psycopg_pool
import structlog
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from cryptomonitor import __version__
from cryptomonitor.alerting import rules
from cryptomonitor.api import deps, routes
from cryptomonitor.metrics import HTTP_METHODS, HTTP_SECONDS

log = structlog.get_logger(__name__)


def create_app(
    conninfo: str,
    stale_after: float = 300.0,
    pool_size: int = 10,
    pool_timeout: float = 5.0,
    rank_ttl: float | None = 10.0,
    public_url: str | None = None,
    rules_file: pathlib.Path | None = None,
) -> fastapi.FastAPI:
    """The application; its pools open at start-up and close at shutdown. `rules_file` is
    what ``/rules`` shows (None: the built-in rules); a bad one raises ConfigError."""
    service = deps.Service(
        conninfo,
        stale_after,
        pool_size,
        pool_timeout,
        rank_ttl,
        rules.load(rules_file),
        str(rules_file) if rules_file else "built-in",
    )

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
    app.include_router(routes.router)
    static = importlib.resources.files("cryptomonitor.api") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.exception_handler(RequestValidationError)(_invalid)
    app.exception_handler(psycopg.OperationalError)(_database_down)
    app.exception_handler(psycopg_pool.PoolTimeout)(_database_down)
    app.exception_handler(psycopg.Error)(_database_error)
    app.middleware("http")(_access_log)
    return app


async def _invalid(request: fastapi.Request, exc: RequestValidationError) -> JSONResponse:
    """422: what names the problem, not FastAPI's own body, which echoes the input whole."""
    detail = [
        {
            "loc": list(e.get("loc", ())),
            "msg": str(e.get("msg", ""))[:200],
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()[:10]
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _database_down(request: fastapi.Request, exc: Exception) -> JSONResponse:
    log.warning("api_database_unavailable", path=request.url.path, error=str(exc))
    return JSONResponse({"detail": "database unavailable"}, status_code=503)


async def _database_error(request: fastapi.Request, exc: Exception) -> JSONResponse:
    log.error(
        "api_database_error",
        path=request.url.path,
        error=str(exc),
        error_type=type(exc).__name__,
    )
    return JSONResponse({"detail": "database error"}, status_code=500)


async def _access_log(
    request: fastapi.Request, call_next: Callable[[fastapi.Request], Awaitable[Any]]
) -> Any:
    """One ``request`` log line and one observation of the request-duration histogram."""
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
