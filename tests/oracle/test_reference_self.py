"""Hand-computed checks of the oracle itself (tests/oracle/reference.py): a few ticks each, the
expected events worked out by hand in the comments. No database."""

from __future__ import annotations

import datetime as dt
import tomllib
from fractions import Fraction
from typing import Any

import pytest

from cryptomonitor.models import Tick
from cryptomonitor.sources import barfiles
from tests.oracle.reference import parse_duration, reference_events

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: (event, rule, symbol, seconds after T0, value): events with short times, for comparing.
Short = tuple[str, str, str, float, float]


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def tick(
    seconds: float,
    price: float,
    volume_24h: float | None = 1000.0,
    symbol: str = "BTC",
    source: str = "test",
) -> Tick:
    return Tick(at(seconds), symbol, price, volume_24h, source)


def prices(*pairs: tuple[float, float], symbol: str = "BTC") -> list[Tick]:
    """Ticks from (seconds, price) pairs."""
    return [tick(seconds, price, symbol=symbol) for seconds, price in pairs]


def volumes(*pairs: tuple[float, float | None]) -> list[Tick]:
    """Ticks from (seconds, volume_24h) pairs, the price fixed at 1."""
    return [tick(seconds, 1.0, volume) for seconds, volume in pairs]


def trades(*pairs: tuple[float, float | None], symbol: str = "BTC") -> list[Tick]:
    """Ticks from (seconds, traded volume) pairs, the price fixed at 1, volume_24h unknown."""
    return [Tick(at(seconds), symbol, 1.0, None, "test", volume) for seconds, volume in pairs]


def run(rules: list[dict[str, Any]], ticks: list[Tick], repeat: float = 3600) -> list[Short]:
    return [
        (event, name, symbol, (time - T0).total_seconds(), value)
        for event, name, symbol, time, value in reference_events(rules, ticks, repeat)
    ]


def rule(name: str = "r", /, **keys: Any) -> dict[str, Any]:
    return {"name": name, **keys}


# --- above / below, recover -------------------------------------------------------------------


def test_above_without_recover_resolves_when_no_longer_above() -> None:
    # 101 > 100 fires; 100 is not > 100: resolved.
    rules = [rule(condition="above", threshold=100)]
    assert run(rules, prices((0, 101), (1, 100))) == [
        ("ALERT", "r", "BTC", 0, 101),
        ("RESOLVED", "r", "BTC", 1, 100),
    ]


def test_above_with_recover_hysteresis() -> None:
    # above 100, recover 95: 99 no; 101 ALERT; 97 still > 95 (firing); 95 not > 95: RESOLVED;
    # 96 and 100 are not > 100 (quiet); 100.5 ALERT again.
    rules = [rule(condition="above", threshold=100, recover=95)]
    ticks = prices((0, 99), (1, 101), (2, 97), (3, 95), (4, 96), (5, 100), (6, 100.5))
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 1, 101),
        ("RESOLVED", "r", "BTC", 3, 95),
        ("ALERT", "r", "BTC", 6, 100.5),
    ]


def test_below_with_recover_hysteresis() -> None:
    # below 50, recover 55: 51 no; 49 ALERT; 54 < 55 still (firing); 55 not < 55: RESOLVED.
    rules = [rule(condition="below", threshold=50, recover=55)]
    assert run(rules, prices((0, 51), (1, 49), (2, 54), (3, 55))) == [
        ("ALERT", "r", "BTC", 1, 49),
        ("RESOLVED", "r", "BTC", 3, 55),
    ]


def test_recover_on_the_wrong_side_is_refused() -> None:
    with pytest.raises(ValueError, match="clearing side"):
        run([rule(condition="above", threshold=100, recover=100)], [])
    with pytest.raises(ValueError, match="clearing side"):
        run([rule(condition="below", threshold=50, recover=45)], [])
    with pytest.raises(ValueError, match="clearing side"):
        run([rule(condition="move", lookback=60, threshold=0.05, recover=0.06)], [])


# --- for ----------------------------------------------------------------------------------------


def test_for_pending_reset_by_a_tick_that_does_not_hold() -> None:
    # above 100 for 10 s: t0 holds (pending since 0), t5 holds (5 < 10), t8 99 resets;
    # t9 holds (pending since 9), t15 (6 < 10), t19: 19 - 9 = 10 >= 10: ALERT.
    rules = [rule(condition="above", threshold=100, **{"for": "10s"})]
    ticks = prices((0, 101), (5, 102), (8, 99), (9, 101), (15, 101), (19, 101))
    assert run(rules, ticks) == [("ALERT", "r", "BTC", 19, 101)]


def test_for_is_not_reset_by_a_tick_without_decision() -> None:
    # volume_24h above 100 for 10 s: t0 150 (pending since 0); t5 None: no decision, pending
    # kept; t10 150: 10 - 0 >= 10: ALERT. With the None tick a 99 instead it would reset.
    rules = [rule(condition="above", metric="volume_24h", threshold=100, **{"for": 10})]
    assert run(rules, volumes((0, 150), (5, None), (10, 150))) == [("ALERT", "r", "BTC", 10, 150)]
    assert run(rules, volumes((0, 150), (5, 99), (10, 150))) == []


# --- cooldown, repeat, once, expires -------------------------------------------------------------


def test_cooldown_after_resolved() -> None:
    # above 100, cooldown 60 s: t0 ALERT, t10 RESOLVED (r = 10); t20 and t69 are within the
    # cooldown (10 s, 59 s < 60 s): nothing; t70: 60 s >= 60 s: ALERT.
    rules = [rule(condition="above", threshold=100, cooldown="1m")]
    ticks = prices((0, 101), (10, 99), (20, 101), (69, 101), (70, 101))
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 0, 101),
        ("RESOLVED", "r", "BTC", 10, 99),
        ("ALERT", "r", "BTC", 70, 101),
    ]


def test_repeat_of_the_rule() -> None:
    # repeat 30 s: ALERT at 0; 29 s after it nothing; at 30 and 60 repeats; 61 resolves.
    rules = [rule(condition="above", threshold=100, repeat="30s")]
    ticks = prices((0, 101), (29, 101), (30, 101), (45, 101), (60, 101), (61, 99))
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 0, 101),
        ("ALERT", "r", "BTC", 30, 101),
        ("ALERT", "r", "BTC", 60, 101),
        ("RESOLVED", "r", "BTC", 61, 99),
    ]


def test_repeat_zero_never_repeats_and_the_global_interval_applies_otherwise() -> None:
    ticks = prices((0, 101), (20, 101), (5000, 101))
    # the rule's own repeat = 0: never, whatever the global interval
    assert run([rule(condition="above", threshold=100, repeat=0)], ticks, repeat=20) == [
        ("ALERT", "r", "BTC", 0, 101)
    ]
    # no repeat of its own: the global 20 s (at 20; at 5000, 4980 s after the last)
    assert run([rule(condition="above", threshold=100)], ticks, repeat=20) == [
        ("ALERT", "r", "BTC", 0, 101),
        ("ALERT", "r", "BTC", 20, 101),
        ("ALERT", "r", "BTC", 5000, 101),
    ]
    # the global interval 0: never
    assert run([rule(condition="above", threshold=100)], ticks, repeat=0) == [
        ("ALERT", "r", "BTC", 0, 101)
    ]


def test_once_gives_one_episode_without_repeats_then_never_again() -> None:
    # once, repeat 10 s: ALERT at 0; no repeat at 10 (once); RESOLVED at 20; done: t30
    # (holds), t40, t50 give nothing.
    rules = [rule(condition="above", threshold=100, once=True, repeat=10)]
    ticks = prices((0, 101), (10, 101), (20, 99), (30, 101), (40, 99), (50, 101))
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 0, 101),
        ("RESOLVED", "r", "BTC", 20, 99),
    ]


def test_expires_stops_new_episodes_but_an_open_one_still_resolves() -> None:
    # expires at T0 + 30 s (a TOML datetime): ALERT at 0; still firing at 40 (no repeat within
    # an hour); RESOLVED at 50 after expiry; t60 holds but t >= expires: no new episode.
    expires = tomllib.loads("e = 2026-01-01T00:00:30Z")["e"]
    rules = [rule(condition="above", threshold=100, expires=expires)]
    ticks = prices((0, 101), (40, 101), (50, 99), (60, 101))
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 0, 101),
        ("RESOLVED", "r", "BTC", 50, 99),
    ]
    # exactly at expiry nothing starts; a microsecond before, it does
    assert run(rules, prices((30, 101))) == []
    assert run(rules, prices((29.999999, 101))) == [("ALERT", "r", "BTC", 29.999999, 101)]


def test_expiry_clears_a_pending_period() -> None:
    # for 20 s, expires at 30: pending since 20; at 30 (expired) pending cleared; nothing ever.
    expires = tomllib.loads("e = 2026-01-01T00:00:30+00:00")["e"]
    rules = [rule(condition="above", threshold=100, expires=expires, **{"for": 20})]
    assert run(rules, prices((20, 101), (30, 101), (40, 101))) == []


# --- which ticks a rule judges --------------------------------------------------------------------


