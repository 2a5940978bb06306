"""The alert engine alone: no database, no driver. What the writer asks it, it answers from
memory; what it judges, it returns."""

from __future__ import annotations

import subprocess
import sys

from structlog.testing import capture_logs

from cryptomonitor.alerting.engine import AlertEngine
from cryptomonitor.alerting.rules import DEFAULT_RULES
from cryptomonitor.util.times import micros
from tests.support.helpers import tick

PRICE_3X = DEFAULT_RULES[:1]  # price_3x_1h


def loaded(rules: tuple = PRICE_3X, minutes: int = 12, symbol: str = "bitcoin") -> AlertEngine:
    """An engine that has loaded `minutes` ticks of 100.0 for `symbol` from 'the database'."""
    engine = AlertEngine(rules, 3600.0)
    ticks = [tick(m, 100.0, symbol=symbol) for m in range(minutes)]
    engine.load(
        [symbol],
        [(symbol, [micros(t.time) for t in ticks], [t.price for t in ticks], [1000.0] * minutes)],
        [],
    )
    return engine


def test_the_engine_imports_no_database_driver() -> None:
    code = (
        "import sys, cryptomonitor.alerting.engine, cryptomonitor.alerting.windows; "
        "sys.exit(any(m.split('.')[0] == 'psycopg' for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_spike_opens_an_episode_and_the_way_back_resolves_it() -> None:
    engine = loaded()
    judged = engine.judge([tick(12, 400.0), tick(13, 100.0)])
    assert [(e.event, e.value, e.window_samples) for e in judged.events] == [
        ("ALERT", 400.0, 12),
        ("RESOLVED", 100.0, 13),
    ]
    assert judged.events[1].episode_id == judged.events[0].alert_id
    # Stored: the state as the batch leaves it, with the time of the change that made it.
    state = judged.changed[("price_3x_1h", "bitcoin")]
    assert (state.firing, state.last_evaluated) == (False, tick(13, 1).time)


def test_only_changes_are_stored_with_the_time_of_the_last_change() -> None:
    engine = loaded()
    first = engine.judge([tick(12, 400.0), tick(13, 500.0), tick(14, 600.0)])
    assert [e.event for e in first.events] == ["ALERT"]  # still firing: no repeat within 1 h
    assert first.changed[("price_3x_1h", "bitcoin")].last_evaluated == tick(12, 1).time
    engine.saved(first)
    assert engine.judge([tick(15, 700.0)]).changed == {}  # firing as stored: nothing to store


def test_a_tick_older_than_the_newest_is_held_but_judges_nothing() -> None:
    engine = loaded()
    assert engine.judge([tick(5.5, 900.0)]).events == []
    assert engine.series["bitcoin"].holds(micros(tick(5.5, 1).time))


def test_proves_new_only_what_the_cache_knows_for_sure() -> None:
    engine = loaded()
    assert engine.proves_new([tick(12, 1.0), tick(13, 1.0)])
    assert not engine.proves_new([tick(11, 1.0)])  # not newer than the newest
    assert not engine.proves_new([tick(12, 1.0), tick(12, 1.0)])  # twice
    assert not engine.proves_new([tick(12, 1.0, symbol="ethereum")])  # not cached
    assert not AlertEngine((), 3600.0).proves_new([tick(12, 1.0)])  # no rules, no cache


def test_what_other_sessions_did_decides_what_is_checked_or_dropped() -> None:
    engine = loaded()
    engine.heard({"bitcoin", "dogecoin"}, set())  # another writer inserted these
    assert engine.unverified == {"bitcoin"}  # only what this cache holds
    assert not engine.proves_new([tick(12, 1.0)])
    engine.checked([tick(12, 1.0)], touched=set())  # the database says: nothing new
    assert engine.proves_new([tick(12, 1.0)])
    with capture_logs() as logs:
        engine.checked([tick(12, 1.0)], touched={"bitcoin"})  # it did store bitcoin ticks
    assert "bitcoin" not in engine.series and logs[0]["event"] == "window_reloaded"
    engine = loaded()
    with capture_logs() as logs:
        engine.heard(set(), {"INSERT", "DELETE"})
    assert engine.series == {} and logs[0]["event"] == "window_cache_dropped"
    engine = loaded()
    engine.heard(set(), {"INSERT"})  # an insert by someone who does not say what
    assert engine.unverified == {"bitcoin"} and "bitcoin" in engine.series


def test_to_load_names_the_uncached_symbols_and_the_longest_window_before_them() -> None:
    engine = loaded(DEFAULT_RULES)
    got = engine.to_load(
        [tick(30, 1.0, symbol="zcash"), tick(20, 1.0, symbol="ethereum"), tick(40, 1.0)]
    )
    assert got == (["ethereum", "zcash"], tick(20 - 60, 1).time)
    assert engine.to_load([tick(40, 1.0)]) is None


def test_a_stored_tick_the_cache_does_not_hold_is_stale() -> None:
    engine = loaded()
    assert engine.stale([tick(3, 100.0)]) == set()  # held: ours
    assert engine.stale([tick(3.5, 100.0)]) == {"bitcoin"}  # someone else's
    assert engine.stale([tick(3.5, 100.0, symbol="zcash")]) == set()  # not cached at all


def test_forget_drops_windows_and_states() -> None:
    engine = loaded()
    engine.saved(engine.judge([tick(12, 400.0)]))
    engine.forget(["bitcoin"])
    assert engine.series == {} and engine.states == {}
    assert engine.newest_known([tick(13, 1.0)]) == [None]
