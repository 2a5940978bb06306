"""The price sources by name: adding one is a module of its own plus one line in `SOURCES`.

A source is any object with the `base.Source` protocol. Its `Spec` says how to build it from the
settings and how fast its API may be asked (the HTTP client spaces requests by that).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from cryptomonitor import config
from cryptomonitor.sources import base, binance, coingecko, http
from cryptomonitor.sources.streams import binance as binance_ws
from cryptomonitor.sources.streams import connection, gaps
from cryptomonitor.sources.streams import kraken as kraken_ws
from cryptomonitor.sources.streams import source as stream_source


@dataclasses.dataclass(frozen=True)
class Spec:
    build: Callable[[config.Settings, http.JsonClient], base.Source]
    #: Seconds between two requests at the least (the API's rate limit for this user).
    min_interval: Callable[[config.Settings], float]
    #: Its history endpoint, for backfills, on the same (paced) client.
    history: Callable[[config.Settings, http.JsonClient], base.History]


SOURCES: dict[str, Spec] = {
    coingecko.NAME: Spec(
        build=lambda s, client: coingecko.CoinGecko(
            s.coingecko_url, s.coins, s.vs_currency, s.coingecko_api_key, client
        ),
        min_interval=lambda s: 60.0 / s.coingecko_rate,  # the plan's requests a minute
        history=lambda s, client: coingecko.CoinGeckoHistory(
            s.coingecko_url,
            s.vs_currency,
            coingecko.headers(s.coingecko_url, s.coingecko_api_key),
            client,
        ),
    ),
    binance.NAME: Spec(
        build=lambda s, client: binance.Binance(s.binance_url, s.coins, client),
        min_interval=lambda s: 0.0,  # one request of weight 80 a poll: far inside 6,000/min
        history=lambda s, client: binance.BinanceHistory(s.binance_url, client),
    ),
    binance_ws.NAME: Spec(
        build=lambda s, client: _binance_ws(s, client),
        # REST klines (weight 2 of 6,000/min) for gap repair and the start-up backfill: after
        # Binance's daily disconnect every symbol asks at once, so they are paced.
        min_interval=lambda s: gaps.REST_INTERVAL,
        history=lambda s, client: binance.BinanceHistory(s.binance_url, client),
    ),
    kraken_ws.NAME: Spec(
        build=lambda s, client: stream_source.StreamSource(
            name=kraken_ws.NAME,
            unknown_hint=kraken_ws.UNKNOWN_HINT,
            url=s.kraken_ws_url,
            symbols=s.coins,
            exchange=kraken_ws.KrakenTrades,
            per_connection=kraken_ws.MAX_PAIRS,
            client=client,
            timing=connection.Timing(silent_after=s.stream_silent_after),
            buffer_max=s.stream_buffer_max,
        ),
        min_interval=lambda s: 0.0,
        history=lambda s, client: kraken_ws.NoHistory(),
    ),
}


def _binance_ws(s: config.Settings, client: http.JsonClient) -> stream_source.StreamSource:
    return stream_source.StreamSource(
        name=binance_ws.NAME,
        unknown_hint=binance_ws.UNKNOWN_HINT,
        url=s.binance_ws_url,
        symbols=s.coins,
        exchange=binance_ws.BinanceKlines,
        per_connection=binance_ws.MAX_STREAMS,
        client=client,
        timing=connection.Timing(silent_after=s.stream_silent_after),
        buffer_max=s.stream_buffer_max,
        # At most half a poll slot of repairs a poll (2 s at least): the rest waits for the next.
        gaps=gaps.KlineGaps(
            binance.BinanceHistory(s.binance_url, client),
            budget=max(gaps.BUDGET, s.poll_interval / 2),
        ),
    )


def build(settings: config.Settings, timeout_deadline: float) -> base.Source:
    """The configured source, with an HTTP client paced by its rate limit."""
    spec = SOURCES[settings.source]
    client = http.JsonClient(
        timeout=settings.http_timeout,
        attempts=settings.http_attempts,
        deadline=timeout_deadline,
        min_interval=spec.min_interval(settings),
    )
    return spec.build(settings, client)


def shortest_poll(settings: config.Settings, source: base.Source) -> float:
    """The shortest time a poll can take under the source's rate limit."""
    return source.requests_per_poll * SOURCES[settings.source].min_interval(settings)


def history_of(settings: config.Settings, source: base.Source) -> base.History:
    """The configured source's history endpoint, sharing its client (and rate limit)."""
    return SOURCES[settings.source].history(settings, source.client)