def test_thresholds_per_symbol_symbols_globs_and_sources() -> None:
    # threshold 100, ETH 10; symbols BTC*, ETH, S?L; sources binance only.
    rules = [
        rule(
            condition="above",
            threshold=100,
            thresholds={"ETH": 10},
            symbols=["BTC*", "ETH", "S?L"],
            sources=["binance"],
        )
    ]
    ticks = [
        tick(0, 101, symbol="BTCUSDT", source="binance"),  # BTC*: ALERT
        tick(0, 11, symbol="ETH", source="binance"),  # 11 > 10: ALERT
        tick(0, 101, symbol="SOL", source="binance"),  # S?L: ALERT
        tick(0, 101, symbol="DOGE", source="binance"),  # not in symbols
        tick(0, 101, symbol="BTCEUR", source="coingecko"),  # not in sources
        tick(0, 101, symbol="SOLA", source="binance"),  # S?L is whole-name
        tick(1, 9, symbol="ETH", source="binance"),  # 9 not > 10: RESOLVED
        tick(1, 50, symbol="BTCUSDT", source="binance"),  # 50 not > 100: RESOLVED
    ]
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTCUSDT", 0, 101),
        ("ALERT", "r", "ETH", 0, 11),
        ("ALERT", "r", "SOL", 0, 101),
        ("RESOLVED", "r", "ETH", 1, 9),
        ("RESOLVED", "r", "BTCUSDT", 1, 50),
    ]


def test_only_thresholds_leaves_other_symbols_unjudged_and_recover_per_symbol() -> None:
    # thresholds BTC 100, ETH 10; recover 95, ETH's own 9. DOGE has no threshold.
    rules = [
        rule(
            condition="above",
            thresholds={"BTC": 100, "ETH": 10},
            recover=95,
            recover_thresholds={"ETH": 9},
        )
    ]
    ticks = [
        tick(0, 1e9, symbol="DOGE"),
        tick(0, 101, symbol="BTC"),  # ALERT
        tick(0, 11, symbol="ETH"),  # ALERT
        tick(1, 96, symbol="BTC"),  # 96 > 95: firing
        tick(1, 9.5, symbol="ETH"),  # 9.5 > 9: firing
        tick(2, 95, symbol="BTC"),  # RESOLVED
        tick(2, 9, symbol="ETH"),  # RESOLVED
    ]
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 0, 101),
        ("ALERT", "r", "ETH", 0, 11),
        ("RESOLVED", "r", "BTC", 2, 95),
        ("RESOLVED", "r", "ETH", 2, 9),
    ]


def test_disabled_rules_are_skipped_and_events_follow_rule_order_within_a_tick() -> None:
    rules = [
        rule("second", condition="above", threshold=1),
        rule("off", condition="above", threshold=1, enabled=False),
        rule("first", condition="above", threshold=2),
    ]
    assert run(rules, prices((0, 5))) == [
        ("ALERT", "second", "BTC", 0, 5),
        ("ALERT", "first", "BTC", 0, 5),
    ]


def test_a_tick_not_newer_than_its_symbols_newest_is_ignored() -> None:
    # BTC at 10 fires; BTC at 10 again and at 5 are ignored (no RESOLVED); ETH at 0 is its own
    # symbol's first tick and is judged although older than BTC's.
    rules = [rule(condition="above", threshold=100)]
    ticks = [
        tick(10, 101, symbol="BTC"),
        tick(10, 99, symbol="BTC"),
        tick(5, 99, symbol="BTC"),
        tick(0, 101, symbol="ETH"),
        tick(11, 99, symbol="BTC"),
    ]
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 10, 101),
        ("ALERT", "r", "ETH", 0, 101),
        ("RESOLVED", "r", "BTC", 11, 99),
    ]
    # An ignored tick is not in later windows either: ratio over 60 s, threshold 2. At 20 the
    # window is {10} only (the 1000 at 10 was ignored): 25 > 20: ALERT.
    ratio = [rule(condition="ratio_above", window=60, threshold=2)]
    assert run(ratio, prices((10, 10), (10, 1000), (20, 25))) == [("ALERT", "r", "BTC", 20, 25)]


# --- move ----------------------------------------------------------------------------------------


def test_move_relative_up_down_either() -> None:
    # lookback 60 s, threshold 5%:
    # t0 100: no reference. t60 94: reference t0 (100), c = -6%: down and either fire.
    # t120 94: reference t60 (94), c = 0: both resolve. t180 100: reference t120 (94),
    # c = 6/94 = 6.4%: up and either fire.
    rules = [
        rule(name, condition="move", lookback="1m", threshold=0.05, direction=name)
        for name in ("up", "down", "either")
    ]
    assert run(rules, prices((0, 100), (60, 94), (120, 94), (180, 100))) == [
        ("ALERT", "down", "BTC", 60, 94),
        ("ALERT", "either", "BTC", 60, 94),
        ("RESOLVED", "down", "BTC", 120, 94),
        ("RESOLVED", "either", "BTC", 120, 94),
        ("ALERT", "up", "BTC", 180, 100),
        ("ALERT", "either", "BTC", 180, 100),
    ]


def test_move_needs_a_reference_at_least_the_lookback_old() -> None:
    # t30: the only earlier tick (t0) is 30 s old < 60: no decision. t60 105: c = 5/100 = 1/20
    # exactly, and the threshold is the double 0.05 (a bit above 1/20): not a move. t61 106:
    # the latest tick at or before t61 - 60 = t1 is still t0, c = 6%: ALERT.
    rules = [rule(condition="move", lookback=60, threshold=0.05)]
    assert run(rules, prices((0, 100), (30, 200), (60, 105), (61, 106))) == [
        ("ALERT", "r", "BTC", 61, 106)
    ]


def test_move_absolute() -> None:
    # up by more than 5: t60 105 (c = 5, not > 5); t120 111 (reference t60 105: c = 6): ALERT.
    rules = [rule(condition="move", lookback=60, threshold=5, unit="absolute", direction="up")]
    assert run(rules, prices((0, 100), (60, 105), (120, 111))) == [("ALERT", "r", "BTC", 120, 111)]


def test_move_reference_no_older_than_twice_the_lookback() -> None:
    rules = [rule(condition="move", lookback=60, threshold=0.05)]
    # reference exactly 2L = 120 s old: still used (c = 100%): ALERT
    assert run(rules, prices((0, 100), (120, 200))) == [("ALERT", "r", "BTC", 120, 200)]
    # 121 s old: no decision
    assert run(rules, prices((0, 100), (121, 200))) == []
    # No decision does not resolve: t60 110 fires (ref t0); t181 and t182 have t60 as latest
    # reference (121 s, 122 s old): no decision; t241: reference t181 (100), c = 0: RESOLVED.
    ticks = prices((0, 100), (60, 110), (181, 100), (182, 100), (241, 100))
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 60, 110),
        ("RESOLVED", "r", "BTC", 241, 100),
    ]


def test_move_relative_needs_a_positive_reference_and_skips_none_values() -> None:
    # volume_24h: t0 0, t60 10: reference 0: no relative decision; absolute: c = 10 > 5.
    relative = [rule(condition="move", metric="volume_24h", lookback=60, threshold=0.5)]
    absolute = [
        rule(condition="move", metric="volume_24h", lookback=60, threshold=5, unit="absolute")
    ]
    assert run(relative, volumes((0, 0), (60, 10))) == []
    assert run(absolute, volumes((0, 0), (60, 10))) == [("ALERT", "r", "BTC", 60, 10)]
    # t10's None is not a reference: at t70 the latest value 60 s old or more is t0's 100
    # (70 s old): c = 20% > 10%: ALERT.
    rules = [rule(condition="move", metric="volume_24h", lookback=60, threshold=0.1)]
    assert run(rules, volumes((0, 100), (10, None), (70, 120))) == [("ALERT", "r", "BTC", 70, 120)]


# --- windows: ratio_above, deviation_above, zscore ----------------------------------------------


def test_ratio_above() -> None:
    # window 60 s, 2x, min_samples 2. t30: window [-30, 30) = {10}: n = 1 < 2, no decision.
    # t60 31: window [0, 60) = {10, 20} (t0 included), mean 15, 31 > 30: ALERT.
    # t90 40: window [30, 90) = {20, 31}, mean 25.5, 40 > 51 no: RESOLVED.
    rules = [rule(condition="ratio_above", window="1m", threshold=2, min_samples=2)]
    assert run(rules, prices((0, 10), (30, 20), (60, 31), (90, 40))) == [
        ("ALERT", "r", "BTC", 60, 31),
        ("RESOLVED", "r", "BTC", 90, 40),
    ]


def test_ratio_above_needs_a_positive_mean() -> None:
    rules = [rule(condition="ratio_above", metric="volume_24h", window=60, threshold=2)]
    assert run(rules, volumes((0, 0), (10, 0), (20, 5))) == []


