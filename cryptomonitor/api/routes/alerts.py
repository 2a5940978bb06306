"""``/alerts``: the alert events stored over a period, newest first."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

import fastapi
from psycopg.rows import class_row

from cryptomonitor.alerting import episodes, lineformat
from cryptomonitor.api import deps, params, schemas
from cryptomonitor.util import times

MAX_ALERTS = 10_000

router = fastapi.APIRouter()


@router.get(
    "/alerts",
    summary="Alerts over a period (default: the last 24 hours), newest first",
    responses={**schemas.NOT_FOUND, **schemas.UNAVAILABLE},
)
def recent_alerts(
    svc: deps.ServiceDep,
    from_: Annotated[
        str | None, params.time_query("start (default: 24 hours before `to`)", "from")
    ] = None,
    to: Annotated[str | None, params.time_query("end, excluded (default: none)")] = None,
    since: Annotated[str | None, params.time_query("the same as from", deprecated=True)] = None,
    symbol: params.SymbolQuery = None,
    limit: Annotated[
        int,
        fastapi.Query(ge=1, le=MAX_ALERTS, description=f"alerts at most (up to {MAX_ALERTS:,})"),
    ] = 1000,
) -> schemas.Alerts:
    start = params.time(from_, "from") or params.time(since, "since")
    end = params.time(to, "to")
    if start is None:
        start = times.shift(end or dt.datetime.now(dt.UTC), -deps.DAY)
    end = end or times.LATEST
    if symbol is not None:
        svc.latest_or_404(params.symbol(symbol, "query"))
    events = svc.fetch(
        "api_alerts",
        class_row(episodes.Event),
        {"start": start, "end": end, "symbol": symbol, "limit": limit + 1},
    )
    return schemas.Alerts(
        truncated=len(events) > limit,
        alerts=[_alert(e) for e in events[:limit]],
    )


def _alert(event: episodes.Event) -> schemas.Alert:
    return schemas.Alert(
        **{
            **dataclasses.asdict(event),
            "figures": dict(event.figures),
            "summary": lineformat.describe(event),
            "time": times.format_time(event.time),
            "alert_id": str(event.alert_id),
            "episode_id": str(event.episode_id),
        }
    )
