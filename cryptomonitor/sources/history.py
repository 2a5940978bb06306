"""The sources' history endpoints, for backfilling gaps (`cryptomonitor.backfill`).

- CoinGecko ``/coins/{id}/market_chart/range?vs_currency=usd&from=UNIX&to=UNIX``: ``prices``
  and ``total_volumes`` as ``[[unix ms, value], ...]``. Its granularity is automatic: 5-minutely
  for a range within the last day, hourly up to 90 days, daily beyond. So the last day is asked
  in one request and older time in 90-day requests (hourly points).
- Binance ``/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=MS&endTime=MS&limit=1000``:
  1-minute candles ``[open time, open, high, low, close, volume, close time, ...]``; each is
  four ticks (`cryptomonitor.klines`: the open at its open time, the extremes at +15 s and
  +30 s, the close at its close time carrying the candle's volume, base asset, as its traded
  volume `Tick.volume`), so the candles of the ticks are Binance's. No rolling 24-hour volume
  exists there: NULL.

Backfilled ticks carry their own source name (``coingecko-history``, ``binance-history``). Every
value passes the same checks as live ticks (`validation.checked_tick`); requests go through the
source's own client, so its rate limit holds for both.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

from cryptomonitor import klines
from cryptomonitor.exceptions import ResponseError
from cryptomonitor.models import ParseResult, Rejection, Tick
from cryptomonitor.sources import binance, coingecko
from cryptomonitor.sources.http import JsonClient
from cryptomonitor.sources.validation import checked_tick, log_problems, number, plausible

#: CoinGecko's granularity follows the span asked: within a day of now 5-minutely, up to 90
#: days hourly, beyond daily. A margin keeps each request inside its band ("to" is sent + 1 s).
RECENT = dt.timedelta(days=1) - dt.timedelta(minutes=5)
HOURLY_SPAN = dt.timedelta(days=89)
KLINES_LIMIT = 1000
MINUTE_MS = 60_000
MILLISECOND = dt.timedelta(milliseconds=1)

Chunk = tuple[dt.datetime, dt.datetime]


class History(Protocol):
    """A source's past: the ticks of one symbol in [start, end), a request at a time."""

    name: str  # stored as ticks.source
    resolution: float  # seconds between its points at best: a shorter gap cannot be filled

    def chunks(self, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> list[Chunk]: ...

    def fetch(self, symbol: str, chunk: Chunk, now: dt.datetime) -> list[Tick]: ...


def _epoch_ms(raw: object, now: dt.datetime) -> dt.datetime | str:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return "not a time in milliseconds"
    try:
        stamp = dt.datetime.fromtimestamp(raw / 1000, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return "out of range"
    return plausible(stamp, now)


def _checked(entries: Sequence[Mapping[str, object]], rejected: list[Rejection], symbol: str,
             source: str, chunk: Chunk, now: dt.datetime,
             number: Callable[[object], float | None]) -> list[Tick]:
    """The ticks of `entries` (``time`` in ms, ``price``, ``volume``, ``traded``) that pass the
    live ticks' checks and fall inside `chunk`; every refused value is logged, as for a poll."""
    ticks = []
    for entry in entries:
        tick = checked_tick(symbol, source, entry, rejected, now, price="price", time="time",
                            volume="volume", number=number, moment=_epoch_ms, traded="traded")
        if tick is not None and chunk[0] <= tick.time < chunk[1]:
            ticks.append(tick)
    log_problems(ParseResult(ticks, rejected, []), source, "")
    return ticks


def parse_market_chart(payload: object, symbol: str, source: str, chunk: Chunk,
                       now: dt.datetime) -> list[Tick]:
    """The ticks of a ``market_chart/range`` answer inside `chunk` (volumes joined by time)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("prices"), list):
        raise ResponseError("expected a JSON object with a 'prices' list (market_chart/range)")
    volumes = {}
    for point in payload.get("total_volumes") or []:
        if isinstance(point, list) and len(point) == 2:
            volumes[repr(point[0])] = point[1]
    entries: list[Mapping[str, object]] = []
    rejected: list[Rejection] = []
    for point in payload["prices"]:
        if not isinstance(point, list) or len(point) != 2:
            rejected.append(Rejection(symbol, "prices", point, "not a [time, price] pair"))
            continue
        entries.append({"time": point[0], "price": point[1],
                        "volume": volumes.get(repr(point[0]))})
    return _checked(entries, rejected, symbol, source, chunk, now, coingecko._number)


class CoinGeckoHistory:
    name = "coingecko-history"
    resolution = 300.0

    def __init__(self, base_url: str, vs_currency: str, headers: dict[str, str],
                 client: JsonClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.vs_currency = vs_currency
        self.headers = headers
        self.client = client

    def chunks(self, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> list[Chunk]:
        out: list[Chunk] = []
        recent = max(start, now - RECENT)
        cursor = start
        while cursor < min(end, recent):
            out.append((cursor, min(cursor + HOURLY_SPAN, recent, end)))
            cursor = out[-1][1]
        if end > recent:
            out.append((recent, end))
        return out

    def fetch(self, symbol: str, chunk: Chunk, now: dt.datetime) -> list[Tick]:
        params = {"vs_currency": self.vs_currency, "from": str(int(chunk[0].timestamp())),
                  "to": str(int(chunk[1].timestamp()) + 1), "precision": "full"}
        payload = self.client.get_json(f"{self.base_url}/coins/{symbol}/market_chart/range",
                                       params, self.headers)
        return parse_market_chart(payload, symbol, self.name, chunk, now)


def parse_klines(payload: object, symbol: str, source: str, chunk: Chunk,
                 now: dt.datetime) -> list[Tick]:
    """The ticks of a ``klines`` answer inside `chunk`: four a candle (`cryptomonitor.klines`),
    the close at its close time with the minute's base volume. A kline not closed by `now` is
    left out: its high and low are not final (the live source brings it when it is)."""
    if not isinstance(payload, list):
        raise ResponseError("expected a JSON list of klines")
    entries: list[Mapping[str, object]] = []
    rejected: list[Rejection] = []
    now_ms = now.timestamp() * 1000
    for kline in payload:
        if not isinstance(kline, list) or len(kline) < 7:
            rejected.append(Rejection(symbol, "kline", kline, "not a kline"))
            continue
        if isinstance(kline[6], int | float) and kline[6] > now_ms:
            continue  # still open
        entries.extend(kline_entries(symbol, kline[0], kline[6], kline[1:6], rejected))
    return _checked(entries, rejected, symbol, source, chunk, now, number)


def kline_entries(symbol: str, open_ms: object, close_ms: object, values: Sequence[object],
                  rejected: list[Rejection]) -> list[Mapping[str, object]]:
    """A Binance kline's four ticks as entries for `checked_tick` (``time`` in ms, ``price``,
    the close with ``traded``), or none, with the reason, if its prices are not a candle."""
    prices = [p for p in map(number, values[:4]) if p is not None]
    if len(prices) < 4 or isinstance(open_ms, bool) or not isinstance(open_ms, int):
        rejected.append(Rejection(symbol, "kline", list(values), "not a candle"))
        return []
    o, h, lo, c = prices
    if not klines.brackets(o, h, lo, c):
        rejected.append(Rejection(symbol, "kline", list(values),
                                  "high and low do not bracket open and close"))
        return []
    first = [{"time": open_ms + offset // MILLISECOND, "price": price}
             for offset, price in zip(klines.OFFSETS, klines.prices(o, h, lo, c), strict=False)]
    return [*first, {"time": close_ms, "price": values[3], "traded": values[4]}]


class BinanceHistory:
    name = "binance-history"
    resolution = 60.0

    def __init__(self, base_url: str, client: JsonClient) -> None:
        self.url = base_url.rstrip("/") + "/api/v3/klines"
        self.client = client

    def chunks(self, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> list[Chunk]:
        # A span of 999 minutes: from a start off the minute, the klines that open in it and
        # the one before are 1,000 (one request's limit), whatever the seconds.
        span = dt.timedelta(minutes=KLINES_LIMIT - 1)
        out: list[Chunk] = []
        cursor = start
        while cursor < end:
            out.append((cursor, min(cursor + span, end)))
            cursor = out[-1][1]
        return out

    def fetch(self, symbol: str, chunk: Chunk, now: dt.datetime) -> list[Tick]:
        params = {"symbol": symbol.upper(), "interval": "1m", "limit": str(KLINES_LIMIT),
                  # klines are asked by open time: a kline closing at the chunk's start
                  # opened 59,999 ms before it.
                  "startTime": str(math.ceil(chunk[0].timestamp() * 1000) - MINUTE_MS + 1),
                  "endTime": str(int(chunk[1].timestamp() * 1000))}
        payload = self.client.get_json(self.url, params, {"Accept": "application/json"})
        return parse_klines(payload, symbol, self.name, chunk, now)


def ticks_of(history: History, symbol: str, start: dt.datetime, end: dt.datetime,
             now: dt.datetime) -> Iterator[tuple[int, int, Chunk, list[Tick]]]:
    """(request number, requests, its period, its ticks) for [start, end), oldest first."""
    chunks = history.chunks(start, end, now)
    for i, chunk in enumerate(chunks, 1):
        yield i, len(chunks), chunk, history.fetch(symbol, chunk, now)


def symbols_with_history(coins: Sequence[str]) -> list[str]:
    """The configured symbols a history can be asked for (not ``*`` or ``top:N``)."""
    return [c for c in coins if c != binance.ALL and not c.startswith("top:")]