def test_deviation_above_with_direction_and_min_samples() -> None:
    # window 60 s, 10%, min_samples 3.
    # t20 100: window {100, 100}: n = 2 < 3, no decision.
    # t30 89: window {100, 100, 100}, mean 100, d = -11%: down and either fire.
    # t40 100: window {100, 100, 100, 89}, mean 97.25, d = +2.8%: both resolve.
    # t50 120: window [-10, 50) = {100, 100, 100, 89, 100}, mean 97.8, d = 22.7%: up, either.
    rules = [
        rule(
            name,
            condition="deviation_above",
            window=60,
            threshold=0.1,
            min_samples=3,
            direction=name,
        )
        for name in ("up", "down", "either")
    ]
    ticks = prices((0, 100), (10, 100), (20, 100), (30, 89), (40, 100), (50, 120))
    assert run(rules, ticks) == [
        ("ALERT", "down", "BTC", 30, 89),
        ("ALERT", "either", "BTC", 30, 89),
        ("RESOLVED", "down", "BTC", 40, 100),
        ("RESOLVED", "either", "BTC", 40, 100),
        ("ALERT", "up", "BTC", 50, 120),
        ("ALERT", "either", "BTC", 50, 120),
    ]
    # with min_samples 1 (the default) t10 is judged: window {100}, d = 0: nothing, and t20
    # likewise; the events are the same
    default = [rule("either", condition="deviation_above", window=60, threshold=0.1)]
    assert run(default, ticks) == [e for e in run(rules, ticks) if e[1] == "either"]


def test_zscore_either_with_an_exact_boundary() -> None:
    # window 60 s, threshold 2 (default min_samples 2).
    # t10 12: window {10}: n = 1, no decision.
    # t20 14: window {10, 12}: mean 11, s^2 = 2/1, z = 3/sqrt(2) = 2.12 > 2: ALERT.
    # t30 16: window {10, 12, 14}: mean 12, s^2 = 8/2 = 4, z = 4/2 = 2 exactly, not > 2: RESOLVED.
    rules = [rule(condition="zscore", window=60, threshold=2)]
    assert run(rules, prices((0, 10), (10, 12), (20, 14), (30, 16))) == [
        ("ALERT", "r", "BTC", 20, 14),
        ("RESOLVED", "r", "BTC", 30, 16),
    ]
    # min_samples 3: at t20 n = 2 < 3; at t30 z = 2 is not > 2: nothing at all
    rules = [rule(condition="zscore", window=60, threshold=2, min_samples=3)]
    assert run(rules, prices((0, 10), (10, 12), (20, 14), (30, 16))) == []


def test_zscore_direction() -> None:
    # t20 9: window {14, 12}, mean 13, s = sqrt(2), z = -4/sqrt(2) = -2.83: down and either.
    rules = [
        rule(name, condition="zscore", window=60, threshold=2, direction=name)
        for name in ("up", "down", "either")
    ]
    assert run(rules, prices((0, 14), (10, 12), (20, 9))) == [
        ("ALERT", "down", "BTC", 20, 9),
        ("ALERT", "either", "BTC", 20, 9),
    ]


def test_zscore_zero_standard_deviation_decides_nothing() -> None:
    rules = [rule(condition="zscore", window=20, threshold=1)]
    # window {5, 5}: s = 0, no decision however far 100 is
    assert run(rules, prices((0, 5), (10, 5), (20, 100))) == []
    # t20 40: window [0, 20) = {10, 20}, mean 15, s^2 = 50, z = 25/7.07 = 3.5: ALERT.
    # t40, t50: window {40}: n = 1. t60, t70: window {40, 40}: s = 0. None of them decides,
    # so none resolves. t75 40: window [55, 75) = {40, 0}, mean 20, s^2 = 800,
    # z = 20/28.3 = 0.71, not > 1: RESOLVED.
    ticks = prices((0, 10), (10, 20), (20, 40), (40, 40), (50, 40), (60, 40), (70, 0), (75, 40))
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 20, 40),
        ("RESOLVED", "r", "BTC", 75, 40),
    ]


# --- volume_24h None ----------------------------------------------------------------------------


def test_volume_none_decides_nothing_and_is_not_in_windows() -> None:
    # ratio of volume_24h over 60 s, 2x, min_samples 2.
    # t20 30: window values {10} (t10's None not counted): n = 1, no decision.
    # t30 None: no decision. t40 41: window {10, 30}, mean 20, 41 > 40: ALERT.
    # t50 None: no decision (no RESOLVED). t60 10: window [0, 60) = {10, 30, 41}, mean 27,
    # 10 > 54 no: RESOLVED.
    rules = [
        rule(condition="ratio_above", metric="volume_24h", window=60, threshold=2, min_samples=2)
    ]
    ticks = volumes((0, 10), (10, None), (20, 30), (30, None), (40, 41), (50, None), (60, 10))
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 40, 41),
        ("RESOLVED", "r", "BTC", 60, 10),
    ]


def test_volume_none_does_not_resolve_a_level_rule() -> None:
    rules = [rule(condition="below", metric="volume_24h", threshold=5)]
    assert run(rules, volumes((0, 1), (10, None), (20, 6))) == [
        ("ALERT", "r", "BTC", 0, 1),
        ("RESOLVED", "r", "BTC", 20, 6),
    ]


def test_windows_count_ticks_of_every_source() -> None:
    # The spec's window is "the ticks of the same symbol": a rule limited to source "a" still
    # averages source "b"'s ticks. t10 (b) is not judged; at t20 the window is {10, 100},
    # mean 55, 120 > 2 x 55 = 110: ALERT.
    rules = [rule(condition="ratio_above", window=60, threshold=2, sources=["a"])]
    ticks = [tick(0, 10, source="a"), tick(10, 100, source="b"), tick(20, 120, source="a")]
    assert run(rules, ticks) == [("ALERT", "r", "BTC", 20, 120)]


# --- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (30, Fraction(30)),
        (0.5, Fraction(1, 2)),
        (0.1, Fraction(1, 10)),
        ("90s", Fraction(90)),
        ("5m", Fraction(300)),
        ("1.5h", Fraction(5400)),
        ("2d", Fraction(172800)),
    ],
)
def test_durations(text: object, seconds: Fraction) -> None:
    assert parse_duration(text, "d", zero_allowed=False) == seconds


@pytest.mark.parametrize("text", ["5", "-1s", "5 m", "5M", "1e3s", "", True, 0, "0s", -3])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="must be"):
        parse_duration(text, "d", zero_allowed=False)


def test_zero_durations_where_allowed() -> None:
    assert parse_duration(0, "for", zero_allowed=True) == 0
    assert parse_duration("0s", "repeat", zero_allowed=True) == 0


def test_interleaved_symbols_have_their_own_windows() -> None:
    # ratio over 60 s, 2x. BTC at 10: window {10 (BTC)}: 25 > 20: ALERT. ETH at 10: window
    # {1000 (ETH)}: 1500 > 2000 no. Mixed, BTC's window would hold 1000 too and not fire.
    rules = [rule(condition="ratio_above", window=60, threshold=2)]
    ticks = [
        tick(0, 10, symbol="BTC"),
        tick(0, 1000, symbol="ETH"),
        tick(10, 25, symbol="BTC"),
        tick(10, 1500, symbol="ETH"),
    ]
    assert run(rules, ticks) == [("ALERT", "r", "BTC", 10, 25)]


# --- surge (traded volume) ------------------------------------------------------------------------
#
# recent = v + volumes in (t - W, t); rest = volumes in (t - B, t - W], n of them; decided only
# with a tick of the symbol in [t - B - W, t - B], n >= min_samples and rest > 0;
# holds(x) = recent > x * rest * W / (B - W); the event's value is recent.


def surge(name: str = "r", /, **keys: Any) -> dict[str, Any]:
    return rule(name, condition="surge", **keys)


def merged_by_time(*streams: list[Tick]) -> list[Tick]:
    return sorted((t for s in streams for t in s), key=lambda t: (t.time, t.symbol))


def test_surge_windows_at_exact_multiples() -> None:
    # W 60, B 180: baseline = rest * 60 / 120 = rest / 2; x = 2: holds iff recent > rest.
    # t180 25: covered by t0 (exactly t - B). recent = 25 + (120, 180): nothing = 25 (t120 is
    # exactly t - W: in rest, not recent). rest = (0, 120] = 10 + 10 = 20 (t0's 50 is exactly
    # t - B: out). 25 > 20: ALERT, value 25. (With t0 in rest, 25 > 70 would not hold.)
    # t240 36: rest = (60, 240 - 60] = t120 10 + t180 25 = 35 (t60 out); 36 > 35: still firing
    # (with t60 in rest, 45, it would resolve). t300 61: rest = (120, 240] = 25 + 36 = 61
    # (t120 out); 61 > 61 no: RESOLVED, value 61.
    rules = [surge(window="1m", baseline="3m", threshold=2)]
    ticks = trades((0, 50), (60, 10), (120, 10), (180, 25), (240, 36), (300, 61))
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 180, 25),
        ("RESOLVED", "r", "BTC", 300, 61),
    ]


def test_surge_event_value_is_recent_not_the_ticks_volume() -> None:
    # W 60, B 180, x 2 (recent > rest). t179: the coverage span [-61, -1] holds no tick: no
    # decision (recent 110 against rest 20 would fire). t180 1: covered by t0; recent = 1 +
    # t179's 100 = 101 (t120 is exactly t - W: rest); rest = (0, 120] = 20: ALERT, value 101.
    rules = [surge(window=60, baseline=180, threshold=2)]
    ticks = trades((0, 10), (60, 10), (120, 10), (179, 100), (180, 1))
    assert run(rules, ticks) == [("ALERT", "r", "BTC", 180, 101)]


