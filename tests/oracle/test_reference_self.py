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
