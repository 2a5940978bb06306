"""The replay's ticks, pure: the rolling 24-hour volume is the correctly rounded sum of the
window's bars (math.fsum over the window, recomputed for every bar, is the oracle)."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from cryptomonitor.exceptions import ReplayError
from cryptomonitor.sources import barfiles

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def test_rolling_volume_equals_fsum_of_the_window_for_every_bar() -> None:
    rng = random.Random(1)
    bars, t = [], T0
    for _ in range(4000):
        volume = rng.choice(
            [
                rng.uniform(0, 1e9),
                rng.uniform(0, 1e-3),
                0.0,
                5e-324,
                rng.random() * 1e290,
                float(rng.randrange(10**6)),
            ]
        )
        bars.append(barfiles.Bar(t, 1.0, 1.0, 1.0, 1.0, volume))
        t += dt.timedelta(minutes=rng.choice([1, 1, 1, 7, 300]))  # gaps: the window shrinks
    got = [tick.volume_24h for tick in barfiles.ticks(bars, "x")]
    for i, bar in enumerate(bars):
        want: float | None = math.fsum(
            b.volume for b in bars if bar.time - barfiles.DAY < b.time <= bar.time
        )
        if bar.time - bars[0].time < barfiles.DAY - dt.timedelta(minutes=1):
            want = None  # the bars read do not span a day yet: their sum is not a 24 h volume
        assert got[4 * i : 4 * i + 4] == [want] * 4, (i, bar)
    assert got[0] is None and got[-1] is not None


def test_a_bars_traded_volume_is_on_its_close_tick_only() -> None:
    bars = [
        barfiles.Bar(T0 + dt.timedelta(minutes=i), 1.0, 2.0, 0.5, 1.5, 10.0 + i) for i in range(3)
    ]
    got = [(t.time - T0, t.volume) for t in barfiles.ticks(bars, "x")]
    assert got == [
        (dt.timedelta(minutes=i, seconds=s), 10.0 + i if s == 45 else None)
        for i in range(3)
        for s in (0, 15, 30, 45)
    ]


def test_bar_times_are_iso_8601_in_utc_when_no_zone_is_given() -> None:
    lines = [
        "timestamp,open,high,low,close,volume",
        "2025-01-01T00:00:00,1,2,0.5,1.5,10",  # no zone: UTC
        "2025-01-01T00:01:00Z,1,2,0.5,1.5,10",
        "2025-01-01T01:02:00+01:00,1,2,0.5,1.5,10",
        "2025-01-01 00:03:00.5+00:00,1,2,0.5,1.5,10",
    ]
    times = [bar.time for bar in barfiles.parse_bars(lines, "bars.csv")]
    assert times == [
        T0,
        T0 + dt.timedelta(minutes=1),
        T0 + dt.timedelta(minutes=2),
        T0 + dt.timedelta(minutes=3, seconds=0.5),
    ]
    assert all(t.tzinfo is dt.UTC for t in times)


def test_a_bar_time_that_is_not_one_names_its_line() -> None:
    lines = ["timestamp,open,high,low,close,volume", "2025-01-01T00:00:00Z,1,2,0.5,1.5,10"]
    with pytest.raises(ReplayError, match=r"^bars.csv:3: "):
        list(barfiles.parse_bars([*lines, "yesterday,1,2,0.5,1.5,10"], "bars.csv"))
