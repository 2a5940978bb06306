"""Candles, rolling averages and volatility on real data, against oracles nobody here wrote
(Bybit's own 60-minute candles) and independent computations (tests/support/oracle.py)."""

from __future__ import annotations

import bisect
import datetime as dt
import decimal
import math
import pathlib
import statistics

import psycopg
import pytest

from tests.support import oracle
from tests.support.paths import FIXTURES

DAY = FIXTURES / "BTCUSDT_1m_2025-05-30_day1.csv"
NATIVE_60M = FIXTURES / "BTCUSDT_60m_native_2025-05-30_day1.csv"


@pytest.fixture
def day(conn: psycopg.Connection, flavour: str) -> list[tuple[dt.datetime, float, float]]:
    ticks = oracle.bar_ticks(oracle.read_bars(DAY))
    oracle.copy_ticks(conn, "btc", ticks)
    oracle.refresh(conn, flavour)
    return ticks


def test_ohlcv_1m_reproduces_every_bar(conn: psycopg.Connection, day: list) -> None:
    bars = oracle.read_bars(DAY)
    rows = conn.execute(
        "SELECT bucket, open, high, low, close, ticks, volume_24h FROM ohlcv_1m"
        " WHERE symbol = 'btc' ORDER BY bucket"
    ).fetchall()
    assert [(b, o, h, lo, c, n) for b, o, h, lo, c, n, _ in rows] == [
        (b["time"], b["open"], b["high"], b["low"], b["close"], 4) for b in bars
    ]
    # volume_24h: the last volume_24h of the minute, i.e. the tick at +45 s.
    assert [v for *_, v in rows] == [v for t, _, v in day if t.second == 45]


def test_candle_volume_is_the_traded_volume_exactly(conn: psycopg.Connection, flavour: str) -> None:
    """Each bar's traded volume on its close tick (as replay stores it): the 1-minute
    candles' V is the bar's, and the hours' V equals Bybit's own 60-minute candles' V,
    exactly, as decimals (a float sum would not)."""
    bars = oracle.read_bars(DAY)
    ticks = oracle.bar_ticks(bars)
    traded = {t + dt.timedelta(seconds=45): v for t, v in oracle.bar_volumes(DAY).items()}
    oracle.copy_ticks(conn, "btc", ticks, traded)
    oracle.refresh(conn, flavour)
    minutes = conn.execute(
        "SELECT bucket, volume, volume_24h FROM ohlcv_1m WHERE symbol = 'btc' ORDER BY bucket"
    ).fetchall()
    assert [(b, v) for b, v, _ in minutes] == [
        (t, decimal.Decimal(v)) for t, v in oracle.bar_volumes(DAY).items()
    ]
    assert [v24 for *_, v24 in minutes] == [v for t, _, v in ticks if t.second == 45]
    hours = dict(conn.execute("SELECT bucket, volume FROM ohlcv_1h WHERE symbol = 'btc'"))
    native = oracle.bar_volumes(NATIVE_60M)
    assert len(native) == 23
    for bucket, volume in native.items():
        assert hours[bucket] == decimal.Decimal(volume), bucket
    days = conn.execute("SELECT sum(volume) FROM ohlcv_1d WHERE symbol = 'btc'").fetchone()
    assert days == (sum(decimal.Decimal(v) for v in traded.values()),)


def test_candles_of_a_source_without_traded_volume_have_none(
    conn: psycopg.Connection, flavour: str
) -> None:
    """CoinGecko gives a rolling 24-hour figure only: V is NULL, never that figure."""
    oracle.copy_ticks(
        conn, "cg", [(dt.datetime(2025, 1, 1, 0, m, tzinfo=dt.UTC), 1.0, 5e9) for m in range(3)]
    )
    oracle.refresh(conn, flavour)
    for view in ("ohlcv_1m", "ohlcv_1h", "ohlcv_1d"):
        rows = conn.execute(f"SELECT volume, volume_24h FROM {view} WHERE symbol = 'cg'").fetchall()
        assert rows and all(r == (None, 5e9) for r in rows), (view, rows)


def test_ohlcv_1h_matches_the_exchanges_own_candles(conn: psycopg.Connection, day: list) -> None:
    native = oracle.read_bars(NATIVE_60M)
    rows = {
        b: (o, h, lo, c, n)
        for b, o, h, lo, c, n in conn.execute(
            "SELECT bucket, open, high, low, close, ticks FROM ohlcv_1h WHERE symbol = 'btc'"
        )
    }
    assert len(native) == 23
    for bar in native:
        assert rows[bar["time"]] == (bar["open"], bar["high"], bar["low"], bar["close"], 240), bar
    # The partial first hour (from 16:39) and last hour (to 16:38) are there too.
    assert len(rows) == 25


