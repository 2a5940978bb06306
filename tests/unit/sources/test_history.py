"""The history endpoints' parsers and chunking (cryptomonitor.sources.base)."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from structlog.testing import capture_logs

from cryptomonitor.exceptions import ResponseError
from cryptomonitor.sources import binance, coingecko
from cryptomonitor.sources.http import JsonClient
from tests.support.paths import FIXTURES

NOW = dt.datetime(2024, 12, 4, tzinfo=dt.UTC)
ALL = (dt.datetime(2009, 1, 3, tzinfo=dt.UTC), NOW)


def test_a_recorded_market_chart_answer() -> None:
    payload = json.loads((FIXTURES / "coingecko_market_chart_bitcoin_excerpt.json").read_text())
    ticks = coingecko.parse_market_chart(payload, "bitcoin", "coingecko-history", ALL, NOW)
    assert [(t.time, t.price, t.volume_24h, t.source) for t in ticks[:2]] == [
        (
            dt.datetime.fromtimestamp(1730668855.751, dt.UTC),
            69102.91649492079,
            34702339791.069855,
            "coingecko-history",
        ),
        (
            dt.datetime.fromtimestamp(1730671546.658, dt.UTC),
            69113.85653675799,
            31817633080.47922,
            "coingecko-history",
        ),
    ]
    inside = (ticks[1].time, ticks[3].time)  # [start, end): the last one is outside
    assert len(coingecko.parse_market_chart(payload, "bitcoin", "x", inside, NOW)) == 2


def test_bad_points_are_refused_and_the_rest_kept() -> None:
    payload = {
        "prices": [
            [1730668855751, 1.5],
            [1730668855752, -1],
            "x",
            [None, 2.0],
            [1730668855753, "3"],
            [4e15, 1.0],
        ],
        "total_volumes": [[1730668855751, "NaN"]],
    }
    with capture_logs() as logs:
        ticks = coingecko.parse_market_chart(payload, "bitcoin", "h", ALL, NOW)
    assert [(t.price, t.volume_24h) for t in ticks] == [(1.5, None)]  # bad volume: NULL
    refused = [(e["field"], e["reason"]) for e in logs if e["event"] == "value_rejected"]
    assert sorted(f for f, _ in refused) == [  # each one, logged by name
        "price",
        "price",
        "prices",
        "time",
        "time",
        "volume",
    ]
    with pytest.raises(ResponseError, match="'prices' list"):
        coingecko.parse_market_chart({"error": "coin not found"}, "bitcoin", "h", ALL, NOW)


def test_coingecko_chunks_take_the_last_day_whole_and_older_time_by_90_days() -> None:
    h = coingecko.CoinGeckoHistory("http://x", "usd", {}, JsonClient(timeout=1, attempts=1))
    start = NOW - dt.timedelta(days=200)
    chunks = h.chunks(start, NOW, NOW)
    spans = [round((b - a) / dt.timedelta(days=1), 3) for a, b in chunks]
    assert spans == [89, 89, 21.003, 0.997]  # hourly, hourly, hourly, 5-minutely
    assert chunks[0][0] == start and chunks[-1][1] == NOW
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    assert h.chunks(NOW - dt.timedelta(minutes=30), NOW, NOW) == [
        (NOW - dt.timedelta(minutes=30), NOW)
    ]


def test_a_binance_kline_is_four_ticks_the_close_at_its_close_time_with_the_volume() -> None:
    rising = [
        1717200000000,
        "67000.1",
        "67100",
        "66900",
        "67050.5",
        "12.5",
        1717200059999,
        "838000",
        100,
        "6",
        "400000",
        "0",
    ]
    falling = [
        1717200060000,
        "67050.5",
        "67080",
        "66950",
        "66960",
        "7.25",
        1717200119999,
        "486000",
        80,
        "3",
        "200000",
        "0",
    ]
    wick = [
        1717200120000,
        "66960",
        "66990",
        "66970",
        "66980",
        "1",
        1717200179999,  # low > open
        "66980",
        5,
        "0.5",
        "33490",
        "0",
    ]
    text = [
        1717200180000,
        "66980",
        "x",
        "66970",
        "66980",
        "1",
        1717200239999,
        "66980",
        5,
        "0.5",
        "33490",
        "0",
    ]
    chunk = (dt.datetime(2024, 6, 1, tzinfo=dt.UTC), dt.datetime(2024, 6, 2, tzinfo=dt.UTC))
    with capture_logs() as logs:
        ticks = binance.parse_klines(
            [rising, ["short"], falling, wick, text],
            "btcusdt",
            "binance-history",
            chunk,
            dt.datetime(2024, 6, 3, tzinfo=dt.UTC),
        )
    # The open at t, the extremes at t + 15 s and t + 30 s (low first on a rising kline, high
    # first on a falling one), the close at the close time with the base volume.
    assert [(t.time.isoformat(), t.price, t.volume, t.volume_24h, t.source) for t in ticks] == [
        ("2024-06-01T00:00:00+00:00", 67000.1, None, None, "binance-history"),
        ("2024-06-01T00:00:15+00:00", 66900.0, None, None, "binance-history"),
        ("2024-06-01T00:00:30+00:00", 67100.0, None, None, "binance-history"),
        ("2024-06-01T00:00:59.999000+00:00", 67050.5, 12.5, None, "binance-history"),
        ("2024-06-01T00:01:00+00:00", 67050.5, None, None, "binance-history"),
        ("2024-06-01T00:01:15+00:00", 67080.0, None, None, "binance-history"),
        ("2024-06-01T00:01:30+00:00", 66950.0, None, None, "binance-history"),
        ("2024-06-01T00:01:59.999000+00:00", 66960.0, 7.25, None, "binance-history"),
    ]
    assert [
        (e["field"], e["value"], e["reason"]) for e in logs if e["event"] == "value_rejected"
    ] == [
        ("kline", "['short']", "not a kline"),
        ("kline", repr(wick[1:6]), "high and low do not bracket open and close"),
        ("kline", repr(text[1:6]), "not a candle"),
    ]


def test_chunks_cutting_a_kline_share_its_four_ticks_between_them() -> None:
    kline = [
        1717200000000,
        "67000.1",
        "67100",
        "66900",
        "67050.5",
        "12.5",
        1717200059999,
        "838000",
        100,
        "6",
        "400000",
        "0",
    ]
    cut = dt.datetime(2024, 6, 1, 0, 0, 20, tzinfo=dt.UTC)
    now = dt.datetime(2024, 6, 3, tzinfo=dt.UTC)
    before, after = ((dt.datetime(2024, 6, 1, tzinfo=dt.UTC), cut), (cut, now))  # [start, end)
    parts = [
        binance.parse_klines([kline], "btcusdt", "binance-history", c, now) for c in (before, after)
    ]
    assert [[(t.time.second, t.price, t.volume) for t in part] for part in parts] == [
        [(0, 67000.1, None), (15, 66900.0, None)],
        [(30, 67100.0, None), (59, 67050.5, 12.5)],
    ]


def test_a_kline_still_open_at_now_is_left_out() -> None:
    """Its high and low are not final yet: stored now, the closed kline that the stream brings
    later would be skipped as a duplicate and the candle stay wrong."""
    closed = [1717200000000, "1.5", "2", "1", "1.75", "3", 1717200059999, "0", 1, "0", "0", "0"]
    still_open = [
        1717200060000,
        "1.75",
        "1.8",
        "1.7",
        "1.72",
        "1",
        1717200119999,
        "0",
        1,
        "0",
        "0",
        "0",
    ]
    now = dt.datetime.fromtimestamp(1717200090, dt.UTC)  # in the second kline's minute
    chunk = (dt.datetime(2024, 6, 1, tzinfo=dt.UTC), now)
    ticks = binance.parse_klines([closed, still_open], "btcusdt", "binance-history", chunk, now)
    assert [t.price for t in ticks] == [1.5, 1.0, 2.0, 1.75]


def test_binance_chunks_ask_at_most_one_requests_klines_from_any_start() -> None:
    """A start off the minute (a --from with seconds, a gap since a tick) must not make a
    request whose klines exceed the limit: the last would be cut off, and its ticks lost."""
    source = binance.BinanceHistory("http://127.0.0.1:1", None)  # type: ignore[arg-type]
    start = dt.datetime(2024, 6, 1, 12, 34, 56, 789000, tzinfo=dt.UTC)
    chunks = source.chunks(start, start + dt.timedelta(days=3), start + dt.timedelta(days=4))
    for lo, hi in chunks:  # klines asked by open time: from the one closing at lo to hi
        first_open = (lo.timestamp() * 1000 - 60_000) // 60_000 + 1
        last_open = (hi.timestamp() * 1000) // 60_000
        assert last_open - first_open + 1 <= binance.KLINES_LIMIT, (lo, hi)
    assert chunks[0][0] == start and chunks[-1][1] == start + dt.timedelta(days=3)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
