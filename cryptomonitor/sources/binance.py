"""Binance spot ``/api/v3/ticker/24hr``: every trading pair in ONE request, no API key.

With ``type=MINI`` the answer is a list, one object per pair, decimals as strings::

    [{"symbol": "BTCUSDT", "lastPrice": "98765.43000000", "quoteVolume": "1790345123.45",
      "closeTime": 1750086400123, ...}, ...]

A tick is ``lastPrice`` with ``quoteVolume`` (the rolling 24-hour volume in the pair's quote
currency, like CoinGecko's ``usd_24h_vol``) at ``closeTime`` (milliseconds, the end of the
rolling window: when the statistics were computed). Symbols are stored lower-case
(``btcusdt``). CRYPTOMONITOR_COINS lists the pairs, or ``*`` for every pair of the answer.
The request weighs 80 of Binance's 6,000 per minute: poll no faster than every second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptomonitor.exceptions import ResponseError
from cryptomonitor.models import ParseResult, Rejection, Tick
from cryptomonitor.sources import validation
from cryptomonitor.sources.http import JsonClient
from cryptomonitor.sources.validation import checked_tick, log_problems

NAME = "binance"
DEFAULT_URL = "https://api.binance.com"
ENDPOINT = "/api/v3/ticker/24hr"
ALL = "*"


def parse_ticker_24hr(payload: object, pairs: Sequence[str],
                      now: dt.datetime | None = None) -> ParseResult:
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
        tick = checked_tick(symbol, NAME, entry, rejected, now, price="lastPrice",
                            time="closeTime", volume="quoteVolume", number=validation.number,
                            moment=validation.epoch_millis)
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
