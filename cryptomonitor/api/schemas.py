"""The REST API's response bodies, so that ``/openapi.json`` describes every one of them.

Times are ISO-8601 UTC strings with a ``Z`` (fractions of a second only when there are some),
the format of the alerts file.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Time = str  # ISO-8601 UTC, e.g. "2025-05-30T17:17:00Z"


class Error(BaseModel):
    detail: str = Field(description="what is wrong; never the driver's text or unbounded input")


#: The error statuses a route declares in its ``responses`` (FastAPI adds the 422 itself).
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Error, "description": "unknown symbol: no tick stored"}
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Error, "description": "database unavailable"}
}


class Metric(BaseModel):
    symbol: str
    metric: str = Field(description="price or volume_24h")
    latest_time: Time


class Metrics(BaseModel):
    metrics: list[Metric]


class Latest(BaseModel):
    time: Time
    price: float
    volume_24h: float | None


class Summary(BaseModel):
    latest: Latest
    samples: int = Field(description="ticks in the period")
    min: float | None
    max: float | None
    avg: float | None
    stddev: float | None = Field(description="sample standard deviation (n - 1) of the price")


class Point(BaseModel):
    time: Time
    price: float
    volume_24h: float | None


class Candle(BaseModel):
    bucket: Time = Field(description="start of the candle")
    open: float
    high: float
    low: float
    close: float
    volume: float | None = Field(
        description="volume traded in the candle: the sum of its "
        "ticks' traded volume; null when the source gives none "
        "(CoinGecko)"
    )
    volume_24h: float | None = Field(
        description="the rolling 24-hour volume of the candle's last tick, as the source reports it"
    )
    ticks: int
    partial: bool = Field(
        description="true when the candle is not a whole one of the period: its interval "
        "starts before `from` or ends after `to` (its figures cover ticks outside the "
        "period), or it is still open (the current minute, hour or day)"
    )


class SymbolDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    symbol: str
    interval: str = Field(description="raw, 1m, 1h or 1d")
    from_: Time = Field(alias="from", description="start of the period (included)")
    to: Time = Field(description="end of the period (excluded)")
    summary: Summary
    points: list[Point] | None = Field(None, description="interval=raw: every tick, oldest first")
    candles: list[Candle] | None = Field(None, description="interval=1m, 1h or 1d: OHLCV candles")
    truncated: bool = Field(
        description="true when `limit` cut points or candles short, or the period was cut "
        "to 31 days (`to` says where it ends)"
    )


class Rank(BaseModel):
    symbol: str
    rank: int = Field(description="1 = the most volatile over the last 24 hours, by `by`")
    of: int = Field(description="symbols with ticks in the last 24 hours")
    by: str = Field(
        description="what `rank` orders by: cv (the coefficient of variation, cv_pct) "
        "or stddev (the standard deviation, in price units)"
    )
    cv_pct: float | None = Field(
        description="coefficient of variation: stddev / mean * 100, the standard deviation "
        "in percent of the mean price (comparable across coins); null with one sample"
    )
    stddev: float | None = Field(
        description="sample standard deviation of the price, in the symbol's price unit"
    )
    mean: float = Field(description="mean price over the last 24 hours")
    samples: int = Field(description="ticks in the last 24 hours")
    stddev_kind: str
    last_price: float = Field(description="the price of the newest tick")
    change_24h_pct: float | None = Field(
        description="last_price against the last price of the hour up to 24 hours ago, in "
        "percent; null when there is none (tracked for less than a day, or a gap then)"
    )


class Ranking(BaseModel):
    by: str = Field(description="cv or stddev: what the ranking orders by")
    ranking: list[Rank] = Field(
        description="every symbol with ticks in the last 24 hours, most volatile first"
    )


class Alert(BaseModel):
    alert_id: str
    event: str = Field(description="ALERT or RESOLVED")
    time: Time
    rule: str
    symbol: str
    metric: str
    value: float
    window_avg: float | None = Field(
        description="the trailing window's average (z-score: mean); null for a level or a move"
    )
    window_samples: int | None
    window_seconds: float | None
    condition: str
    threshold: float = Field(description="the rule's threshold for this symbol")
    episode_id: str
    severity: str = Field(description="info, warning or critical")
    figures: dict[str, float | str] = Field(
        description="the condition's own figures (docs/alerts.md): reference, change_pct, "
        "zscore, stddev, ratio, direction, unit, recover, lookback_seconds"
    )
    summary: str = Field(description="the alert line's sentence")


class RuleInfo(BaseModel):
    name: str
    sentence: str = Field(description="what the rule does, as `cryptomonitor rules check` says")
    condition: str
    metric: str
    threshold: float | None
    thresholds: dict[str, float]
    recover: float | None
    window_seconds: float | None
    lookback_seconds: float | None
    direction: str
    for_seconds: float
    cooldown_seconds: float
    repeat_seconds: float | None = Field(description="null: the global repeat interval")
    once: bool
    expires: Time | None
    severity: str
    symbols: list[str]
    sources: list[str]
    of: list[str] = Field(description="a combination's (all, any) member rules")
    silent: bool = Field(description="judged, for combinations, but writes no line")
    interval_seconds: float | None = Field(
        None, description="an indicator rule's candle interval (null: judged on every tick)"
    )
    fast: str | None = Field(None, description="an indicator rule's indicator (rsi:14, close)")
    slow: str | None = Field(None, description="a cross's slow average (ema:21)")
    band: list[float] | None = Field(None, description="inside / outside: [low, high]")
    recover_band: list[float] | None = Field(None, description="the band that clears it")


class Rules(BaseModel):
    origin: str = Field(description="the rules file the API was started with, or 'built-in'")
    rules: list[RuleInfo] = Field(description="the enabled rules, in the file's order")


class Alerts(BaseModel):
    alerts: list[Alert]
    truncated: bool = Field(description="true when `limit` cut the list short")


class Gap(BaseModel):
    symbol: str
    start: Time = Field(description="the last tick before the gap")
    end: Time = Field(description="the first tick after it (or the period's end, or now)")
    seconds: float


class Gaps(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: Time = Field(alias="from", description="start of the period (included)")
    to: Time = Field(description="end of the period (excluded)")
    gaps: list[Gap] = Field(description="oldest first per symbol")
    count: int = Field(description="gaps listed")
    seconds: float = Field(description="their total length")
    truncated: bool = Field(
        description="true when `limit` cut the list short, or the period was cut to 31 days"
    )


class ReceiverHealth(BaseModel):
    name: str
    kind: str
    pending: int = Field(description="alert events it has not had yet")
    oldest_pending_s: float | None = Field(description="how long the oldest has waited")
    last_error: str | None = Field(description="the last failed attempt's error, if failing")


class Health(BaseModel):
    status: str = Field(description="ok, stale (no tick for stale_after_s) or unavailable")
    database: str = Field(description="ok or unreachable")
    newest_tick_age_s: float | None = None
    stale_after_s: float
    receivers: list[ReceiverHealth] = Field(
        default=[], description="delivery to each receiver besides the alerts file"
    )


class Live(BaseModel):
    status: str
    version: str