def test_surge_value_is_the_exact_sum_correctly_rounded() -> None:
    # W 60, B 120: baseline = rest; x 1. t120 1: rest = (0, 60] = t60's 1; recent = 1 + 1e16 + 1
    # exactly 1e16 + 2 (a double; summed in time order in floats it would be 1e16): ALERT.
    rules = [surge(window=60, baseline=120, threshold=1)]
    ticks = trades((0, 1), (60, 1), (100, 1e16), (110, 1), (120, 1))
    assert run(rules, ticks) == [("ALERT", "r", "BTC", 120, 1e16 + 2)]


def test_surge_coverage_needs_a_tick_a_whole_baseline_back() -> None:
    # W 60, B 180: the span [t - 240, t - 180]. t240 100: t0 is exactly t - B - W: covered.
    # rest = (60, 180] = t100's 10 (n = 1); baseline 5; recent = 100 > 10: ALERT.
    rules = [surge(window=60, baseline=180, threshold=2)]
    assert run(rules, trades((0, 10), (100, 10), (240, 100))) == [("ALERT", "r", "BTC", 240, 100)]
    # at 240.5 the span [0.5, 60.5] holds nothing (t0 too old, t100 too young): no decision
    assert run(rules, trades((0, 10), (100, 10), (240.5, 100))) == []
    # a tick with volume None covers: t0 None; at t180 rest = (0, 120] = 10 + 5 = 15 and
    # recent = 100: ALERT. Without t0 nothing covers [-60, 0].
    ticks = trades((0, None), (60, 10), (100, 5), (180, 100))
    assert run(rules, ticks) == [("ALERT", "r", "BTC", 180, 100)]
    assert run(rules, ticks[1:]) == []
    # another symbol's tick does not cover; an ignored tick (not newer) does not either
    assert run(rules, trades((0, None), symbol="ETH") + ticks[1:]) == []
    assert run(rules, [*trades((70, 1)), *ticks]) == []


def test_surge_min_samples_counts_only_volumes_in_the_rest() -> None:
    # W 60, B 180, x 2. t180 100: rest = (0, 120] = t60 10 + t100 5 (t120's None not counted):
    # n = 2. min_samples 2: ALERT; min_samples 3: no decision.
    ticks = trades((0, None), (60, 10), (100, 5), (120, None), (180, 100))
    two = [surge(window=60, baseline=180, threshold=2, min_samples=2)]
    three = [surge(window=60, baseline=180, threshold=2, min_samples=3)]
    assert run(two, ticks) == [("ALERT", "r", "BTC", 180, 100)]
    assert run(three, ticks) == []


def test_surge_rest_zero_decides_nothing() -> None:
    # W 60, B 120 (B = 2W: baseline = rest), x 2: holds iff recent > 2 rest.
    # t120 11: covered by t0; rest = (0, 60] = 5 + 0 = 5; recent 11 > 10: ALERT.
    # t150 None: no decision. t170 1000: rest = (50, 110] = t60's 0: rest 0, no decision (not
    # resolved). t180 0: rest = (60, 120] = 11; recent = 0 + 1000 (t150 None): firing.
    # t240 0: rest = (120, 180] = 1000 + 0 = 1000; recent = 0: RESOLVED, value 0.
    rules = [surge(window=60, baseline=120, threshold=2)]
    ticks = trades((0, 0), (30, 5), (60, 0), (120, 11), (150, None), (170, 1000), (180, 0))
    assert run(rules, [*ticks, *trades((240, 0))]) == [
        ("ALERT", "r", "BTC", 120, 11),
        ("RESOLVED", "r", "BTC", 240, 0),
    ]
    # all zero before: rest 0 at every tick, however large the surge
    assert run(rules, trades((0, 0), (30, 0), (60, 0), (120, 1e9), (200, 1e9))) == []


def test_surge_recover_hysteresis_and_a_ratio_baseline() -> None:
    # W 60, B 240: baseline = rest * 60 / 180 = rest / 3. Ticks every 60 s: recent = v,
    # rest = the three previous volumes. x 3, recover 2.
    # t240 31: rest = 10 + 10 + 10 = 30 (t0 out), baseline 10: 31 > 30: ALERT.
    # t300 35: rest = 10 + 10 + 31 = 51, baseline 17: 35 > 2 x 17 = 34: still firing (without
    # recover, 35 > 51 fails: RESOLVED). t360 50: rest = 10 + 31 + 35 = 76, baseline 76/3:
    # 50 > 152/3 = 50.67 no: RESOLVED.
    ticks = trades((0, 10), (60, 10), (120, 10), (180, 10), (240, 31), (300, 35), (360, 50))
    hysteresis = [surge(window=60, baseline=240, threshold=3, recover=2)]
    assert run(hysteresis, ticks) == [
        ("ALERT", "r", "BTC", 240, 31),
        ("RESOLVED", "r", "BTC", 360, 50),
    ]
    plain = [surge(window=60, baseline=240, threshold=3)]
    assert run(plain, ticks) == [
        ("ALERT", "r", "BTC", 240, 31),
        ("RESOLVED", "r", "BTC", 300, 35),
    ]


def test_surge_on_replayed_bars_reads_only_the_close_ticks_volume() -> None:
    # barfiles: a bar's ticks at +0, +15, +30 s (volume None) and +45 s (the bar's volume).
    # W 2m, B 4m (baseline = rest), x 1. At bar m's close t = 60m + 45: recent = V(m) + V(m-1)
    # (bar m-2's close is exactly t - W: rest); rest = V(m-2) + V(m-3) (bar m-4's close is
    # exactly t - B: out); covered from m = 4 ([t - 360, t - 240] reaches bar 0's ticks).
    # V = 1, 2, 3, 4, 1, 9, 1, 1. m3: not covered (7 > 3 unjudged). m4: 5 > 5 no.
    # m5: 10 > 7: ALERT, value 10 (not the tick's 9). m6: 10 > 5: firing. m7: 2 > 10 no:
    # RESOLVED, value 2.
    volumes = [1, 2, 3, 4, 1, 9, 1, 1]
    bars = [barfiles.Bar(at(60 * m), 1.0, 1.0, 1.0, 1.0, float(v)) for m, v in enumerate(volumes)]
    ticks = list(barfiles.ticks(bars, "BTC"))
    assert [t.volume for t in ticks[:4]] == [None, None, None, 1.0]
    rules = [surge(window="2m", baseline="4m", threshold=1)]
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 345, 10),
        ("RESOLVED", "r", "BTC", 465, 2),
    ]


def test_surge_modifiers_and_thresholds_per_symbol() -> None:
    # for 60 s on the stream of test_surge_recover_hysteresis_and_a_ratio_baseline, but x 1:
    # t240 31 > 10: pending since 240; t300 35 > 17: 60 s: ALERT; t360 50 > 76/3: firing.
    # ETH's own threshold 4 (t240: 31 > 40 no) and BTC's 1 only apply to their symbol.
    btc = trades((0, 10), (60, 10), (120, 10), (180, 10), (240, 31), (300, 35), (360, 50))
    eth = trades((0, 10), (60, 10), (120, 10), (180, 10), (240, 31), symbol="ETH")
    rules = [surge(window=60, baseline=240, threshold=1, thresholds={"ETH": 4}, **{"for": 60})]
    assert run(rules, merged_by_time(btc, eth)) == [("ALERT", "r", "BTC", 300, 35)]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"baseline": 120}, "window is required"),
        ({"window": 60}, "baseline is required"),
        ({"window": 60, "baseline": 119.999999}, "at least 2 x window"),
        ({"window": "1m", "baseline": "119s"}, "at least 2 x window"),
        ({"window": 60, "baseline": 120, "metric": "price"}, "refused for surge"),
        ({"window": 60, "baseline": 120, "metric": "volume_24h"}, "refused for surge"),
        ({"window": 60, "baseline": 120, "direction": "either"}, "refused for surge"),
        ({"window": 60, "baseline": 120, "unit": "relative"}, "refused for surge"),
        ({"window": 60, "baseline": 120, "lookback": 60}, "lookback is required for, and only"),
        ({"window": 60, "baseline": 120, "recover": 3}, "clearing side"),
        ({"window": 60, "baseline": 120, "recover": 0}, "clearing side"),
        ({"window": 60, "baseline": 120, "recover": 4}, "clearing side"),
        ({"window": 60, "baseline": 120, "recover_thresholds": {"BTC": -1}}, "clearing side"),
        ({"window": 60, "baseline": 0}, "must be > 0"),
        ({"window": 60, "baseline": 120, "min_samples": 0}, "min_samples"),
    ],
)
def test_surge_keys_refused(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run([surge(threshold=3, **keys)], [])


def test_surge_threshold_must_be_positive_and_baseline_only_for_surge() -> None:
    with pytest.raises(ValueError, match="thresholds must be > 0"):
        run([surge(window=60, baseline=120, threshold=0)], [])
    with pytest.raises(ValueError, match="baseline is required for, and only for, surge"):
        run([rule(condition="ratio_above", window=60, baseline=120, threshold=2)], [])
    with pytest.raises(ValueError, match="baseline is required for, and only for, surge"):
        run([rule(condition="above", threshold=2, baseline=120)], [])
    # B = 2W exactly is accepted, and recover 0 < y < x
    assert run([surge(window=60, baseline=120, threshold=3, recover=2.999)], []) == []


def test_surge_ignores_metric_values_and_other_rules_ignore_traded_volume() -> None:
    # volume_24h / price do not feed a surge: ticks with volume None decide nothing; and a
    # volume_24h rule does not read Tick.volume (volume_24h None: nothing).
    ticks = [Tick(at(s), "BTC", 100.0 * (s + 1), 1e6 * (s + 1), "test") for s in range(0, 400, 60)]
    assert run([surge(window=60, baseline=120, threshold=1)], ticks) == []
    level = [rule(condition="above", metric="volume_24h", threshold=0)]
    assert run(level, trades((0, 5), (60, 50))) == []


# --- inside / outside: a band of two levels ----------------------------------------------------


def test_outside_a_band_up_down_either() -> None:
    # band [90, 110]. t1 111 > 110: up, either fire. t2 105: inside: both resolve. t3 89 < 90:
    # down, either fire. t4 90 is not < 90: both resolve. t5 110 is not > 110: nothing.
    rules = [
        rule(name, condition="outside", band=[90, 110], direction=name)
        for name in ("up", "down", "either")
    ]
    assert run(rules, prices((0, 100), (1, 111), (2, 105), (3, 89), (4, 90), (5, 110))) == [
        ("ALERT", "up", "BTC", 1, 111),
        ("ALERT", "either", "BTC", 1, 111),
        ("RESOLVED", "up", "BTC", 2, 105),
        ("RESOLVED", "either", "BTC", 2, 105),
        ("ALERT", "down", "BTC", 3, 89),
        ("ALERT", "either", "BTC", 3, 89),
        ("RESOLVED", "down", "BTC", 4, 90),
        ("RESOLVED", "either", "BTC", 4, 90),
    ]


def test_outside_clears_inside_its_recover_band() -> None:
    # band [90, 110], recover_band [95, 105]: t1 111 ALERT; t2 106 is outside [95, 105]: still
    # firing; t3 105 is inside it: RESOLVED; t4 112 ALERT; t5 94 < 95: firing; t6 95: RESOLVED.
    rules = [rule(condition="outside", band=[90, 110], recover_band=[95, 105])]
    ticks = prices((0, 100), (1, 111), (2, 106), (3, 105), (4, 112), (5, 94), (6, 95))
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 1, 111),
        ("RESOLVED", "r", "BTC", 3, 105),
        ("ALERT", "r", "BTC", 4, 112),
        ("RESOLVED", "r", "BTC", 6, 95),
    ]


