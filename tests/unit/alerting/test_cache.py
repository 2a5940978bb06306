"""The alert cache alone: no database, no driver. What the writer asks it, it answers from
memory; what the repository read, it holds; what other sessions did, it acts on."""

from __future__ import annotations

import subprocess
import sys

from structlog.testing import capture_logs

from cryptomonitor.alerting import cache, episodes
from cryptomonitor.alerting.engine import AlertEngine
from cryptomonitor.alerting.rules import DEFAULT_RULES, Rule
from cryptomonitor.util.times import micros
from tests.support.helpers import tick

PRICE_3X = DEFAULT_RULES[:1]  # price_3x_1h


def loaded(
    rules: tuple[Rule, ...] = PRICE_3X,
    minutes: int = 12,
    symbol: str = "bitcoin",
    states: tuple[episodes.State, ...] = (),
) -> cache.AlertCache:
    """A cache that has loaded `minutes` ticks of 100.0 for `symbol` from 'the database'."""
    known = cache.AlertCache(AlertEngine(rules, 3600.0).lengths)
    ticks = [tick(m, 100.0, symbol=symbol) for m in range(minutes)]
    known.load(
        cache.Missing([symbol], ticks[0].time),
        [
            cache.Recent(
                symbol, [micros(t.time) for t in ticks], [t.price for t in ticks], [1e3] * minutes
            )
        ],
        states,
    )
    return known


def test_the_cache_imports_no_database_driver() -> None:
    code = (
        "import sys, cryptomonitor.alerting.cache; "
        "sys.exit(any(m.split('.')[0] == 'psycopg' for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_load_holds_the_windows_and_the_states_by_symbol_and_rule() -> None:
    firing = episodes.State("price_3x_1h", "bitcoin", True, None, tick(3, 1).time, tick(3, 1).time)
    known = loaded(states=(firing,))
    assert known.states == {"bitcoin": {"price_3x_1h": firing}}
    assert known.series["bitcoin"].newest == micros(tick(11, 1).time)
    known.load(cache.Missing(["zcash"], tick(0, 1).time), [], [])  # no tick stored yet
    assert known.series["zcash"].newest is None and known.states["zcash"] == {}


def test_a_cache_without_windows_is_not_active_and_holds_nothing() -> None:
    idle = cache.AlertCache([])
    assert not idle.active
    assert not idle.proves_new([tick(12, 1.0)])  # no window, no knowledge
    assert idle.newest_known([tick(12, 1.0)]) is None
    assert idle.checked([tick(12, 1.0)], touched=set()) is None
    assert idle.stale([tick(12, 1.0)]) == set()


def test_without_rules_the_cache_still_proves_batches_new() -> None:
    """No rule judges, but the cache keeps each symbol's newest tick: a batch of new ticks
    takes the fast path (one COPY), and a tick seen before does not."""
    engine = AlertEngine((), 3600.0)
    known = engine.new_cache()
    assert known.active
    stored = tick(11, 1.0)
    known.load(
        cache.Missing(["bitcoin"], stored.time),
        [cache.Recent("bitcoin", [micros(stored.time)], [stored.price], [1e3])],
        [],
    )
    assert not known.proves_new([stored])  # stored already
    assert known.proves_new([tick(12, 1.0)])
    assert engine.judge(known, [tick(12, 1.0)]).events == []
    assert known.series["bitcoin"].newest == micros(tick(12, 1.0).time)  # held, not judged
    assert not known.proves_new([tick(12, 1.0)]) and known.proves_new([tick(13, 1.0)])


def test_proves_new_only_what_the_cache_knows_for_sure() -> None:
    known = loaded()
    assert known.proves_new([tick(12, 1.0), tick(13, 1.0)])
    assert not known.proves_new([tick(11, 1.0)])  # not newer than the newest
    assert not known.proves_new([tick(12, 1.0), tick(12, 1.0)])  # twice
    assert not known.proves_new([tick(12, 1.0, symbol="ethereum")])  # not cached


def test_what_other_sessions_did_decides_what_is_checked_or_dropped() -> None:
    known = loaded()
    known.heard({"bitcoin", "dogecoin"}, set())  # another writer inserted these
    assert known.unverified == {"bitcoin"}  # only what this cache holds
    assert not known.proves_new([tick(12, 1.0)])
    assert known.checked([tick(12, 1.0)], touched=set()) is None  # the database: nothing new
    assert known.proves_new([tick(12, 1.0)])
    with capture_logs() as logs:
        missing = known.checked([tick(12, 1.0)], touched={"bitcoin"})  # it did store some
    assert "bitcoin" not in known.series and logs[0]["event"] == "window_reloaded"
    assert missing == (["bitcoin"], tick(12 - 60, 1).time, ())  # reloaded before it is judged
    known = loaded()
    with capture_logs() as logs:
        known.heard(set(), {"INSERT", "DELETE"})
    assert known.series == {} and known.states == {}
    assert logs[0]["event"] == "window_cache_dropped"
    known = loaded()
    known.heard(set(), {"INSERT"})  # an insert by someone who does not say what
    assert known.unverified == {"bitcoin"} and "bitcoin" in known.series
    known = loaded()
    known.distrust()  # a new connection: everything is checked first
    assert known.unverified == {"bitcoin"} and not known.proves_new([tick(12, 1.0)])


def test_checked_names_the_uncached_symbols_and_the_longest_window_before_them() -> None:
    known = loaded(DEFAULT_RULES)
    got = known.checked(
        [tick(30, 1.0, symbol="zcash"), tick(20, 1.0, symbol="ethereum"), tick(40, 1.0)],
        touched=set(),
    )
    assert got == (["ethereum", "zcash"], tick(20 - 60, 1).time, ())
    assert got is not None and (got.symbols, got.since) == (["ethereum", "zcash"], got[1])
    assert known.checked([tick(40, 1.0)], touched=set()) is None


def test_a_stored_tick_the_cache_does_not_hold_is_stale() -> None:
    known = loaded()
    assert known.stale([tick(3, 100.0)]) == set()  # held: ours
    assert known.stale([tick(3.5, 100.0)]) == {"bitcoin"}  # someone else's
    assert known.stale([tick(3.5, 100.0, symbol="zcash")]) == set()  # not cached at all


def test_hold_counts_ticks_in_the_windows_of_cached_symbols_only() -> None:
    known = loaded()
    known.hold([tick(5.5, 900.0), tick(3, 1.0, symbol="zcash")])  # a backfill
    assert known.series["bitcoin"].holds(micros(tick(5.5, 1).time))
    assert "zcash" not in known.series


def test_forget_drops_windows_and_states() -> None:
    known = loaded()
    AlertEngine(PRICE_3X, 3600.0).judge(known, [tick(12, 400.0)])
    assert known.states["bitcoin"]
    known.heard({"bitcoin"}, set())
    known.forget(["bitcoin"])
    assert known.series == {} and known.states == {} and known.unverified == set()
    assert known.newest_known([tick(13, 1.0)]) == [None]
