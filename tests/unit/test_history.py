"""The history endpoints' parsers and chunking (cryptomonitor.sources.history)."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from structlog.testing import capture_logs

from cryptomonitor.exceptions import ResponseError
from cryptomonitor.sources import history
from cryptomonitor.sources.http import JsonClient
from tests.paths import FIXTURES

NOW = dt.datetime(2024, 12, 4, tzinfo=dt.UTC)
ALL = (dt.datetime(2009, 1, 3, tzinfo=dt.UTC), NOW)


def test_a_recorded_market_chart_answer() -> None:
    payload = json.loads((FIXTURES / "coingecko_market_chart_bitcoin_excerpt.json").read_text())
    ticks = history.parse_market_chart(payload, "bitcoin", "coingecko-history", ALL, NOW)
    assert [(t.time, t.price, t.volume_24h, t.source) for t in ticks[:2]] == [
        (dt.datetime.fromtimestamp(1730668855.751, dt.UTC), 69102.91649492079,
         34702339791.069855, "coingecko-history"),
        (dt.datetime.fromtimestamp(1730671546.658, dt.UTC), 69113.85653675799,
         31817633080.47922, "coingecko-history")]
    inside = (ticks[1].time, ticks[3].time)  # [start, end): the last one is outside
    assert len(history.parse_market_chart(payload, "bitcoin", "x", inside, NOW)) == 2


def test_bad_points_are_refused_and_the_rest_kept() -> None:
    payload = {"prices": [[1730668855751, 1.5], [1730668855752, -1], "x", [None, 2.0],
                          [1730668855753, "3"], [4e15, 1.0]],
               "total_volumes": [[1730668855751, "NaN"]]}
    with capture_logs() as logs:
        ticks = history.parse_market_chart(payload, "bitcoin", "h", ALL, NOW)
    assert [(t.price, t.volume_24h) for t in ticks] == [(1.5, None)]  # bad volume: NULL
    refused = [(e["field"], e["reason"]) for e in logs if e["event"] == "value_rejected"]
    assert sorted(f for f, _ in refused) == [  # each one, logged by name
        "price", "price", "prices", "time", "time", "volume"]
    with pytest.raises(ResponseError, match="'prices' list"):
        history.parse_market_chart({"error": "coin not found"}, "bitcoin", "h", ALL, NOW)


def test_coingecko_chunks_take_the_last_day_whole_and_older_time_by_90_days() -> None:
    h = history.CoinGeckoHistory("http://x", "usd", {}, JsonClient(timeout=1, attempts=1))
    start = NOW - dt.timedelta(days=200)
    chunks = h.chunks(start, NOW, NOW)
    spans = [round((b - a) / dt.timedelta(days=1), 3) for a, b in chunks]
    assert spans == [89, 89, 21.003, 0.997]  # hourly, hourly, hourly, 5-minutely
    assert chunks[0][0] == start and chunks[-1][1] == NOW
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    assert h.chunks(NOW - dt.timedelta(minutes=30), NOW, NOW) == [
        (NOW - dt.timedelta(minutes=30), NOW)]


def test_binance_klines_close_at_their_close_time() -> None:
    kline = [1717200000000, "67000.1", "67100", "66900", "67050.5", "12.5", 1717200059999,
             "838000", 100, "6", "400000", "0"]
    chunk = (dt.datetime(2024, 6, 1, tzinfo=dt.UTC), dt.datetime(2024, 6, 2, tzinfo=dt.UTC))
    ticks = history.parse_klines([kline, ["short"]], "btcusdt", "binance-history", chunk,
                                 dt.datetime(2024, 6, 3, tzinfo=dt.UTC))
    assert [(t.time.isoformat(), t.price, t.volume_24h) for t in ticks] == [
        ("2024-06-01T00:00:59.999000+00:00", 67050.5, None)]
