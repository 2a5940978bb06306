"""``/rank`` and ``/rank/{symbol}``: the symbols ranked by 24-hour price standard deviation."""

from __future__ import annotations

import fastapi

from cryptomonitor.api import deps, params, rows, schemas

router = fastapi.APIRouter()


def _rank(row: rows.Rank) -> schemas.Rank:
    return schemas.Rank(
        symbol=row.symbol,
        rank=row.rank,
        of=row.total,
        stddev=row.stddev,
        samples=row.samples,
        stddev_kind="sample (n - 1)",
    )


@router.get(
    "/rank",
    summary="Every symbol's rank by 24-hour price standard deviation",
    responses=schemas.UNAVAILABLE,
)
def ranking(svc: deps.ServiceDep) -> schemas.Ranking:
    ranked = svc.ranked().values()
    return schemas.Ranking(ranking=sorted((_rank(r) for r in ranked), key=lambda r: r.rank))


@router.get(
    "/rank/{symbol}",
    summary="A symbol's rank by 24-hour price standard deviation",
    responses={**schemas.NOT_FOUND, **schemas.UNAVAILABLE},
)
def rank(svc: deps.ServiceDep, symbol: str) -> schemas.Rank:
    symbol = params.symbol(symbol)
    row = svc.ranked().get(symbol)
    if row is None:
        svc.latest_or_404(symbol)
        raise fastapi.HTTPException(404, f"{symbol!r} has no ticks in the last 24 hours")
    return _rank(row)
