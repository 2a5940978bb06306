"""The indicators (SMA, EMA, RSI) against pandas on real recorded closes, their warm-up span
against the whole history, and the candles they read (buckets, closes, late ticks)."""

from __future__ import annotations

import math
import pathlib

import pandas as pd
import pytest

from cryptomonitor.alerting import indicators
from cryptomonitor.alerting.candles import Candles
from cryptomonitor.sources import barfiles
from cryptomonitor.util.times import micros

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures"
MINUTE = 60_000_000


def closes(interval_minutes: int) -> list[float]:
    """The closes of BTC's candles of 2025-06-22 (real Bybit bars, four ticks a bar as
    `replay` makes them), built by pandas from the ticks: the last price of each bucket."""
    ticks = barfiles.ticks(barfiles.read_bars(FIXTURES / "BTCUSDT_1m_2025-06-22.csv"), "bitcoin")
    frame = pd.DataFrame([(t.time, t.price) for t in ticks], columns=["time", "price"])
    frame = frame.set_index("time")
    return list(frame["price"].resample(f"{interval_minutes}min").last().dropna())


def tv_smoothed(values: pd.Series, length: int, alpha: float) -> pd.Series:
    """TradingView's ta.ema / ta.rma by pandas: the SMA of the first `length` values as the
    seed, then pandas's recursive exponential mean (adjust=False)."""
    seeded = values.iloc[length - 1 :].copy()
    seeded.iloc[0] = values.iloc[:length].mean()
    return seeded.ewm(alpha=alpha, adjust=False).mean()


def tv_rsi(close: pd.Series, length: int) -> pd.Series:
    change = close.diff().iloc[1:]
    gain = tv_smoothed(change.clip(lower=0), length, 1 / length)
    loss = tv_smoothed((-change).clip(lower=0), length, 1 / length)
    return 100 - 100 / (1 + gain / loss)


@pytest.mark.parametrize("interval", [1, 5, 15])
@pytest.mark.parametrize("length", [2, 9, 14, 21, 50])
def test_sma_ema_and_rsi_are_pandas_figures_on_real_closes(interval: int, length: int) -> None:
    history = closes(interval)
    series = pd.Series(history)
    sma = series.rolling(length).mean()
    ema = tv_smoothed(series, length, 2 / (length + 1))
    rsi = tv_rsi(series, length)
    checked = 0
    for end in range(1, len(history) + 1):
        seen = history[:end]
        i = end - 1
        got_sma, got_ema = indicators.sma(seen, length), indicators.ema(seen, length)
        got_rsi = indicators.rsi(seen, length)
        if end < length:
            assert got_sma is None and got_ema is None, end
            continue
        assert got_sma == pytest.approx(sma.iloc[i], rel=1e-12), end
        assert got_ema == pytest.approx(ema.loc[i], rel=1e-12), end
        if end <= length:
            assert got_rsi is None, end
        else:
            assert got_rsi == pytest.approx(rsi.loc[i], rel=1e-9, abs=1e-9), end
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("length", [9, 14, 50])
def test_the_warm_up_span_gives_the_whole_historys_value(length: int) -> None:
    history = closes(1)  # 1,440 closes: longer than every span here
    for kind in ("sma", "ema", "rsi"):
        span = indicators.warmup(kind, length)
        assert span < len(history)
        for end in range(span, len(history), 97):
            whole = indicators.value(kind, length, history[:end])
            recent = indicators.value(kind, length, history[end - span : end])
            assert whole is not None and recent is not None
            assert math.isclose(recent, whole, rel_tol=1e-8, abs_tol=1e-8), (kind, end)


def test_rsi_is_100_on_gains_only_and_undecided_on_a_flat_history() -> None:
    assert indicators.rsi([1.0, 2.0, 3.0, 4.0], 3) == 100.0
    assert indicators.rsi([5.0, 5.0, 5.0, 5.0], 3) is None
    assert indicators.rsi([4.0, 3.0, 2.0, 1.0], 3) == 0.0


def test_specs_are_parsed_and_named_and_bad_ones_refused() -> None:
    assert indicators.parse("rsi:14") == ("rsi", 14)
    assert indicators.parse("close") == ("close", 1)
    assert indicators.label("ema:21", "1h") == "EMA(21,1h)"
    for bad in ("rsi", "rsi:0", "rsi:1", "macd:12", "ema:x", "sma:1001", 14):
        with pytest.raises(ValueError, match=r"indicator|RSI"):
            indicators.parse(bad)


def test_candles_close_on_the_first_tick_of_a_later_bucket_and_keep_late_ticks() -> None:
    c = Candles(5 * MINUTE, keep=3)
    start = micros(pd.Timestamp("2025-06-22T00:00:00Z").to_pydatetime())
    assert c.roll(start + 10_000_000, 100.0) is None  # opens 00:00
    assert c.roll(start + 4 * MINUTE, 101.0) is None  # same bucket: the close moves
    assert c.roll(start + 5 * MINUTE, 102.0) == start  # opens 00:05: 00:00 closes
    assert list(c.closes_until(start, 3)) == [101.0]
    assert c.roll(start + 21 * MINUTE, 103.0) == start + 5 * MINUTE  # a gap: no empty candles
    assert list(c.buckets) == [start, start + 5 * MINUTE, start + 20 * MINUTE]
    c.insert(start + 3 * MINUTE, 99.0)  # late, but not the bucket's latest: nothing changes
    c.insert(start + 12 * MINUTE, 98.0)  # late, in a bucket without candle: one more
    c.insert(start + 9 * MINUTE, 97.0)  # late, the bucket's latest tick: its close
    assert list(c.closes) == [101.0, 97.0, 98.0, 103.0]
    # The closes up to 00:10 of 3 intervals back: the buckets 00:00 (excluded) .. 00:10.
    assert list(c.closes_until(start + 10 * MINUTE, 2)) == [97.0, 98.0]


def test_candles_keep_only_what_the_rules_read() -> None:
    c = Candles(MINUTE, keep=5)
    for i in range(200):
        c.roll(i * MINUTE, float(i))
    assert len(c.buckets) <= 2 * 5 + 9
    assert list(c.closes_until(198 * MINUTE, 5)) == [194.0, 195.0, 196.0, 197.0, 198.0]


def test_candles_are_counted_not_timed_and_a_trim_keeps_the_candle_before() -> None:
    c = Candles(MINUTE, keep=4)  # a cross of sma:3 reads 3 candles, and the one before
    minutes = [m for m in range(120) if m % 10 not in (3, 4, 5)]  # gaps of 3 minutes
    closed = []
    for m in minutes:
        if (b := c.roll(m * MINUTE, float(m))) is not None:
            closed.append(b)
            # The 3 candles up to the one closed, gaps or not, and 3 up to the one before.
            held = [float(x) for x in minutes if x * MINUTE <= b]
            assert list(c.closes_until(b, 3)) == held[-3:]
            if len(held) > 1:
                before = c.buckets[c.buckets.index(b) - 1]
                assert list(c.closes_until(before, 3)) == held[-4:-1]
    assert len(closed) == len(minutes) - 1
