"""The trailing windows' arithmetic (alerting.windows), alone: exact sums, any order."""

from __future__ import annotations

import datetime as dt
import random

from cryptomonitor.alerting.windows import Series
from cryptomonitor.models import Tick
from cryptomonitor.sources import barfiles
from cryptomonitor.util.exact import bits_needed, exact_sum, mean, units
from cryptomonitor.util.times import micros
from tests.support.paths import FIXTURES

DAY = FIXTURES / "BTCUSDT_1m_2025-05-30_day1.csv"
WINDOWS = (300, 3600)


def day_ticks(bars: int) -> list[Tick]:
    return list(barfiles.ticks(barfiles.read_bars(DAY, 0, bars), "btc"))


def test_exact_sums_give_the_correctly_rounded_mean() -> None:
    values = [0.1, 0.2, 0.3, 1e16, -1e16, 3.0]
    k = max(map(bits_needed, values))
    assert mean(sum(units(v, k) for v in values), len(values), k) == (0.1 + 0.2 + 0.3 + 3.0) / 6
    assert mean(units(0.1, 60) * 3, 3, 60) == 0.1  # float sums give 0.10000000000000002
    assert mean(0, 0) is None
    total, k2 = exact_sum(values, 0)
    assert total == sum(units(v, k2) for v in values)
    tiny_and_huge = [5e-324, 1e308]  # the fallback when scaling would overflow
    total, k3 = exact_sum(tiny_and_huge, 0)
    assert mean(total, 2, k3) == 5e307


def test_any_arrival_order_gives_the_same_numbers() -> None:
    ticks = day_ticks(120)
    in_order = Series(w * 1_000_000 for w in WINDOWS)
    for t in ticks:
        in_order.add(micros(t.time), t.price, t.volume_24h)
    shuffled = Series(w * 1_000_000 for w in WINDOWS)
    mixed = ticks[:]
    random.Random(7).shuffle(mixed)
    for t in mixed:
        shuffled.add(micros(t.time), t.price, t.volume_24h)
    probe = micros(ticks[-1].time) + 1
    assert shuffled.stats(probe) == in_order.stats(probe)  # exact: identical floats
    for t in ticks[::37]:
        assert shuffled.stats_at(micros(t.time)) == in_order.stats_at(micros(t.time))


def test_missing_volume_counts_only_for_price() -> None:
    s = Series([60_000_000])
    base = micros(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    s.add(base, 10.0, None)
    s.add(base + 1_000_000, 20.0, 4.0)
    assert s.stats(base + 2_000_000) == [(15.0, 2, 4.0, 1)]
    assert s.stats(base + 61_000_000) == [(20.0, 1, 4.0, 1)]  # the first tick left the window


def test_running_sums_stay_exact_when_units_overflow_a_float() -> None:
    """A tiny value forces units of 2**-1074, in which a huge one overflows a float: the
    running sums take the slow exact way, adding and expiring, and agree with a recount."""
    rng = random.Random(3)
    s = Series([5_000_000, 20_000_000])
    base = micros(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    for i in range(300):
        price = rng.choice([5e-324, 1e308, 1.5, 1e-300, 3.0])
        volume = rng.choice([None, 5e-324, 1e307, 2.0])
        t = base + i * 1_000_000
        assert s.stats(t) == s.stats_at(t), i
        s.advance(t, price, volume)