def test_inside_a_band_with_and_without_a_recover_band() -> None:
    # inside [90, 110] (both ends included), recover_band [80, 120]: t0 120 no; t1 110 ALERT;
    # t2 115 and t3 120 are within [80, 120]: firing; t4 121: RESOLVED; t5 90 ALERT;
    # t6 79.5: RESOLVED. Without the recover band t2 115 already resolves.
    ticks = prices((0, 120), (1, 110), (2, 115), (3, 120), (4, 121), (5, 90), (6, 79.5))
    wide = [rule(condition="inside", band=[90, 110], recover_band=[80, 120])]
    assert run(wide, ticks) == [
        ("ALERT", "r", "BTC", 1, 110),
        ("RESOLVED", "r", "BTC", 4, 121),
        ("ALERT", "r", "BTC", 5, 90),
        ("RESOLVED", "r", "BTC", 6, 79.5),
    ]
    plain = [rule(condition="inside", band=[90, 110])]
    assert run(plain, ticks) == [
        ("ALERT", "r", "BTC", 1, 110),
        ("RESOLVED", "r", "BTC", 2, 115),
        ("ALERT", "r", "BTC", 5, 90),
        ("RESOLVED", "r", "BTC", 6, 79.5),
    ]


def test_a_band_on_volume_decides_only_with_a_value_and_for_every_symbol() -> None:
    # outside [10, 20] of volume_24h: t0 25 ALERT; t10 None decides nothing; t20 15 RESOLVED.
    # No threshold: every symbol is judged (ETH's 5 < 10 fires).
    rules = [rule(condition="outside", metric="volume_24h", band=[10, 20])]
    ticks = [*volumes((0, 25), (10, None), (20, 15)), tick(30, 1.0, 5.0, symbol="ETH")]
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 0, 25),
        ("RESOLVED", "r", "BTC", 20, 15),
        ("ALERT", "r", "ETH", 30, 5),
    ]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"threshold": 1}, "refused for outside"),
        ({"thresholds": {"BTC": 1}}, "refused for outside"),
        ({"recover": 1}, "refused for outside"),
        ({"recover_thresholds": {"BTC": 1}}, "refused for outside"),
        ({"window": 60}, "refused for outside"),
        ({"lookback": 60}, "refused for outside"),
        ({"unit": "relative"}, "refused for outside"),
        ({"min_samples": 2}, "refused for outside"),
        ({"baseline": 120}, "refused for outside"),
        ({"interval": "1m"}, "refused for outside"),
        ({"of": ["a", "b"]}, "refused for outside"),
        ({"band": [1]}, r"must be \[low, high\]"),
        ({"band": 5}, r"must be \[low, high\]"),
        ({"band": [2, 1]}, "low < high"),
        ({"band": [1, 1]}, "low < high"),
        ({"band": [1, "2"]}, "must be a number"),
        ({"band": [1, float("inf")]}, "must be finite"),
        ({"recover_band": [85, 105]}, "within its band"),
        ({"recover_band": [95, 111]}, "within its band"),
        ({"recover_band": [100, 100]}, "low < high"),
        ({"direction": "sideways"}, "direction must be one of"),
    ],
)
def test_outside_band_keys_refused(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run([rule(condition="outside", **{"band": [90, 110], **keys})], [])


def test_inside_refuses_direction_and_a_recover_band_inside_its_band() -> None:
    with pytest.raises(ValueError, match="refused for inside"):
        run([rule(condition="inside", band=[90, 110], direction="either")], [])
    with pytest.raises(ValueError, match="must contain its band"):
        run([rule(condition="inside", band=[90, 110], recover_band=[95, 120])], [])
    with pytest.raises(ValueError, match="refused for inside"):
        run([rule(condition="inside", recover_band=[80, 120], window=60, threshold=1)], [])
    # the band itself as the recover band is accepted, for both
    assert run([rule(condition="inside", band=[1, 2], recover_band=[1, 2])], []) == []
    assert run([rule(condition="outside", band=[1, 2], recover_band=[1, 2])], []) == []


# --- inside / outside: Bollinger's band ---------------------------------------------------------


def test_bollinger_outside_up_down_either() -> None:
    # window 60 s, k = 1: m and s (sample) of the window.
    # t10 12: window {10}: n = 1 < 2 (min_samples 1 counts as 2): no decision.
    # t20 14: {10, 12}: m 11, s^2 = 2, s = 1.41; 14 - 11 = 3 > 1.41: up, either fire.
    # t30 11: {10, 12, 14}: m 12, s = 2; |11 - 12| = 1 <= 2: up, either resolve.
    # t40 5: {10, 12, 14, 11}: m 11.75, s^2 = 8.75 / 3, s = 1.71; 5 - 11.75 = -6.75: down,
    # either fire.
    rules = [
        rule(name, condition="outside", window=60, threshold=1, direction=name)
        for name in ("up", "down", "either")
    ]
    assert run(rules, prices((0, 10), (10, 12), (20, 14), (30, 11), (40, 5))) == [
        ("ALERT", "up", "BTC", 20, 14),
        ("ALERT", "either", "BTC", 20, 14),
        ("RESOLVED", "up", "BTC", 30, 11),
        ("RESOLVED", "either", "BTC", 30, 11),
        ("ALERT", "down", "BTC", 40, 5),
        ("ALERT", "either", "BTC", 40, 5),
    ]


def test_bollinger_edges_are_exact() -> None:
    # window {9, 11, 13}: m 11, s = 2. k = 1: outside iff |v - 11| > 2. v = 13 is on the edge
    # (not outside, and inside); v = 13.000001 is outside, not inside.
    outside = [rule(condition="outside", window=60, threshold=1)]
    inside = [rule(condition="inside", window=60, threshold=1)]
    edge = prices((0, 9), (10, 11), (20, 13), (30, 13))
    beyond = prices((0, 9), (10, 11), (20, 13), (30, 13.000001))
    # t20 13: window {9, 11}: m 10, s = 1.41, |3| > 1.41: outside (ALERT), not inside
    assert run(outside, edge) == [
        ("ALERT", "r", "BTC", 20, 13),
        ("RESOLVED", "r", "BTC", 30, 13),
    ]
    assert run(outside, beyond) == [("ALERT", "r", "BTC", 20, 13)]
    assert run(inside, edge) == [("ALERT", "r", "BTC", 30, 13)]
    assert run(inside, beyond) == []


def test_bollinger_inside_with_a_wider_recover() -> None:
    # inside, window 60 s, k 1, recover 2.
    # t10: n = 1: nothing. t20 13: {9, 11}: m 10, s = 1.41: |3| > 1.41: not inside.
    # t30 12: {9, 11, 13}: m 11, s = 2: |1| <= 2: ALERT.
    # t40 14: {9, 11, 13, 12}: m 11.25, s^2 = 8.75 / 3, s = 1.71: |2.75| <= 2 s = 3.42: still
    # firing (without recover, 2.75 > 1.71: RESOLVED).
    # t50 16: {9, 11, 13, 12, 14}: m 11.8, s^2 = 14.8 / 4 = 3.7, s = 1.92: |4.2| > 3.85: RESOLVED.
    ticks = prices((0, 9), (10, 11), (20, 13), (30, 12), (40, 14), (50, 16))
    wide = [rule(condition="inside", window=60, threshold=1, recover=2)]
    assert run(wide, ticks) == [
        ("ALERT", "r", "BTC", 30, 12),
        ("RESOLVED", "r", "BTC", 50, 16),
    ]
    plain = [rule(condition="inside", window=60, threshold=1)]
    assert run(plain, ticks) == [
        ("ALERT", "r", "BTC", 30, 12),
        ("RESOLVED", "r", "BTC", 40, 14),
    ]


def test_bollinger_needs_two_values_min_samples_and_a_spread() -> None:
    # constant prices: s = 0, no decision (inside would otherwise hold: |0| <= 0)
    assert run([rule(condition="inside", window=60, threshold=1)], prices((0, 5), (10, 5))) == []
    assert run([rule(condition="inside", window=60, threshold=1)], prices((0, 5), (10, 6))) == []
    # min_samples 3: t20 50 with window {10, 12} (s = 1.41, |39| > 1.41) decides nothing;
    # t30 50: {10, 12, 50}: m 24, s^2 = (196 + 144 + 676) / 2 = 508, s = 22.5: |26| > 22.5: ALERT
    rules = [rule(condition="outside", window=60, threshold=1, min_samples=3)]
    assert run(rules, prices((0, 10), (10, 12), (20, 50), (30, 50))) == [
        ("ALERT", "r", "BTC", 30, 50)
    ]


def test_bollinger_thresholds_per_symbol() -> None:
    # k 1, ETH's own k 3: the same ticks ({10, 12} then 14: |3| > 1.41 but not > 4.24)
    rules = [rule(condition="outside", window=60, threshold=1, thresholds={"ETH": 3})]
    ticks = merged_by_time(
        prices((0, 10), (10, 12), (20, 14)), prices((0, 10), (10, 12), (20, 14), symbol="ETH")
    )
    assert run(rules, ticks) == [("ALERT", "r", "BTC", 20, 14)]


@pytest.mark.parametrize(
    ("condition", "keys", "message"),
    [
        ("outside", {"threshold": 1}, "needs a band, or a window"),
        ("outside", {"window": 60}, "threshold .or thresholds. is required"),
        ("outside", {"window": 60, "threshold": 0}, "thresholds must be > 0"),
        ("outside", {"window": 60, "threshold": 2, "recover": 2}, "clearing side"),
        ("outside", {"window": 60, "threshold": 2, "recover": 0}, "clearing side"),
        ("outside", {"window": 60, "threshold": 2, "recover": 3}, "clearing side"),
        ("inside", {"window": 60, "threshold": 2, "recover": 2}, "clearing side"),
        ("inside", {"window": 60, "threshold": 2, "recover": 1}, "clearing side"),
        ("inside", {"window": 60, "threshold": 2, "direction": "up"}, "refused for inside"),
        ("outside", {"window": 60, "threshold": 2, "lookback": 60}, "refused for outside"),
        ("outside", {"window": 60, "threshold": 2, "unit": "absolute"}, "refused for outside"),
        ("outside", {"window": 60, "threshold": 2, "recover_band": [1, 2]}, "refused"),
        ("outside", {"window": 60, "threshold": 2, "interval": "1m"}, "refused for outside"),
        ("outside", {"window": 60, "threshold": 2, "metric": "sma:5"}, "metric must be one of"),
        ("outside", {"window": 60, "threshold": 2, "min_samples": 0}, "min_samples"),
    ],
)
def test_bollinger_keys_refused(condition: str, keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run([rule(condition=condition, **keys)], [])


# --- indicators on closed candles ---------------------------------------------------------------
#
# T0 is midnight UTC, so the buckets of an interval I are [T0 + k I, T0 + (k + 1) I). A candle
# closes at the first later tick of a later bucket; the rule decides then, at b + I.


def candle(name: str = "r", /, **keys: Any) -> dict[str, Any]:
    """A rule on candles of 1 minute (unless `interval` says otherwise)."""
    return rule(name, **{"interval": "1m", **keys})


def test_a_candle_closes_at_the_first_tick_of_a_later_bucket() -> None:
    # sma:1 = the close, above 100. t30 closes nothing (same bucket); t60 closes bucket 0 with
    # t30's 99: no. t400 (after a gap) closes bucket 60 only, close 101 (t90's): ALERT at 120,
    # not 400. t420 closes bucket 360 (close 50): RESOLVED at 420. t419 (not newer) is ignored:
    # t480 closes bucket 420 with t420's 50, not 200: nothing.
    rules = [candle(condition="above", metric="sma:1", threshold=100)]
    ticks = prices((0, 101), (30, 99), (60, 102), (90, 101), (400, 50), (420, 50), (419, 200))
    assert run(rules, [*ticks, *prices((480, 1))]) == [
        ("ALERT", "r", "BTC", 120, 101),
        ("RESOLVED", "r", "BTC", 420, 50),
    ]


def test_each_symbol_has_its_own_candles_and_the_close_is_always_the_price() -> None:
    # metric sma:1 reads prices, not volume_24h (1000 here). BTC's bucket 0 closes at BTC's
    # t60 with close 101 (ETH's t30 at 1 neither closes nor changes it): ALERT at 60. ETH's
    # bucket 0 never closes (no later ETH tick): nothing for ETH.
    rules = [candle(condition="above", metric="sma:1", threshold=100)]
    ticks = [tick(0, 101), tick(30, 1, symbol="ETH"), tick(60, 1)]
    assert run(rules, ticks) == [("ALERT", "r", "BTC", 60, 101)]


def test_sma_needs_n_closes() -> None:
    # sma:3 above 10, one tick a minute: each tick closes the previous minute.
    # t60 [9], t120 [9, 12]: none. t180 [9, 12, 15]: 12 > 10: ALERT at 180.
    # t240 [12, 15, 3]: 10, not > 10: RESOLVED. t300 [15, 3, 3]: 7.
    rules = [candle(condition="above", metric="sma:3", threshold=10)]
    ticks = prices((0, 9), (60, 12), (120, 15), (180, 3), (240, 3), (300, 0))
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 180, 12),
        ("RESOLVED", "r", "BTC", 240, 10),
    ]