def test_ohlcv_1d_open_close_by_time_not_insertion_order(
    conn: psycopg.Connection, flavour: str
) -> None:
    t0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    # Inserted newest first: open/close must still follow the ticks' times.
    ticks = [(t0 + dt.timedelta(hours=h), 100.0 + h, 10.0 * h) for h in (23, 5, 0, 12)]
    oracle.copy_ticks(conn, "x", ticks)
    oracle.refresh(conn, flavour)
    row = conn.execute(
        "SELECT bucket, open, high, low, close, volume_24h, ticks FROM ohlcv_1d WHERE symbol = 'x'"
    ).fetchone()
    assert row == (t0, 100.0, 123.0, 100.0, 123.0, 230.0, 4)


def test_buckets_do_not_depend_on_the_session_time_zone(
    conn: psycopg.Connection, day: list
) -> None:
    conn.execute("SET TIME ZONE 'America/New_York'")
    buckets = [
        r[0] for r in conn.execute("SELECT bucket FROM ohlcv_1d WHERE symbol = 'btc' ORDER BY 1")
    ]
    assert [b.astimezone(dt.UTC).hour for b in buckets] == [0, 0]


def test_realtime_bucket_is_current(conn: psycopg.Connection, day: list) -> None:
    """Ticks newer than the last refresh show up at once (real-time aggregation on TimescaleDB),
    in every stacked aggregate."""
    last = day[-1][0]
    new = last.replace(hour=0, minute=7, second=5) + dt.timedelta(days=1)  # past every watermark
    oracle.copy_ticks(conn, "btc", [(new, 1.0, 7.0), (new + dt.timedelta(seconds=1), 2.0, 8.0)])
    for view, bucket in (
        ("ohlcv_1m", new.replace(second=0)),
        ("ohlcv_1h", new.replace(minute=0, second=0)),
    ):
        row = conn.execute(
            f"SELECT bucket, open, close, volume_24h, ticks FROM {view}"
            " WHERE symbol = 'btc' ORDER BY bucket DESC LIMIT 1"
        ).fetchone()
        assert row == (bucket, 1.0, 2.0, 8.0, 2), view
    row = conn.execute(
        "SELECT low, ticks FROM ohlcv_1d WHERE symbol = 'btc' ORDER BY bucket DESC LIMIT 1"
    ).fetchone()
    assert row is not None and row[0] == 1.0


def _window(day: list, end: dt.datetime, seconds: float, col: int) -> list[float]:
    times = [t for t, *_ in day]
    lo = bisect.bisect_left(times, end - dt.timedelta(seconds=seconds))
    hi = bisect.bisect_left(times, end)
    return [x[col] for x in day[lo:hi]]


def test_rolling_averages_match_independent_computation(
    conn: psycopg.Connection, day: list
) -> None:
    rows = conn.execute(
        "SELECT bucket, price_avg_5m, price_samples_5m, price_avg_1h,"
        " price_samples_1h, volume_avg_5m, volume_avg_1h FROM rolling_averages"
        " WHERE symbol = 'btc' ORDER BY bucket"
    ).fetchall()
    assert len(rows) == 1440
    for bucket, p5, n5, p60, n60, v5, v60 in rows:
        end = bucket + dt.timedelta(minutes=1)
        w5, w60 = _window(day, end, 300, 1), _window(day, end, 3600, 1)
        assert (n5, n60) == (len(w5), len(w60))
        assert math.isclose(p5, statistics.fmean(w5), rel_tol=1e-12)
        assert math.isclose(p60, statistics.fmean(w60), rel_tol=1e-12)
        assert math.isclose(v5, statistics.fmean(_window(day, end, 300, 2)), rel_tol=1e-12)
        assert math.isclose(v60, statistics.fmean(_window(day, end, 3600, 2)), rel_tol=1e-12)


def test_rolling_averages_agree_with_the_alert_window(conn: psycopg.Connection, day: list) -> None:
    """One definition: the view's row for minute m is trailing_window(symbol, m + 1 min, W)."""
    rows = conn.execute(
        "SELECT r.price_avg_1h, w1.price_avg, r.price_samples_1h, w1.price_samples,"
        "       r.volume_avg_5m, w5.volume_avg, r.volume_samples_5m, w5.volume_samples"
        " FROM rolling_averages r,"
        "      trailing_window(r.symbol, r.bucket + interval '1 minute', 3600) w1,"
        "      trailing_window(r.symbol, r.bucket + interval '1 minute', 300) w5"
        " WHERE r.symbol = 'btc' AND extract(minute FROM r.bucket)::int % 7 = 0"
    ).fetchall()
    assert len(rows) > 200
    for a, b, n_a, n_b, c, d, m_a, m_b in rows:
        assert n_a == n_b and m_a == m_b
        assert math.isclose(a, b, rel_tol=1e-12) and math.isclose(c, d, rel_tol=1e-12)


