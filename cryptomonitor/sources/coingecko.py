"""CoinGecko ``/simple/price``: every tracked coin's price, 24 h volume and update time.

One request per poll for all coins. The answer looks like::

    {"bitcoin": {"usd": 67187.33, "usd_24h_vol": 31260929299.52, "last_updated_at": 1711356300}}

A coin with no price is missing or ``{}``. The tick time is ``last_updated_at``: CoinGecko
refreshes every 20-60 s, so most polls return the time already stored, which is not a new tick.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
import urllib.parse
from collections.abc import Sequence

import structlog

from cryptomonitor.exceptions import ResponseError, SourceUnavailable
from cryptomonitor.models import Rejection, Tick
from cryptomonitor.sources.http import JsonClient

log = structlog.get_logger(__name__)

NAME = "coingecko"
ENDPOINT = "/simple/price"
PRO_HOST = "pro-api.coingecko.com"
#: A tick stamped further than this ahead of our clock is refused: it would block later ticks.
MAX_FUTURE_SKEW = dt.timedelta(minutes=5)
#: Before this, no coin had a price: the timestamp is garbage (or in milliseconds).
EARLIEST = dt.datetime(2009, 1, 3, tzinfo=dt.UTC)


def api_key_header(base_url: str) -> str:
    """The header a key goes in: pro keys for the pro host, demo keys everywhere else."""
    host = urllib.parse.urlsplit(base_url).hostname or ""
    return "x-cg-pro-api-key" if host == PRO_HOST else "x-cg-demo-api-key"


def request_params(coins: Sequence[str], vs_currency: str) -> dict[str, str]:
    return {
        "ids": ",".join(coins),
        "vs_currencies": vs_currency,
        "include_24hr_vol": "true",
        "include_last_updated_at": "true",
        "precision": "full",
    }


@dataclasses.dataclass(frozen=True)
class ParseResult:
    ticks: list[Tick]
    rejected: list[Rejection]
    missing: list[str]


def _number(value: object) -> float | None:
    """`value` as a finite float, or None when it is not a JSON number (bools are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_simple_price(payload: object, coins: Sequence[str], vs_currency: str,
                       now: dt.datetime | None = None) -> ParseResult:
    """The ticks of a ``/simple/price`` answer for `coins`.

    Bad values of one coin are returned in ``rejected`` (with the reason) and never in
    ``ticks``; the other coins are kept. A volume that is not a valid number is dropped
    (stored as NULL) and reported, but keeps its price. Raises `ResponseError` only when the
    payload as a whole is not a ``/simple/price`` answer (not a JSON object).
    """
    if not isinstance(payload, dict):
        raise ResponseError(
            f"expected a JSON object keyed by coin id, got {type(payload).__name__}")
    now = now or dt.datetime.now(dt.UTC)
    ticks: list[Tick] = []
    rejected: list[Rejection] = []
    missing: list[str] = []
    vol_key = f"{vs_currency}_24h_vol"
    for coin in coins:
        entry = payload.get(coin)
        if entry is None or entry == {}:
            missing.append(coin)
            continue
        if not isinstance(entry, dict):
            rejected.append(Rejection(coin, coin, entry, "not a JSON object"))
            continue
        raw_price = entry.get(vs_currency)
        price = _number(raw_price)
        if price is None or price <= 0:
            reason = "missing" if raw_price is None else "not a positive finite number"
            rejected.append(Rejection(coin, vs_currency, raw_price, reason))
            continue
        stamp = _timestamp(entry.get("last_updated_at"), now)
        if isinstance(stamp, str):
            rejected.append(Rejection(coin, "last_updated_at", entry.get("last_updated_at"), stamp))
            continue
        raw_volume = entry.get(vol_key)
        volume = _number(raw_volume)
        if raw_volume is not None and (volume is None or volume < 0):
            rejected.append(Rejection(coin, vol_key, raw_volume,
                                      "not a finite number >= 0; stored as NULL"))
            volume = None
        ticks.append(Tick(stamp, coin, price, volume, NAME))
    return ParseResult(ticks, rejected, missing)


def _timestamp(raw: object, now: dt.datetime) -> dt.datetime | str:
    """The UTC time of a ``last_updated_at``, or the reason it is unusable."""
    seconds = _number(raw)
    if seconds is None:
        return "missing" if raw is None else "not a finite number"
    try:
        stamp = dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return "out of range"
    if stamp > now + MAX_FUTURE_SKEW:
        return f"in the future (more than {MAX_FUTURE_SKEW} ahead of this host)"
    if stamp < EARLIEST:
        return "before 2009"
    return stamp


class CoinGecko:
    """Polls ``/simple/price`` for a fixed list of coins."""

    name = NAME

    def __init__(self, base_url: str, coins: Sequence[str], vs_currency: str,
                 api_key: str | None, client: JsonClient) -> None:
        self.url = base_url.rstrip("/") + ENDPOINT
        self.coins = tuple(coins)
        self.vs_currency = vs_currency
        self.headers = {"Accept": "application/json", "User-Agent": "cryptomonitor"}
        if api_key:
            self.headers[api_key_header(base_url)] = api_key
        self.client = client

    def fetch(self) -> ParseResult:
        """One poll. Raises `SourceUnavailable` or `ResponseError`; logs every rejected value."""
        until = self.client.retry_after_until
        if until is not None and time.monotonic() < until:
            raise SourceUnavailable(
                f"rate limited: the server asked to wait {until - time.monotonic():.0f}s more")
        payload = self.client.get_json(self.url, request_params(self.coins, self.vs_currency),
                                       self.headers)
        result = parse_simple_price(payload, self.coins, self.vs_currency)
        for r in result.rejected:
            log.warning("value_rejected", source=NAME, symbol=r.symbol, field=r.field,
                        value=repr(r.value), reason=r.reason)
        if result.missing:
            log.warning("coins_missing", source=NAME, symbols=result.missing,
                        hint="unknown CoinGecko id, or no price right now")
        return result