def test_ema_is_seeded_by_the_sma_of_the_first_closes() -> None:
    # ema:2, alpha 2/3, above 20. closes 10, 20: seed (10 + 20) / 2 = 15 (at 120): no.
    # 40: 2/3 40 + 1/3 15 = 95/3 = 31.7: ALERT at 180. 10: 2/3 10 + 1/3 95/3 = 155/9 = 17.2:
    # RESOLVED at 240. (Seeded by the first close instead: 50/3, then 85/9 + 80/3 = 35.2.)
    rules = [candle(condition="above", metric="ema:2", threshold=20)]
    ticks = prices((0, 10), (60, 20), (120, 40), (180, 10), (240, 0))
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 180, pytest.approx(95 / 3, rel=1e-12)),
        ("RESOLVED", "r", "BTC", 240, pytest.approx(155 / 9, rel=1e-12)),
    ]


def test_rsi_with_rma_smoothing() -> None:
    # rsi:2 above 80. closes 10, 12, 11, 14, 14, 13: changes +2, -1, +3, 0, -1.
    # at 180 (two changes): gain (2 + 0) / 2 = 1, loss (0 + 1) / 2 = 0.5: rsi 100 - 100/3 = 66.7.
    # at 240 (+3): gain 3/2 + 1/2 = 2, loss 0.25: rs 8, rsi 800/9 = 88.9: ALERT.
    # at 300 (0): gain 1, loss 0.125: 800/9 again: firing.
    # at 360 (-1): gain 0.5, loss 0.5 + 0.0625 = 0.5625: rs 8/9, rsi 800/17 = 47.1: RESOLVED.
    rules = [candle(condition="above", metric="rsi:2", threshold=80)]
    ticks = prices((0, 10), (60, 12), (120, 11), (180, 14), (240, 14), (300, 13), (360, 13))
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 240, pytest.approx(800 / 9, rel=1e-12)),
        ("RESOLVED", "r", "BTC", 360, pytest.approx(800 / 17, rel=1e-12)),
    ]


def test_rsi_without_losses_is_100_and_without_any_change_decides_nothing() -> None:
    # rising closes 1, 2, 3: gain 1, loss 0: 100 at 180: ALERT (above 99).
    rising = [candle(condition="above", metric="rsi:2", threshold=99)]
    assert run(rising, prices((0, 1), (60, 2), (120, 3), (180, 3))) == [
        ("ALERT", "r", "BTC", 180, 100)
    ]
    # flat closes: gain 0 and loss 0: no RSI, no decision (neither 100 nor 0: "above 50" and
    # "below 50" never fire)
    flat = prices((0, 5), (60, 5), (120, 5), (180, 5), (240, 5))
    for condition in ("above", "below"):
        assert run([candle(condition=condition, metric="rsi:2", threshold=50)], flat) == []


