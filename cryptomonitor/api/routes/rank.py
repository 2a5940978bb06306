"""``/rank`` and ``/rank/{symbol}``: the symbols ranked by 24-hour price volatility, relative
(the coefficient of variation, the default) or absolute (the standard deviation)."""

from __future__ import annotations

import enum
from typing import Annotated

import fastapi

from cryptomonitor.api import deps, params, rows, schemas

router = fastapi.APIRouter()


class By(enum.StrEnum):
    cv = "cv"
    stddev = "stddev"


BY_QUERY = fastapi.Query(
    description="cv: by the coefficient of variation (stddev / mean: comparable across "
    "prices); stddev: by the standard deviation in price units (follows the price level)"
)


def _place(row: rows.Rank, by: By) -> int:
    return row.cv_rank if by is By.cv else row.rank


def _rank(row: rows.Rank, by: By) -> schemas.Rank:
    return schemas.Rank(
        symbol=row.symbol,
        rank=_place(row, by),
        of=row.total,
        by=by.value,
        cv_pct=row.cv_pct,
        stddev=row.stddev,
        mean=row.mean,
        samples=row.samples,
        stddev_kind="sample (n - 1)",
        last_price=row.last_price,
        change_24h_pct=row.change_24h_pct,
    )


@router.get(
    "/rank",
    summary="Every symbol's rank by 24-hour price volatility",
    responses=schemas.UNAVAILABLE,
)
def ranking(svc: deps.ServiceDep, by: Annotated[By, BY_QUERY] = By.cv) -> schemas.Ranking:
    ranked = sorted(svc.ranked().values(), key=lambda r: (_place(r, by), r.symbol))
    return schemas.Ranking(by=by.value, ranking=[_rank(r, by) for r in ranked])


@router.get(
    "/rank/{symbol}",
    summary="A symbol's rank by 24-hour price volatility",
    responses={**schemas.NOT_FOUND, **schemas.UNAVAILABLE},
)
def rank(
    svc: deps.ServiceDep, symbol: params.SymbolPath, by: Annotated[By, BY_QUERY] = By.cv
) -> schemas.Rank:
    symbol = params.symbol(symbol)
    row = svc.ranked().get(symbol)
    if row is None:
        svc.latest_or_404(symbol)
        raise fastapi.HTTPException(404, f"{symbol!r} has no ticks in the last 24 hours")
    return _rank(row, by)
