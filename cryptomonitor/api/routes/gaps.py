"""``/gaps``: holes in the stored ticks over a period."""

from __future__ import annotations

from typing import Annotated

import fastapi

from cryptomonitor.api import deps, params, rows, schemas
from cryptomonitor.util import times

MAX_GAPS = 10_000

router = fastapi.APIRouter()


@router.get(
    "/gaps",
    summary="Holes in the ticks over a period (default: the last 24 hours)",
    responses={**schemas.NOT_FOUND, **schemas.UNAVAILABLE},
    response_model_by_alias=True,
)
def gaps(
    svc: deps.ServiceDep,
    from_: Annotated[str | None, params.time_query(params.FROM_IN_PERIOD, "from")] = None,
    to: Annotated[str | None, params.time_query(params.TO_IN_PERIOD)] = None,
    symbol: params.SymbolQuery = None,
    min_seconds: Annotated[
        float,
        fastapi.Query(
            gt=0,
            le=86_400 * 31,
            description="a gap is longer than this (default 300: ten polls at the default 30 s)",
        ),
    ] = 300.0,
    limit: Annotated[int, fastapi.Query(ge=1, le=MAX_GAPS)] = 1000,
) -> schemas.Gaps:
    if symbol is not None:
        svc.latest_or_404(params.symbol(symbol, "query"))
    start, end, cut = svc.period(params.time(from_, "from"), params.time(to, "to"))
    found = svc.fetch(
        "api_gaps",
        rows.by_name(rows.Gap),
        {
            "start": start,
            "end": end,
            "symbol": symbol,
            "min_seconds": min_seconds,
            "limit": limit + 1,
        },
    )
    listed = [
        schemas.Gap(
            symbol=g.symbol,
            start=times.format_time(g.gap_start),
            end=times.format_time(g.gap_end),
            seconds=g.seconds,
        )
        for g in found[:limit]
    ]
    return schemas.Gaps.model_validate(
        {
            "from": times.format_time(start),
            "to": times.format_time(end),
            "gaps": listed,
            "count": len(listed),
            "seconds": sum(g.seconds for g in listed),
            "truncated": len(found) > limit or cut,
        }
    )
