"""CoinGecko: every tracked coin's price, 24 h volume and update time.

A list of ids is polled with ``/simple/price``, up to `IDS_PER_REQUEST` ids per request (one
request for the usual handful). The answer looks like::

    {"bitcoin": {"usd": 67187.33, "usd_24h_vol": 31260929299.52, "last_updated_at": 1711356300}}

A coin with no price is missing or ``{}``. The tick time is ``last_updated_at``: CoinGecko
refreshes every 20-60 s, so most polls return the time already stored, which is not a new tick.

``top:N`` polls the N biggest coins by market cap with ``/coins/markets``, `PER_PAGE` per
page. Either way the client spaces requests by the plan's rate (CRYPTOMONITOR_COINGECKO_RATE
per minute), so a poll of thousands of coins takes as long as the plan allows, never more
requests than that.

History (`CoinGeckoHistory`, for backfills): ``/coins/{id}/market_chart/range?vs_currency=usd
&from=UNIX&to=UNIX`` answers ``prices`` and ``total_volumes`` as ``[[unix ms, value], ...]``.
Its granularity is automatic: 5-minutely for a range within the last day, hourly up to 90
days, daily beyond; so the last day is asked in one request and older time in 90-day requests
(hourly points). Backfilled ticks are stored as ``coingecko-history``, checked like live ones
(`validation.history_ticks`), through the same rate-limited client.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence

import structlog

from cryptomonitor.exceptions import ResponseError, SourceUnavailable
from cryptomonitor.models import ParseResult, Rejection, Tick
from cryptomonitor.sources import base, validation
from cryptomonitor.sources.http import JsonClient
from cryptomonitor.sources.validation import checked_tick, log_problems, plausible
from cryptomonitor.util import times

log = structlog.get_logger(__name__)

NAME = "coingecko"
ENDPOINT = "/simple/price"
MARKETS = "/coins/markets"
#: Ids per /simple/price request: keeps the URL near 4 KB, within every proxy's limit.
IDS_PER_REQUEST = 250
#: The largest page /coins/markets serves.
PER_PAGE = 250
PRO_HOST = "pro-api.coingecko.com"


def api_key_header(base_url: str) -> str:
    """The header a key goes in: pro keys for the pro host, demo keys everywhere else."""
    host = urllib.parse.urlsplit(base_url).hostname or ""
    return "x-cg-pro-api-key" if host == PRO_HOST else "x-cg-demo-api-key"


def headers(base_url: str, api_key: str | None) -> dict[str, str]:
    out = {"Accept": "application/json", "User-Agent": "cryptomonitor"}
    if api_key:
        out[api_key_header(base_url)] = api_key
    return out


def request_params(coins: Sequence[str], vs_currency: str) -> dict[str, str]:
    return {
        "ids": ",".join(coins),
        "vs_currencies": vs_currency,
        "include_24hr_vol": "true",
        "include_last_updated_at": "true",
        "precision": "full",
    }


def _number(value: object) -> float | None:
    """`value` as a finite float, or None when it is not a JSON number (bools are not)."""
    if type(value) is float:  # the common case first: this runs three times per tick
        return value if math.isfinite(value) else None
    if type(value) is not int:  # bool, str, None, containers; json makes no other int type
        return None
    try:
        return float(value)
    except OverflowError:  # a whole number past the float range (JSON allows any length)
        return None


def parse_simple_price(
    payload: object, coins: Sequence[str], vs_currency: str, now: dt.datetime | None = None
) -> ParseResult:
    """The ticks of a ``/simple/price`` answer for `coins`.

    Bad values of one coin are returned in ``rejected`` (with the reason) and never in
    ``ticks``; the other coins are kept. A volume that is not a valid number is dropped
    (stored as NULL) and reported, but keeps its price. Raises `ResponseError` only when the
    payload as a whole is not a ``/simple/price`` answer (not a JSON object).
    """
    if not isinstance(payload, dict):
        raise ResponseError(
            f"expected a JSON object keyed by coin id, got {type(payload).__name__}"
        )
    now = now or dt.datetime.now(dt.UTC)
    ticks: list[Tick] = []
    rejected: list[Rejection] = []
    missing: list[str] = []
    vol_key = f"{vs_currency}_24h_vol"
    moment = _memoized(_timestamp)  # an answer's coins share a few timestamps
    for coin in coins:
        entry = payload.get(coin)
        if entry is None or entry == {}:
            missing.append(coin)
            continue
        if not isinstance(entry, dict):
            rejected.append(Rejection(coin, coin, entry, "not a JSON object"))
            continue
        tick = checked_tick(
            coin,
            NAME,
            entry,
            rejected,
            now,
            price=vs_currency,
            time="last_updated_at",
            volume=vol_key,
            number=_number,
            moment=moment,
            absent_price="missing",
        )
        if tick is not None:
            ticks.append(tick)
    return ParseResult(ticks, rejected, missing)


Moment = Callable[[object, dt.datetime], dt.datetime | str]


def _memoized(moment: Moment) -> Moment:
    """`moment`, remembering its answers for one parse (`now` is fixed within one)."""
    seen: dict[tuple[type, object], dt.datetime | str] = {}

    def remembered(raw: object, now: dt.datetime) -> dt.datetime | str:
        key = (type(raw), raw)  # 1, 1.0 and True are equal keys, not equal timestamps
        try:
            return seen[key]
        except KeyError:
            answer = seen[key] = moment(raw, now)
            return answer
        except TypeError:  # unhashable (a list, an object): not a time anyway
            return moment(raw, now)

    return remembered


def _timestamp(raw: object, now: dt.datetime) -> dt.datetime | str:
    """The UTC time of a ``last_updated_at``, or the reason it is unusable."""
    seconds = _number(raw)
    if seconds is None:
        return "missing" if raw is None else "not a finite number"
    try:
        stamp = dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return "out of range"
    return plausible(stamp, now)


class CoinGecko:
    """Polls ``/simple/price`` for a fixed list of coins."""

    name = NAME
    unknown_hint = (
        "not a coin id it knows (ids are lower-case, e.g. 'bitcoin', 'ethereum'; "
        "see /coins/list), or not quoted in that currency"
    )

    def __init__(
        self,
        base_url: str,
        coins: Sequence[str],
        vs_currency: str,
        api_key: str | None,
        client: JsonClient,
    ) -> None:
        self.url = base_url.rstrip("/") + ENDPOINT
        self.markets_url = base_url.rstrip("/") + MARKETS
        self.coins = tuple(coins)
        self.vs_currency = vs_currency
        self.headers = headers(base_url, api_key)
        self.client = client

    def _requests(self) -> list[tuple[str, dict[str, str]]]:
        top = top_n(self.coins)
        if top:
            return [
                (self.markets_url, markets_params(self.vs_currency, page, min(PER_PAGE, top)))
                for page in range(1, -(-top // PER_PAGE) + 1)
            ]
        return [
            (self.url, request_params(self.coins[i : i + IDS_PER_REQUEST], self.vs_currency))
            for i in range(0, len(self.coins), IDS_PER_REQUEST)
        ]

    @property
    def requests_per_poll(self) -> int:
        return len(self._requests())

    def close(self) -> ParseResult:
        return ParseResult([], [], [])  # a poll holds nothing between polls

    def fetch(self) -> ParseResult:
        """One poll. Raises `SourceUnavailable` or `ResponseError`; logs every rejected value.

        With several requests per poll, one that fails is logged and the others' coins kept;
        the poll fails only when every request failed.
        """
        until = self.client.retry_after_until
        if until is not None and time.monotonic() < until:
            raise SourceUnavailable(
                f"rate limited: the server asked to wait {until - time.monotonic():.0f}s more"
            )
        top = top_n(self.coins)
        requests = self._requests()
        answers: list[object] = []
        failed: list[str] = []
        for url, params in requests:
            try:
                answers.append(self.client.get_json(url, params, self.headers))
            except (SourceUnavailable, ResponseError) as exc:
                if len(requests) == 1:
                    raise
                failed.append(params.get("ids", "")[:40] or f"page {params['page']}")
                log.warning("request_failed", source=NAME, error=str(exc))
                if self.client.retry_after_until is not None:
                    break  # rate limited: the rest of this poll would be refused too
        if not answers:
            raise SourceUnavailable(f"all {len(requests)} requests of the poll failed")
        if top:
            result = merge([parse_markets(a, self.vs_currency) for a in answers], limit=top)
        else:
            merged: dict[str, object] = {}
            for answer in answers:
                if not isinstance(answer, dict):
                    raise ResponseError(
                        f"expected a JSON object keyed by coin id, got {type(answer).__name__}"
                    )
                merged.update(answer)
            asked = (
                self.coins if not failed else tuple(c for c in self.coins if c in merged)
            )  # coins of failed requests: unknown
            result = parse_simple_price(merged, asked, self.vs_currency)
        log_problems(result, NAME, "unknown CoinGecko id, or no price right now")
        return result


def top_n(coins: Sequence[str]) -> int:
    """N for ``("top:N",)``, else 0."""
    if len(coins) == 1 and coins[0].startswith("top:"):
        return int(coins[0][4:])
    return 0


def markets_params(vs_currency: str, page: int, per_page: int) -> dict[str, str]:
    return {
        "vs_currency": vs_currency,
        "order": "market_cap_desc",
        "per_page": str(per_page),
        "page": str(page),
        "precision": "full",
    }


def parse_markets(payload: object, vs_currency: str, now: dt.datetime | None = None) -> ParseResult:
    """The ticks of a ``/coins/markets`` page: a list of coins with ``current_price``,
    ``total_volume`` and ``last_updated`` (ISO 8601). Same rules as `parse_simple_price`."""
    if not isinstance(payload, list):
        raise ResponseError(f"expected a JSON list of coins, got {type(payload).__name__}")
    now = now or dt.datetime.now(dt.UTC)
    ticks: list[Tick] = []
    rejected: list[Rejection] = []
    for entry in payload:
        coin = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(coin, str) or not coin:
            rejected.append(Rejection("?", "id", entry, "not a coin entry"))
            continue
        assert isinstance(entry, dict)
        tick = checked_tick(
            coin,
            NAME,
            entry,
            rejected,
            now,
            price="current_price",
            time="last_updated",
            volume="total_volume",
            number=_number,
            moment=_iso_time,
        )
        if tick is not None:
            ticks.append(tick)
    return ParseResult(ticks, rejected, [])


def _iso_time(raw: object, now: dt.datetime) -> dt.datetime | str:
    if not isinstance(raw, str):
        return "missing" if raw is None else "not an ISO 8601 time"
    try:
        stamp = times.read_iso(raw)
    except ValueError:
        return "not an ISO 8601 time"
    if stamp.tzinfo is None:
        return "no time zone"
    return _timestamp(stamp.timestamp(), now)


def merge(results: Sequence[ParseResult], limit: int) -> ParseResult:
    """Pages into one result: the first `limit` coins, each coin once."""
    seen: set[str] = set()
    ticks: list[Tick] = []
    for result in results:
        for t in result.ticks:
            if t.symbol not in seen and len(ticks) < limit:
                seen.add(t.symbol)
                ticks.append(t)
    return ParseResult(ticks, [r for res in results for r in res.rejected], [])


#: CoinGecko's granularity follows the span asked: within a day of now 5-minutely, up to 90
#: days hourly, beyond daily. A margin keeps each request inside its band ("to" is sent + 1 s).
RECENT = dt.timedelta(days=1) - dt.timedelta(minutes=5)


HOURLY_SPAN = dt.timedelta(days=89)


def parse_market_chart(
    payload: object, symbol: str, source: str, chunk: base.Chunk, now: dt.datetime
) -> list[Tick]:
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
        entries.append({"time": point[0], "price": point[1], "volume": volumes.get(repr(point[0]))})
    return validation.history_ticks(entries, rejected, symbol, source, chunk, now, _number)


class CoinGeckoHistory:
    name = "coingecko-history"
    resolution = 300.0

    def __init__(
        self, base_url: str, vs_currency: str, headers: dict[str, str], client: JsonClient
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.vs_currency = vs_currency
        self.headers = headers
        self.client = client

    def chunks(self, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> list[base.Chunk]:
        out: list[base.Chunk] = []
        recent = max(start, now - RECENT)
        cursor = start
        while cursor < min(end, recent):
            out.append((cursor, min(cursor + HOURLY_SPAN, recent, end)))
            cursor = out[-1][1]
        if end > recent:
            out.append((recent, end))
        return out

    def fetch(self, symbol: str, chunk: base.Chunk, now: dt.datetime) -> list[Tick]:
        params = {
            "vs_currency": self.vs_currency,
            "from": str(int(chunk[0].timestamp())),
            "to": str(int(chunk[1].timestamp()) + 1),
            "precision": "full",
        }
        payload = self.client.get_json(
            f"{self.base_url}/coins/{symbol}/market_chart/range", params, self.headers
        )
        return parse_market_chart(payload, symbol, self.name, chunk, now)
