"""Binance spot ``/api/v3/ticker/24hr``: every trading pair in ONE request, no API key.

With ``type=MINI`` the answer is a list, one object per pair, decimals as strings::

    [{"symbol": "BTCUSDT", "lastPrice": "98765.43000000", "quoteVolume": "1790345123.45",
      "closeTime": 1750086400123, ...}, ...]

A tick is ``lastPrice`` with ``quoteVolume`` (the rolling 24-hour volume in the pair's quote
currency, like CoinGecko's ``usd_24h_vol``) at ``closeTime`` (milliseconds, the end of the
rolling window: when the statistics were computed). Symbols are stored lower-case
(``btcusdt``). CRYPTOMONITOR_COINS lists the pairs, or ``*`` for every pair of the answer.
The request weighs 80 of Binance's 6,000 per minute: poll no faster than every second.

History (`BinanceHistory`, for backfills and the stream's gap repair): ``/api/v3/klines?
symbol=BTCUSDT&interval=1m&startTime=MS&endTime=MS&limit=1000``, 1-minute candles ``[open
time, open, high, low, close, volume, close time, ...]``; each is four ticks (`klines`: the
open at its open time, the extremes at +15 s and +30 s, the close at its close time carrying
the candle's base volume as `Tick.volume`), so the candles of the ticks are Binance's. No
rolling 24-hour volume exists there: NULL. Stored as ``binance-history``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence

from cryptomonitor.exceptions import ResponseError
from cryptomonitor.models import ParseResult, Rejection, Tick
from cryptomonitor.sources import base, klines, validation
from cryptomonitor.sources.http import JsonClient
from cryptomonitor.sources.validation import checked_tick, log_problems, number

NAME = "binance"
ENDPOINT = "/api/v3/ticker/24hr"
ALL = "*"


def parse_ticker_24hr(
    payload: object, pairs: Sequence[str], now: dt.datetime | None = None
) -> ParseResult:
    """The ticks of a ``ticker/24hr`` answer for `pairs` (lower-case; ``("*",)``: all).

    Bad values of one pair are rejected with the reason, the others kept; `ResponseError`
    only when the payload is not a list of pairs.
    """
    if not isinstance(payload, list):
        raise ResponseError(f"expected a JSON list of pairs, got {type(payload).__name__}")
    now = now or dt.datetime.now(dt.UTC)
    wanted = None if tuple(pairs) == (ALL,) else set(pairs)
    ticks: list[Tick] = []
    rejected: list[Rejection] = []
    seen: set[str] = set()
    for entry in payload:
        raw_symbol = entry.get("symbol") if isinstance(entry, dict) else None
        if not isinstance(raw_symbol, str) or not raw_symbol:
            rejected.append(Rejection("?", "symbol", entry, "not a pair entry"))
            continue
        assert isinstance(entry, dict)
        symbol = raw_symbol.lower()
        if wanted is not None and symbol not in wanted:
            continue
        seen.add(symbol)
        tick = checked_tick(
            symbol,
            NAME,
            entry,
            rejected,
            now,
            price="lastPrice",
            time="closeTime",
            volume="quoteVolume",
            number=validation.number,
            moment=validation.epoch_millis,
        )
        if tick is not None:
            ticks.append(tick)
    missing = [] if wanted is None else [p for p in pairs if p not in seen]
    return ParseResult(ticks, rejected, missing)


class Binance:
    """Polls every pair's 24-hour ticker in one request; keeps the configured pairs."""

    name = NAME
    unknown_hint = "not a Binance spot pair (like BTCUSDT, ETHBTC), or delisted"

    def __init__(self, base_url: str, pairs: Sequence[str], client: JsonClient) -> None:
        self.url = base_url.rstrip("/") + ENDPOINT
        self.pairs = tuple(p.lower() for p in pairs)
        self.headers = {"Accept": "application/json", "User-Agent": "cryptomonitor"}
        self.client = client

    requests_per_poll = 1

    def fetch(self) -> ParseResult:
        """One poll. Raises `SourceUnavailable` or `ResponseError`; logs every rejected value."""
        payload = self.client.get_json(self.url, {"type": "MINI"}, self.headers)
        result = parse_ticker_24hr(payload, self.pairs)
        log_problems(result, NAME, "not a Binance spot pair (like BTCUSDT), or delisted")
        return result

    def close(self) -> ParseResult:
        return ParseResult([], [], [])  # a poll holds nothing between polls


KLINES_LIMIT = 1000


MINUTE_MS = 60_000


MILLISECOND = dt.timedelta(milliseconds=1)


def parse_klines(
    payload: object, symbol: str, source: str, chunk: base.Chunk, now: dt.datetime
) -> list[Tick]:
    """The ticks of a ``klines`` answer inside `chunk`: four a candle (`klines`), the close
    at its close time with the minute's base volume. A kline not closed by `now` is left out:
    its high and low are not final (the live source brings it when it is)."""
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
    return validation.history_ticks(entries, rejected, symbol, source, chunk, now, number)


def kline_entries(
    symbol: str,
    open_ms: object,
    close_ms: object,
    values: Sequence[object],
    rejected: list[Rejection],
) -> list[Mapping[str, object]]:
    """A Binance kline's four ticks as entries for `checked_tick` (``time`` in ms, ``price``,
    the close with ``traded``), or none, with the reason, if its prices are not a candle."""
    prices = [p for p in map(number, values[:4]) if p is not None]
    if len(prices) < 4 or isinstance(open_ms, bool) or not isinstance(open_ms, int):
        rejected.append(Rejection(symbol, "kline", list(values), "not a candle"))
        return []
    o, h, lo, c = prices
    if not klines.brackets(o, h, lo, c):
        rejected.append(
            Rejection(symbol, "kline", list(values), "high and low do not bracket open and close")
        )
        return []
    first = [
        {"time": open_ms + offset // MILLISECOND, "price": price}
        for offset, price in zip(klines.OFFSETS, klines.prices(o, h, lo, c), strict=False)
    ]
    return [*first, {"time": close_ms, "price": values[3], "traded": values[4]}]


class BinanceHistory:
    name = "binance-history"
    resolution = 60.0

    def __init__(self, base_url: str, client: JsonClient) -> None:
        self.url = base_url.rstrip("/") + "/api/v3/klines"
        self.client = client

    def chunks(self, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> list[base.Chunk]:
        # A span of 999 minutes: from a start off the minute, the klines that open in it and
        # the one before are 1,000 (one request's limit), whatever the seconds.
        span = dt.timedelta(minutes=KLINES_LIMIT - 1)
        out: list[base.Chunk] = []
        cursor = start
        while cursor < end:
            out.append((cursor, min(cursor + span, end)))
            cursor = out[-1][1]
        return out

    def fetch(self, symbol: str, chunk: base.Chunk, now: dt.datetime) -> list[Tick]:
        params = {
            "symbol": symbol.upper(),
            "interval": "1m",
            "limit": str(KLINES_LIMIT),
            # klines are asked by open time: a kline closing at the chunk's start
            # opened 59,999 ms before it.
            "startTime": str(math.ceil(chunk[0].timestamp() * 1000) - MINUTE_MS + 1),
            "endTime": str(int(chunk[1].timestamp() * 1000)),
        }
        payload = self.client.get_json(self.url, params, {"Accept": "application/json"})
        return parse_klines(payload, symbol, self.name, chunk, now)