def test_volatility_24h_sample_stddev_and_rank(conn: psycopg.Connection, flavour: str) -> None:
    now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    shift = now - dt.timedelta(seconds=90) - oracle.read_bars(DAY)[-1]["time"]  # type: ignore[operator]
    day = [(t + shift, p, v) for t, p, v in oracle.bar_ticks(oracle.read_bars(DAY))]
    oracle.copy_ticks(conn, "btc", day)
    oracle.copy_ticks(conn, "btc2x", [(t, 2 * p, v) for t, p, v in day])
    oracle.copy_ticks(conn, "flat", [(t, 5.0, v) for t, p, v in day[-100:]])
    oracle.copy_ticks(conn, "lonely", [(day[-1][0], 5.0, 1.0)])
    oracle.refresh(conn, flavour)
    with conn.transaction():  # one now() for the view and for the window bound
        start = conn.execute(
            "SELECT date_bin('1 minute', now(), '2000-01-01 00:00+00')"
            " - interval '23 hours 59 minutes'"
        ).fetchone()[0]  # type: ignore[index]
        rows = {
            s: (sd, n, r)
            for s, sd, n, r in conn.execute(
                "SELECT symbol, stddev, samples, rank FROM volatility_24h"
            )
        }
        relative = {
            s: (mean, cv, r)
            for s, mean, cv, r in conn.execute(
                "SELECT symbol, mean, cv_pct, cv_rank FROM volatility_24h"
            )
        }
    window = [p for t, p, _ in day if t >= start]
    expected = statistics.stdev(window)  # sample standard deviation (n - 1)
    assert rows["btc"][1] == len(window) and rows["btc"][2] == 2
    assert math.isclose(rows["btc"][0], expected, rel_tol=1e-9)
    assert math.isclose(rows["btc2x"][0], 2 * expected, rel_tol=1e-9) and rows["btc2x"][2] == 1
    assert rows["flat"][0] == pytest.approx(0.0, abs=1e-9) and rows["flat"][2] == 3
    assert rows["lonely"] == (None, 1, 4)
    # Relative: the coefficient of variation, the same for a price and its double.
    mean, cv, cv_rank = relative["btc"]
    assert math.isclose(mean, statistics.fmean(window), rel_tol=1e-12)
    assert math.isclose(cv, expected / statistics.fmean(window) * 100, rel_tol=1e-9)
    assert math.isclose(relative["btc2x"][1], cv, rel_tol=1e-12) and cv_rank == 1
    assert relative["btc2x"][2] == 1  # a tie: 2x the price is not 2x as volatile
    assert relative["flat"][:2] == (5.0, pytest.approx(0.0, abs=1e-9)) and relative["flat"][2] == 3
    assert relative["lonely"] == (5.0, None, 4)


def test_thirty_days_of_three_coins_match_native_candles(
    conn: psycopg.Connection, flavour: str, shared_data: pathlib.Path
) -> None:
    root = shared_data / "market/bybit_1m"
    for sym in ("BTCUSDT", "ETHUSDT", "DOGEUSDT"):
        oracle.copy_ticks(conn, sym, oracle.bar_ticks(oracle.read_bars(root / f"{sym}_1m.csv")))
    oracle.refresh(conn, flavour)
    compared = 0
    for sym in ("BTCUSDT", "ETHUSDT", "DOGEUSDT"):
        rows = {
            b: (o, h, lo, c)
            for b, o, h, lo, c in conn.execute(
                "SELECT bucket, open, high, low, close FROM ohlcv_1h WHERE symbol = %s", (sym,)
            )
        }
        first_full = min(rows) + dt.timedelta(hours=1)
        for bar in oracle.read_bars(root / "native" / f"{sym}_60m.csv"):
            if first_full <= bar["time"] < max(rows):  # type: ignore[operator]
                assert rows[bar["time"]] == (
                    bar["open"],
                    bar["high"],
                    bar["low"],  # type: ignore[index]
                    bar["close"],
                ), (sym, bar)
                compared += 1
    assert compared > 3 * 700
