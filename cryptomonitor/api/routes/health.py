"""``/health``: the database reachable and the data fresh; ``/health/live``: the process up."""

from __future__ import annotations

import anyio
import fastapi
import psycopg
import psycopg_pool
import structlog
from fastapi.responses import JSONResponse

from cryptomonitor import __version__
from cryptomonitor.api import deps, schemas

log = structlog.get_logger(__name__)

router = fastapi.APIRouter()


@router.get(
    "/health",
    summary="Database reachable and data fresh (503 otherwise)",
    response_model=schemas.Health,
    responses={
        503: {"model": schemas.Health, "description": "database unreachable, or the data is stale"}
    },
)
async def health(svc: deps.ServiceDep) -> JSONResponse:
    try:
        age_s, receivers = await anyio.to_thread.run_sync(svc.health, limiter=svc.health_threads)
    except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        log.warning("health_database_unavailable", error=str(exc))
        body = schemas.Health(
            status="unavailable", database="unreachable", stale_after_s=svc.stale_after
        )
        return JSONResponse(body.model_dump(), status_code=503)
    fresh = age_s is not None and age_s <= svc.stale_after
    body = schemas.Health(
        status="ok" if fresh else "stale",
        database="ok",
        newest_tick_age_s=age_s,
        stale_after_s=svc.stale_after,
        receivers=[
            schemas.ReceiverHealth(
                name=r.name,
                kind=r.kind,
                pending=r.pending,
                oldest_pending_s=r.oldest_pending_s,
                last_error=r.last_error,
            )
            for r in receivers
        ],
    )
    return JSONResponse(body.model_dump(), status_code=200 if fresh else 503)


@router.get("/health/live", summary="Liveness: the API process serves requests (no database)")
async def live() -> schemas.Live:
    return schemas.Live(status="ok", version=__version__)
