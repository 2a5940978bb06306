"""The alert engine alone: no database, no driver. It judges a batch over the alert cache's
windows and states, and returns what changed."""

from __future__ import annotations

import subprocess
import sys

from cryptomonitor.alerting import cache, episodes
from cryptomonitor.alerting.engine import AlertEngine
from cryptomonitor.alerting.rules import DEFAULT_RULES, Rule
from cryptomonitor.util.times import micros
from tests.support.helpers import tick

PRICE_3X = DEFAULT_RULES[:1]  # price_3x_1h


def loaded(
    rules: tuple[Rule, ...] = PRICE_3X, minutes: int = 12, symbol: str = "bitcoin"
) -> tuple[AlertEngine, cache.AlertCache]:
    """An engine, and a cache that has loaded `minutes` ticks of 100.0 for `symbol` from
    'the database'."""
    engine = AlertEngine(rules, 3600.0)
    known = cache.AlertCache(engine.lengths)
    ticks = [tick(m, 100.0, symbol=symbol) for m in range(minutes)]
    known.load(
        cache.Missing([symbol], ticks[0].time),
        [
            cache.Recent(
                symbol, [micros(t.time) for t in ticks], [t.price for t in ticks], [1e3] * minutes
            )
        ],
        [],
    )
    return engine, known


def test_the_engine_imports_no_database_driver() -> None:
    code = (
        "import sys, cryptomonitor.alerting.engine, cryptomonitor.alerting.windows; "
        "sys.exit(any(m.split('.')[0] == 'psycopg' for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_spike_opens_an_episode_and_the_way_back_resolves_it() -> None:
    engine, known = loaded()
    judged = engine.judge(known, [tick(12, 400.0), tick(13, 100.0)])
    assert [(e.event, e.value, e.window_samples) for e in judged.events] == [
        ("ALERT", 400.0, 12),
        ("RESOLVED", 100.0, 13),
    ]
    assert judged.events[1].episode_id == judged.events[0].alert_id
    # Stored: the state as the batch leaves it, with the time of the change that made it.
    state = judged.changed[("price_3x_1h", "bitcoin")]
    assert (state.firing, state.last_changed) == (False, tick(13, 1).time)
    assert (state.rule, state.symbol) == ("price_3x_1h", "bitcoin")
    assert known.states["bitcoin"]["price_3x_1h"] is state  # the cache holds it


def test_only_changes_are_stored_with_the_time_of_the_last_change() -> None:
    engine, known = loaded()
    first = engine.judge(known, [tick(12, 400.0), tick(13, 500.0), tick(14, 600.0)])
    assert [e.event for e in first.events] == ["ALERT"]  # still firing: no repeat within 1 h
    assert first.changed[("price_3x_1h", "bitcoin")].last_changed == tick(12, 1).time
    assert engine.judge(known, [tick(15, 700.0)]).changed == {}  # as stored: nothing to store


def test_a_state_loaded_from_the_database_goes_on_where_it_stood() -> None:
    engine, known = loaded()
    opened = episodes.alert_id("ALERT", "price_3x_1h", "bitcoin", tick(11, 1).time)
    stored = episodes.State(
        "price_3x_1h", "bitcoin", True, opened, tick(11, 1).time, tick(11, 1).time
    )
    known.states["bitcoin"]["price_3x_1h"] = stored
    judged = engine.judge(known, [tick(12, 100.0)])  # back to normal
    assert [(e.event, e.episode_id) for e in judged.events] == [("RESOLVED", opened)]


def test_a_tick_older_than_the_newest_is_held_but_judges_nothing() -> None:
    engine, known = loaded()
    assert engine.judge(known, [tick(5.5, 900.0)]).events == []
    assert known.series["bitcoin"].holds(micros(tick(5.5, 1).time))
