"""The alert engine: the rules run over each symbol's trailing windows and alert states. Pure.

For every new tick the rules need the average of the symbol's ticks in ``[t - W, t)`` for each
window length W (the definition is the SQL function ``trailing_window``). Each symbol keeps
its windows in memory with exact running sums (`cryptomonitor.alerting.windows`), in the
alert cache (`cryptomonitor.alerting.cache`, which also keeps itself true to the database),
so the check costs the same whatever a window holds, and a run restarted after a crash writes
the same digits.

`AlertEngine.judge` is the one thing the engine does: it takes a batch's new ticks, holds
them in the cache's windows, steps the alert states (`episodes.step`) and returns what the
writer must store in the transaction of the ticks (`Judgement`). It touches no database and
no I/O, so the writer runs it while the server is still inserting the batch (design.md,
"The fast path").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from cryptomonitor.alerting import cache, episodes
from cryptomonitor.alerting.rules import Rule
from cryptomonitor.models import Tick
from cryptomonitor.util.times import MICROS_PER_SECOND, micros


@dataclasses.dataclass(frozen=True)
class Judgement:
    """What the rules found in a batch: the events raised, and the alert states they changed
    (each as the batch leaves it), for the writer to store with the ticks."""

    events: list[episodes.Event]
    changed: dict[cache.Key, episodes.State]


NOTHING = Judgement([], {})


class AlertEngine:
    """The rules, compiled once for the per-tick loop."""

    def __init__(self, rules: Sequence[Rule], repeat_interval: float) -> None:
        self.rules = tuple(rules)
        self.repeat_interval = repeat_interval
        #: The window lengths the rules use, in microseconds, shortest first: the cache's.
        self.lengths = sorted({round(r.window * MICROS_PER_SECOND) for r in self.rules})
        index = {length: i for i, length in enumerate(self.lengths)}
        # Per rule, what the per-tick loop needs, looked up once.
        self._plan = [
            (
                rule,
                rule.name,
                rule.metric == "price",
                index[round(rule.window * MICROS_PER_SECOND)],
                rule.min_samples,
            )
            for rule in self.rules
        ]

    def judge(self, known: cache.AlertCache, ticks: Sequence[Tick]) -> Judgement:
        """Hold `ticks` (oldest first, their symbols cached in `known`, which was built with
        this engine's `lengths`) in their windows and run the rules over them.

        Changes `known` (the ticks held, the alert states stepped) and returns the events
        raised and the states changed. A tick not newer than its symbol's newest is held but
        judges nothing: its successors were judged without it.
        """
        if not self.rules:
            return NOTHING
        events: list[episodes.Event] = []
        changed: dict[cache.Key, episodes.State] = {}
        repeat, plan, step = self.repeat_interval, self._plan, episodes.step
        all_series, all_states = known.series, known.states
        time_us: dict[dt.datetime, int] = {}  # a poll's ticks mostly share a few timestamps
        for tick in ticks:
            symbol, time, price, volume = tick.symbol, tick.time, tick.price, tick.volume_24h
            series = all_series[symbol]
            t = time_us.get(time)
            if t is None:
                t = time_us[time] = micros(time)
            times = series.times
            if times and t <= times[-1]:
                series.add(t, price, volume)
                continue  # stored, but it raises nothing: its successors were judged without it
            stats = series.advance(t, price, volume)
            states = all_states[symbol]
            value: float | None
            for rule, name, is_price, w, min_samples in plan:
                if is_price:
                    value, avg, samples = price, stats[w][0], stats[w][1]
                else:
                    value, avg, samples = volume, stats[w][2], stats[w][3]
                if value is None or avg is None or samples < min_samples or not avg > 0:
                    continue  # this window decides nothing: the alert stays as it is
                state = states.get(name)
                if not rule.breached(value, avg) and (state is None or not state.firing):
                    continue  # quiet, and it was: nothing to record
                after, event = step(rule, symbol, time, value, avg, samples, state, repeat)
                if event is None or after is None:
                    continue  # no change (firing, not yet due to repeat): nothing to store
                # Every event changes the state; the batch's last change is what is stored.
                states[name] = changed[(name, symbol)] = after
                events.append(event)
        return Judgement(events, changed)
