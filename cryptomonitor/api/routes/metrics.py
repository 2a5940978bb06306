"""``/metrics``: the tracked metrics; ``/metrics/{symbol}``: a symbol's ticks or candles over
a period, with summary figures."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, NamedTuple

import fastapi

from cryptomonitor.api import deps, params, rows, schemas
from cryptomonitor.util import times

MAX_ROWS = 100_000  # points or candles in one answer

router = fastapi.APIRouter()


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
WIDTHS = {
    Interval.one_minute: dt.timedelta(minutes=1),
    Interval.one_hour: dt.timedelta(hours=1),
    Interval.one_day: dt.timedelta(days=1),
}


@router.get(
    "/metrics",
    summary="Tracked metrics and the time of their latest tick",
    responses=schemas.UNAVAILABLE,
)
def metrics(svc: deps.ServiceDep) -> schemas.Metrics:
    out = []
    for newest in svc.fetch("api_symbols", rows.by_name(rows.Newest)):
        latest_time = times.format_time(newest.time)
        out.append(schemas.Metric(symbol=newest.symbol, metric="price", latest_time=latest_time))
        if newest.volume_24h is not None:
            out.append(
                schemas.Metric(symbol=newest.symbol, metric="volume_24h", latest_time=latest_time)
            )
    return schemas.Metrics(metrics=out)


@router.get(
    "/metrics/{symbol}",
    summary="A symbol's ticks or candles over a period "
    "(default: the last 24 hours), with summary figures",
    responses={**schemas.NOT_FOUND, **schemas.UNAVAILABLE},
    response_model_by_alias=True,
)
def symbol_detail(
    svc: deps.ServiceDep,
    symbol: params.SymbolPath,
    interval: Annotated[
        Interval, fastapi.Query(description="raw: every tick; 1m, 1h or 1d: OHLCV candles")
    ] = Interval.raw,
    from_: Annotated[str | None, params.time_query(params.FROM_IN_PERIOD, "from")] = None,
    to: Annotated[str | None, params.time_query(params.TO_IN_PERIOD)] = None,
    limit: Annotated[
        int,
        fastapi.Query(
            ge=1, le=MAX_ROWS, description=f"points or candles at most (up to {MAX_ROWS:,})"
        ),
    ] = MAX_ROWS,
) -> schemas.SymbolDetail:
    symbol = params.symbol(symbol)
    start, end, cut = svc.period(params.time(from_, "from"), params.time(to, "to"))
    latest = svc.latest_or_404(symbol)
    bounds = {"symbol": symbol, "start": start, "end": end, "limit": limit + 1}
    (figures,) = svc.fetch("api_summary", rows.by_name(rows.Summary), bounds)
    summary = schemas.Summary(
        latest=schemas.Latest(
            time=times.format_time(latest.time), price=latest.price, volume_24h=latest.volume_24h
        ),
        samples=figures.samples,
        min=figures.min,
        max=figures.max,
        avg=figures.avg,
        stddev=figures.stddev,
    )
    points = candles = None
    if interval is Interval.raw:
        ticks = svc.fetch("api_points", rows.by_name(rows.Tick), bounds)
        truncated = len(ticks) > limit
        points = [_point(t) for t in ticks[:limit]]
    else:
        # An empty period has no candle (the 1h and 1d queries take the bucket of `start`).
        found = (
            []
            if start == end
            else svc.fetch(CANDLE_QUERIES[interval], rows.by_name(rows.Candle), bounds)
        )
        truncated = len(found) > limit
        whole = _Whole(start, min(end, dt.datetime.now(dt.UTC)), WIDTHS[interval])
        candles = [_candle(c, whole) for c in found[:limit]]
    return schemas.SymbolDetail.model_validate(
        {
            "symbol": symbol,
            "interval": interval.value,
            "from": times.format_time(start),
            "to": times.format_time(end),
            "summary": summary,
            "points": points,
            "candles": candles,
            "truncated": truncated or cut,
        }
    )


def _point(tick: rows.Tick) -> schemas.Point:
    return schemas.Point(
        time=times.format_time(tick.time), price=tick.price, volume_24h=tick.volume_24h
    )


class _Whole(NamedTuple):
    """Which candles are whole: those whose [bucket, bucket + width) lies in [start, end)
    (`end`: the period's end or now, whichever is first)."""

    start: dt.datetime
    end: dt.datetime
    width: dt.timedelta

    def partial(self, bucket: dt.datetime) -> bool:
        return bucket < self.start or times.shift(bucket, self.width) > self.end


def _candle(candle: rows.Candle, whole: _Whole) -> schemas.Candle:
    return schemas.Candle(
        bucket=times.format_time(candle.bucket),
        open=candle.open,
        high=candle.high,
        low=candle.low,
        close=candle.close,
        volume=None if candle.volume is None else float(candle.volume),
        volume_24h=candle.volume_24h,
        ticks=candle.ticks,
        partial=whole.partial(candle.bucket),
    )