def test_candle_rules_use_the_candles_close_time_for_for_and_expires() -> None:
    # Ticks 10 s into each minute; decisions at 60 (t70), 120 (t130), 180 (t190).
    ticks = prices((10, 101), (70, 101), (130, 101), (190, 101))
    # for 60 s: pending since 60, ALERT at 120 (60 s later; the tick is t130)
    held = [candle(condition="above", metric="sma:1", threshold=100, **{"for": 60})]
    assert run(held, ticks) == [("ALERT", "r", "BTC", 120, 101)]
    # expires at 65 s: the decision at 60 is before it (although its tick t70 is after)
    expires = tomllib.loads("e = 2026-01-01T00:01:05Z")["e"]
    expiring = [candle(condition="above", metric="sma:1", threshold=100, expires=expires)]
    assert run(expiring, ticks[:2]) == [("ALERT", "r", "BTC", 60, 101)]


def test_indicator_levels_below_with_recover_and_thresholds_per_symbol() -> None:
    # sma:1 below 10, recover 12; ETH's own level 2 (never below). closes 11, 9, 11, 12.
    # at 120 (close 9): ALERT; at 180 (11 < 12): firing; at 240 (12): RESOLVED.
    rules = [
        candle(condition="below", metric="sma:1", threshold=10, recover=12, thresholds={"ETH": 2})
    ]
    btc = prices((0, 11), (60, 9), (120, 11), (180, 12), (240, 0))
    eth = prices((0, 11), (60, 9), (120, 11), symbol="ETH")
    assert run(rules, merged_by_time(btc, eth)) == [
        ("ALERT", "r", "BTC", 120, 9),
        ("RESOLVED", "r", "BTC", 240, 12),
    ]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"interval": None}, r"\['interval'\] are required"),
        ({"window": 60}, "refused for above"),
        ({"lookback": 60}, "refused for above"),
        ({"unit": "relative"}, "refused for above"),
        ({"min_samples": 3}, "refused for above"),
        ({"baseline": 120}, "refused for above"),
        ({"band": [1, 2]}, "refused for above"),
        ({"direction": "up"}, "refused for above"),
        ({"fast": "close"}, "refused for above"),
        ({"metric": "sma:0"}, "metric must be"),
        ({"metric": "sma:x"}, "metric must be"),
        ({"metric": "rsi:1"}, "rsi:N needs N >= 2"),
        ({"metric": "ema:05"}, "metric must be"),
        ({"interval": "90s"}, "whole minutes dividing a day"),
        ({"interval": "7m"}, "whole minutes dividing a day"),
        ({"interval": "2d"}, "whole minutes dividing a day"),
        ({"interval": 0}, "must be > 0"),
        ({"interval": "soon"}, "must be like"),
        ({"threshold": None}, "threshold .or thresholds. is required"),
        ({"recover": 75}, "clearing side"),
    ],
)
def test_indicator_level_keys_refused(keys: dict[str, Any], message: str) -> None:
    table = {"condition": "above", "metric": "rsi:14", "interval": "5m", "threshold": 70, **keys}
    with pytest.raises(ValueError, match=message):
        run([rule(**{k: v for k, v in table.items() if v is not None})], [])


def test_intervals_accepted_and_interval_only_on_candles() -> None:
    for interval in ("1m", "15m", "1h", "1d", 120, "0.5h"):
        accepted = [candle(condition="above", metric="sma:2", threshold=1, interval=interval)]
        assert run(accepted, []) == []
    with pytest.raises(ValueError, match="refused for above"):
        run([rule(condition="above", threshold=1, interval="1m")], [])
    # "close" is no metric of a level (only a cross's fast line): read as a plain level's
    with pytest.raises(ValueError, match="refused for above"):
        run([rule(condition="above", threshold=1, metric="close", interval="1m")], [])


# --- cross --------------------------------------------------------------------------------------


def test_cross_up_with_a_margin_and_recover() -> None:
    # fast = the close, slow = sma:2, up, margin 0.1, recover 0. closes 10, 10, 13, 14, 14.
    # at 60: sma:2 none. at 120: F 10, S 10: 0 > 1 no. at 180: F 13, S 11.5: 1.5 > 1.15: ALERT,
    # value 13. at 240: F 14, S 13.5: 0.5 > 0 (recover): firing (0.5 > 1.35 would not hold).
    # at 300: F 14, S 14: 0 > 0 no: RESOLVED, value 14.
    ticks = prices((0, 10), (60, 10), (120, 13), (180, 14), (240, 14), (300, 14))
    keys = {"fast": "close", "slow": "sma:2", "direction": "up", "threshold": 0.1}
    assert run([candle(condition="cross", recover=0, **keys)], ticks) == [
        ("ALERT", "r", "BTC", 180, 13),
        ("RESOLVED", "r", "BTC", 300, 14),
    ]
    assert run([candle(condition="cross", **keys)], ticks) == [
        ("ALERT", "r", "BTC", 180, 13),
        ("RESOLVED", "r", "BTC", 240, 14),
    ]


def test_cross_down_of_an_ema_with_the_default_margin() -> None:
    # fast close, slow ema:2 (as in test_ema_is_seeded_by_the_sma_of_the_first_closes):
    # at 120: S 15, F 20; at 180: S 95/3, F 40: no. at 240: S 155/9 = 17.2, F 10: 7.2 > 0:
    # ALERT, value 10. at 300: S 2/3 30 + 1/3 155/9 = 25.7, F 30: RESOLVED, value 30.
    rules = [candle(condition="cross", fast="close", slow="ema:2", direction="down")]
    ticks = prices((0, 10), (60, 20), (120, 40), (180, 10), (240, 30), (300, 0))
    assert run(rules, ticks) == [
        ("ALERT", "r", "BTC", 240, 10),
        ("RESOLVED", "r", "BTC", 300, 30),
    ]


def test_cross_of_two_averages_and_no_decision_without_a_positive_slow_line() -> None:
    # fast sma:1, slow sma:2, up. Closes 12, 10, 13: at 10, F 10 < S 11 (quiet); at 13, F 13 >
    # S 11.5 and the candle before did not hold: a cross, ALERT at 180, value 13 (the fast line).
    rules = [candle(condition="cross", fast="sma:1", slow="sma:2", direction="up")]
    got = run(rules, prices((0, 12), (60, 10), (120, 13), (180, 0)))
    assert got == [("ALERT", "r", "BTC", 180, 13)]
    # Closes 10, 12, 14: it holds from the first decision (12 > 11), but the candle before had
    # no slow line, and then it held already: no cross, no ALERT.
    assert run(rules, prices((0, 10), (60, 12), (120, 14), (180, 0))) == []
    # closes -2, 0: S = -1 <= 0: no decision (F - S = 1 > 0 would hold)
    assert run(rules, prices((0, -2), (60, 0), (120, 0))) == []


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"direction": None}, r"\['direction'\] are required"),
        ({"direction": "either"}, "direction must be one of"),
        ({"fast": None}, r"\['fast'\] are required"),
        ({"slow": None}, r"\['slow'\] are required"),
        ({"interval": None}, r"\['interval'\] are required"),
        ({"metric": "price"}, "refused for cross"),
        ({"thresholds": {"BTC": 0.1}}, "refused for cross"),
        ({"recover_thresholds": {"BTC": 0}}, "refused for cross"),
        ({"window": 60}, "refused for cross"),
        ({"min_samples": 2}, "refused for cross"),
        ({"band": [1, 2]}, "refused for cross"),
        ({"of": ["a", "b"]}, "refused for cross"),
        ({"fast": "rsi:14"}, "fast must be close or sma:N or ema:N"),
        ({"slow": "close"}, "slow must be sma:N or ema:N"),
        ({"threshold": 1}, r"must be in \[0, 1\)"),
        ({"threshold": -0.01}, r"must be in \[0, 1\)"),
        ({"threshold": 0.1, "recover": 0.1}, "clearing side"),
        ({"recover": 0}, "clearing side"),
        ({"recover": -1}, "clearing side"),
        ({"interval": "45s"}, "whole minutes dividing a day"),
    ],
)
def test_cross_keys_refused(keys: dict[str, Any], message: str) -> None:
    table = {"fast": "ema:9", "slow": "ema:21", "direction": "up", "interval": "1m", **keys}
    with pytest.raises(ValueError, match=message):
        run([rule(condition="cross", **{k: v for k, v in table.items() if v is not None})], [])


def test_cross_margins_accepted() -> None:
    keys = {"fast": "ema:9", "slow": "sma:21", "direction": "down"}
    assert run([candle(condition="cross", threshold=0, recover=-0.999, **keys)], []) == []
    assert run([candle(condition="cross", threshold=0.999, recover=0.5, **keys)], []) == []


# --- combinations: all / any --------------------------------------------------------------------


