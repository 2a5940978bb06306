"""Sources for many symbols: CoinGecko beyond one request (ids in chunks, top:N over
/coins/markets pages, the plan's rate), and Binance's every-pair ticker, on answers in the
APIs' exact formats served by a fake on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import math
import pathlib
import time
from typing import Any

import hypothesis.strategies as st
import psycopg
import pytest
from hypothesis import given, settings

from cryptomonitor.exceptions import ResponseError
from cryptomonitor.sources import binance, coingecko, validation
from cryptomonitor.sources.http import JsonClient
from tests.support.fakeapi import Answer, FakeCoinGecko
from tests.support.paths import FIXTURES
from tests.support.procs import cli

NOW = dt.datetime(2025, 6, 16, 16, 0, tzinfo=dt.UTC)
MARKETS = json.loads((FIXTURES / "coins_markets_usd_2023-01-16T0329Z_top5.json").read_text())
TICKER = json.loads((FIXTURES / "binance_ticker_24hr_mini.json").read_text())


def test_binance_recorded_format() -> None:
    result = binance.parse_ticker_24hr(TICKER, ["btcusdt", "ethbtc", "dogeusdt"], now=NOW)
    assert [(t.symbol, t.price, t.volume_24h) for t in result.ticks] == [
        ("btcusdt", 98765.43, 1790345123.456789),
        ("ethbtc", 0.02577, 903.4567),
    ]
    assert result.ticks[0].time == dt.datetime(2025, 6, 16, 15, 6, 40, 123000, tzinfo=dt.UTC)
    assert result.missing == ["dogeusdt"] and result.rejected == []
    everything = binance.parse_ticker_24hr(TICKER, ["*"], now=NOW)
    assert len(everything.ticks) == 4 and everything.missing == []


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("lastPrice", "abc", "not a positive finite number"),
        ("lastPrice", "NaN", "not a positive finite number"),
        ("lastPrice", "0.00000000", "not a positive finite number"),
        ("closeTime", "1750086400123", "not whole milliseconds"),
        ("closeTime", 1750086400, "before 2009"),  # seconds where milliseconds belong
        ("closeTime", 4_000_000_000_000, "in the future (more than 0:05:00 ahead of this host)"),
    ],
)
def test_binance_bad_values_rejected_others_kept(field: str, value: object, reason: str) -> None:
    bad = [dict(TICKER[0], **{field: value}), TICKER[1]]
    result = binance.parse_ticker_24hr(bad, ["btcusdt", "ethusdt"], now=NOW)
    assert [t.symbol for t in result.ticks] == ["ethusdt"]
    assert [(r.symbol, r.field, r.reason) for r in result.rejected] == [("btcusdt", field, reason)]


def test_binance_bad_volume_is_dropped_price_kept() -> None:
    result = binance.parse_ticker_24hr([dict(TICKER[0], quoteVolume="-1")], ["btcusdt"], now=NOW)
    assert [(t.price, t.volume_24h) for t in result.ticks] == [(98765.43, None)]


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=20,
    )
)
@settings(max_examples=300, deadline=None)
def test_binance_parser_returns_valid_ticks_or_raises_response_error(payload: Any) -> None:
    try:
        result = binance.parse_ticker_24hr(payload, ["*"], now=NOW)
    except ResponseError:
        return
    for t in result.ticks:
        assert t.price > 0 and math.isfinite(t.price)
        assert t.volume_24h is None or (t.volume_24h >= 0 and math.isfinite(t.volume_24h))
        assert t.time <= NOW + validation.MAX_FUTURE_SKEW


def test_coingecko_markets_recorded_page() -> None:
    result = coingecko.parse_markets(MARKETS, "usd", now=NOW)
    first = result.ticks[0]
    assert (first.symbol, first.price, first.volume_24h) == ("bitcoin", 21109, 25289480031)
    assert result.ticks[0].time == dt.datetime(2023, 1, 16, 3, 29, 1, 58000, tzinfo=dt.UTC)
    assert len(result.ticks) == 5 and result.rejected == []
    with pytest.raises(ResponseError):
        coingecko.parse_markets({"error": "x"}, "usd", now=NOW)


def market_coin(i: int, stamp: str) -> dict[str, Any]:
    return dict(
        MARKETS[0],
        id=f"coin{i:05d}",
        symbol=f"c{i}",
        current_price=1.0 + i,
        total_volume=1000.0 * (i + 1),
        market_cap_rank=i + 1,
        last_updated=stamp,
    )


def serve_markets(fake: FakeCoinGecko, coins: int, stamp: str) -> None:
    def respond(path: str, query: dict[str, str]) -> Answer:
        if path.endswith("/coins/markets"):
            per_page, page = int(query["per_page"]), int(query["page"])
            first = (page - 1) * per_page
            return Answer(
                200, [market_coin(i, stamp) for i in range(first, min(coins, first + per_page))]
            )
        ids = query["ids"].split(",")
        return Answer(
            200,
            {
                i: {"usd": 2.0, "usd_24h_vol": 5.0, "last_updated_at": int(time.time()) - 60}
                for i in ids
            },
        )

    fake.responder = respond


def test_top_n_pages_through_coins_markets_at_the_plans_rate(fake_api: FakeCoinGecko) -> None:
    stamp = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    serve_markets(fake_api, coins=1000, stamp=stamp)
    client = JsonClient(timeout=5, attempts=1, min_interval=60 / 240)  # 240 requests/minute
    source = coingecko.CoinGecko(fake_api.url, ["top:600"], "usd", None, client)
    result = source.fetch()
    assert [t.symbol for t in result.ticks] == [f"coin{i:05d}" for i in range(600)]
    pages = [r.query for r in fake_api.requests]
    assert [(q["page"], q["per_page"], q["order"]) for q in pages] == [
        ("1", "250", "market_cap_desc"),
        ("2", "250", "market_cap_desc"),
        ("3", "250", "market_cap_desc"),
    ]
    gaps = [b.at - a.at for a, b in zip(fake_api.requests, fake_api.requests[1:], strict=False)]
    assert min(gaps) >= 0.25 - 0.01, gaps  # never faster than the plan's rate


def test_many_ids_are_chunked_and_one_failed_chunk_keeps_the_rest(fake_api: FakeCoinGecko) -> None:
    serve_markets(fake_api, coins=0, stamp="")
    ids = [f"coin{i:05d}" for i in range(600)]
    fake_api.script.extend(
        [
            Answer(
                200,
                {
                    i: {"usd": 2.0, "usd_24h_vol": 5.0, "last_updated_at": int(time.time()) - 60}
                    for i in ids[:250]
                },
            ),
            Answer(500, "oops"),
        ]
    )  # the 2nd chunk fails, the 3rd is served
    source = coingecko.CoinGecko(fake_api.url, ids, "usd", None, JsonClient(timeout=5, attempts=1))
    result = source.fetch()
    sizes = [len(r.query["ids"].split(",")) for r in fake_api.requests]
    assert sizes == [250, 250, 100]
    assert {t.symbol for t in result.ticks} == set(ids[:250]) | set(ids[500:])
    assert result.missing == []  # the failed chunk's coins are unknown this poll, not missing


def test_binance_source_end_to_end(
    db_url: str, fake_api: FakeCoinGecko, tmp_path: pathlib.Path
) -> None:
    now_ms = int(time.time() * 1000) - 1000
    answer = [dict(e, closeTime=now_ms) for e in TICKER]
    fake_api.responder = lambda path, query: (
        Answer(200, answer)
        if path == "/api/v3/ticker/24hr" and query == {"type": "MINI"}
        else Answer(404, {"code": -1, "msg": "not found"})
    )
    result = cli(
        "run",
        "--once",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_SOURCE="binance",
        CRYPTOMONITOR_BINANCE_URL=fake_api.url.removesuffix("/api/v3"),
        CRYPTOMONITOR_COINS="BTCUSDT,ethusdt",
        CRYPTOMONITOR_VS_CURRENCY="usdt",
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
    )
    assert result.returncode == 0, result.stderr
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT symbol, price, volume_24h, source FROM ticks ORDER BY symbol"
        ).fetchall()
    assert rows == [
        ("btcusdt", 98765.43, 1790345123.456789, "binance"),
        ("ethusdt", 2544.87, 1021234567.1234, "binance"),
    ]


def test_coins_forms_are_validated() -> None:
    from cryptomonitor import config
    from cryptomonitor.exceptions import ConfigError

    assert config.load({"CRYPTOMONITOR_COINS": "top:1000"}).coins == ("top:1000",)
    assert config.load({"CRYPTOMONITOR_COINS": "*"}).coins == ("*",)
    for bad in ("top:0", "top:x", "bitcoin,top:5", "*,btcusdt"):
        with pytest.raises(ConfigError, match="CRYPTOMONITOR_COINS"):
            config.load({"CRYPTOMONITOR_COINS": bad})


def test_binance_unknown_pair_exits_2_naming_it(
    db_url: str, fake_api: FakeCoinGecko, tmp_path: pathlib.Path
) -> None:
    now_ms = int(time.time() * 1000) - 1000
    fake_api.responder = lambda path, query: Answer(
        200, [dict(e, closeTime=now_ms) for e in TICKER]
    )
    result = cli(
        "run",
        "--once",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_SOURCE="binance",
        CRYPTOMONITOR_BINANCE_URL=fake_api.url.removesuffix("/api/v3"),
        CRYPTOMONITOR_COINS="BTCUSDT,NOPEUSDT",
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
    )
    assert result.returncode == 2
    assert "'nopeusdt'" in result.stderr and "Binance spot pair" in result.stderr


def test_every_source_module_is_registered_and_selectable() -> None:
    import pkgutil

    from cryptomonitor import config, sources
    from cryptomonitor.config import options
    from cryptomonitor.exceptions import ConfigError
    from cryptomonitor.sources import registry, streams

    # Not price sources of `run`: the protocols, HTTP, checks, klines, recorded files, the demo.
    helpers = {"base", "http", "validation", "registry", "klines", "barfiles", "demo", "streams"}
    polled = {m.name for m in pkgutil.iter_modules(sources.__path__)} - helpers
    stream_helpers = {"connection", "buffer", "gaps", "source"}
    streamed = {
        f"{m.name}-ws"
        for m in pkgutil.iter_modules(streams.__path__)
        if m.name not in stream_helpers
    }  # binance-ws, kraken-ws
    assert set(registry.SOURCES) == polled | streamed
    # The settings know the names without importing the sources (config is the bottom layer).
    assert set(options.SOURCE_NAMES) == set(registry.SOURCES)
    for name in registry.SOURCES:
        settings = config.load({"CRYPTOMONITOR_SOURCE": name, "CRYPTOMONITOR_COINS": "btcusdt"})
        source = registry.build(settings, 30)
        try:  # a stream asks no rate-limited API a poll; it opens nothing before its fetch()
            assert source.name == name
            assert source.requests_per_poll >= 1 or name in streamed
        finally:
            source.close()
    with pytest.raises(ConfigError, match="CRYPTOMONITOR_SOURCE"):
        config.load({"CRYPTOMONITOR_SOURCE": "kraken"})