def test_all_and_any_count_the_members_firing() -> None:
    # a: above 100, b: above 200.
    # t0 150: a fires; all: 1 of 2 no; any: 1: ALERT (value 1).
    # t1 250: b fires (a firing); all: 2: ALERT (value 2); any: still firing.
    # t2 150: b resolves; all: 1: RESOLVED (value 1); any: firing.
    # t3 50: a resolves; any: 0: RESOLVED (value 0).
    rules = [
        rule("a", condition="above", threshold=100),
        rule("b", condition="above", threshold=200),
        rule("both", condition="all", of=["a", "b"]),
        rule("either", condition="any", of=["a", "b"]),
    ]
    assert run(rules, prices((0, 150), (1, 250), (2, 150), (3, 50))) == [
        ("ALERT", "a", "BTC", 0, 150),
        ("ALERT", "either", "BTC", 0, 1),
        ("ALERT", "b", "BTC", 1, 250),
        ("ALERT", "both", "BTC", 1, 2),
        ("RESOLVED", "b", "BTC", 2, 150),
        ("RESOLVED", "both", "BTC", 2, 1),
        ("RESOLVED", "a", "BTC", 3, 50),
        ("RESOLVED", "either", "BTC", 3, 0),
    ]


def test_a_combination_comes_after_its_members_otherwise_file_order() -> None:
    # file order: outer (any of inner, x), inner (all of a, b), a, b, x. Evaluation order: each
    # time the first rule of the file whose members are all placed: a, b, inner, x, outer.
    # One tick at 300: a (> 100), b (> 200), x (> 250) fire, then inner (2), outer (2).
    rules = [
        rule("outer", condition="any", of=["inner", "x"]),
        rule("inner", condition="all", of=["a", "b"]),
        rule("a", condition="above", threshold=100),
        rule("b", condition="above", threshold=200),
        rule("x", condition="above", threshold=250),
    ]
    assert run(rules, prices((0, 300))) == [
        ("ALERT", "a", "BTC", 0, 300),
        ("ALERT", "b", "BTC", 0, 300),
        ("ALERT", "inner", "BTC", 0, 2),
        ("ALERT", "x", "BTC", 0, 300),
        ("ALERT", "outer", "BTC", 0, 2),
    ]
    # a combination first, members after it with another rule between: x, b, a, both
    rules = [
        rule("both", condition="all", of=["a", "b"]),
        rule("x", condition="above", threshold=0),
        rule("b", condition="above", threshold=0),
        rule("a", condition="above", threshold=0),
    ]
    assert [name for _, name, *_ in run(rules, prices((0, 1)))] == ["x", "b", "a", "both"]


def test_a_combination_reads_its_members_states_and_has_its_own_modifiers() -> None:
    # a: price above 100; v: volume_24h above 5; both: all of them, for 10 s.
    # t0 (101, 10): a and v fire; both: 2, pending since 0. t5 (101, None): v decides nothing
    # and stays firing; both: 2, 5 s. t10: 10 s: ALERT (value 2). t20 99: a resolves; both: 1:
    # RESOLVED (value 1).
    rules = [
        rule("a", condition="above", threshold=100),
        rule("v", condition="above", metric="volume_24h", threshold=5),
        rule("both", condition="all", of=["a", "v"], **{"for": 10}),
    ]
    ticks = [tick(0, 101, 10), tick(5, 101, None), tick(10, 101, None), tick(20, 99, None)]
    assert run(rules, ticks) == [
        ("ALERT", "a", "BTC", 0, 101),
        ("ALERT", "v", "BTC", 0, 10),
        ("ALERT", "both", "BTC", 10, 2),
        ("RESOLVED", "a", "BTC", 20, 99),
        ("RESOLVED", "both", "BTC", 20, 1),
    ]


def test_a_combination_counts_only_the_symbols_own_states_in_its_scope() -> None:
    # a (BTC only) and b fire for BTC at t0; the combination is for ETH only: at ETH's t1 50, a
    # was never judged for ETH (not firing) and b is quiet for ETH: 0, nothing. (Reading BTC's
    # states it would fire.) ETH at t2 150: b fires for ETH: 1: ALERT.
    rules = [
        rule("a", condition="above", threshold=100, symbols=["BTC"]),
        rule("b", condition="above", threshold=100),
        rule("c", condition="any", of=["a", "b"], symbols=["ETH"]),
    ]
    ticks = [tick(0, 101), tick(1, 50, symbol="ETH"), tick(2, 150, symbol="ETH")]
    assert run(rules, ticks) == [
        ("ALERT", "a", "BTC", 0, 101),
        ("ALERT", "b", "BTC", 0, 101),
        ("ALERT", "b", "ETH", 2, 150),
        ("ALERT", "c", "ETH", 2, 1),
    ]


def test_a_combination_of_a_candle_rule_is_judged_at_every_tick() -> None:
    # ind: sma:1 above 100 on 1-minute candles; low: below 0 (never). any of them.
    # t10, t40: no closed candle: ind decides nothing; any: 0. t70 closes bucket 0 (101): ind
    # ALERT at 60; any: 1: ALERT at 70 (the tick's time). t100: any firing. t130 closes bucket
    # 60 (50): ind RESOLVED at 120; any: 0: RESOLVED at 130.
    rules = [
        candle("ind", condition="above", metric="sma:1", threshold=100),
        rule("low", condition="below", threshold=0),
        rule("any", condition="any", of=["ind", "low"]),
    ]
    ticks = prices((10, 101), (40, 101), (70, 50), (100, 50), (130, 50))
    assert run(rules, ticks) == [
        ("ALERT", "ind", "BTC", 60, 101),
        ("ALERT", "any", "BTC", 70, 1),
        ("RESOLVED", "ind", "BTC", 120, 50),
        ("RESOLVED", "any", "BTC", 130, 0),
    ]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"of": None}, r"\['of'\] are required"),
        ({"of": ["a"]}, "two or more distinct other rules"),
        ({"of": ["a", "a"]}, "two or more distinct other rules"),
        ({"of": ["a", "c"]}, "two or more distinct other rules"),
        ({"of": "a, b"}, "must be a list of strings"),
        ({"of": ["a", "nope"]}, "member 'nope' is not a rule of the file"),
        ({"of": ["a", "off"]}, "member 'off' is disabled"),
        ({"threshold": 1}, r"refused for all \(all/any\)"),
        ({"metric": "price"}, "refused for all"),
        ({"window": 60}, "refused for all"),
        ({"recover": 1}, "refused for all"),
        ({"direction": "up"}, "refused for all"),
        ({"interval": "1m"}, "refused for all"),
        ({"band": [1, 2]}, "refused for all"),
        ({"silent": 1}, "silent must be true or false"),
    ],
)
def test_combination_keys_refused(keys: dict[str, Any], message: str) -> None:
    table = {"condition": "all", "of": ["a", "b"], **keys}
    rules = [
        rule("a", condition="above", threshold=1),
        rule("b", condition="above", threshold=1),
        rule("off", condition="above", threshold=1, enabled=False),
        rule("c", **{k: v for k, v in table.items() if v is not None}),
    ]
    with pytest.raises(ValueError, match=message):
        run(rules, [])


def test_combinations_in_a_cycle_are_refused() -> None:
    rules = [
        rule("x", condition="above", threshold=1),
        rule("p", condition="all", of=["q", "x"]),
        rule("q", condition="any", of=["p", "x"]),
    ]
    with pytest.raises(ValueError, match=r"cycle: \['p', 'q'\]"):
        run(rules, [])
    # a disabled combination is not read at all (its members are not checked)
    off = rule("z", condition="all", of=["nope", "none"], enabled=False)
    assert run([rules[0], off], prices((0, 5))) == [("ALERT", "x", "BTC", 0, 5)]


# --- silent ---------------------------------------------------------------------------------------


def test_silent_rules_are_judged_but_give_no_events() -> None:
    # test_all_and_any_count_the_members_firing with a and b silent: the same events of the
    # combinations, none of a and b; a silent combination gives none either.
    rules = [
        rule("a", condition="above", threshold=100, silent=True),
        rule("b", condition="above", threshold=200, silent=True),
        rule("both", condition="all", of=["a", "b"]),
        rule("either", condition="any", of=["a", "b"], silent=True),
    ]
    assert run(rules, prices((0, 150), (1, 250), (2, 150), (3, 50))) == [
        ("ALERT", "both", "BTC", 1, 2),
        ("RESOLVED", "both", "BTC", 2, 1),
    ]
    # silent = false is the default; a silent rule on its own says nothing
    assert run([rule(condition="above", threshold=1, silent=False)], prices((0, 5))) == [
        ("ALERT", "r", "BTC", 0, 5)
    ]
    assert run([rule(condition="above", threshold=1, silent=True)], prices((0, 5))) == []
    with pytest.raises(ValueError, match="silent must be true or false"):
        run([rule(condition="above", threshold=1, silent="yes")], [])


def test_a_silent_member_keeps_its_state_through_modifiers() -> None:
    # a silent member with for 10 s: pending at 0, firing at 10 (no line); the combination
    # (any, with a never-firing b) fires at 10, the tick a's episode starts, not at 0.
    rules = [
        rule("a", condition="above", threshold=100, silent=True, **{"for": 10}),
        rule("b", condition="below", threshold=0),
        rule("c", condition="any", of=["a", "b"]),
    ]
    assert run(rules, prices((0, 101), (5, 101), (10, 101), (15, 99))) == [
        ("ALERT", "c", "BTC", 10, 1),
        ("RESOLVED", "c", "BTC", 15, 0),
    ]
