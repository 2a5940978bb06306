"""The alert engine: the rules run over each symbol's trailing windows, kept in memory. Pure.

For every new tick the rules need the average of the symbol's ticks in ``[t - W, t)`` for each
window length W (the definition is the SQL function ``trailing_window``). Each symbol keeps
its windows in memory with exact running sums (`cryptomonitor.alerting.windows`), so the check costs
the same whatever a window holds, and a run restarted after a crash writes the same digits.

The engine is a cache of the database and never touches it: the batch writer
(`cryptomonitor.ingest.writer`) asks it questions, hands it what the repository read, and saves what
it judged. How the cache stays true to the database (design.md, "The alert cache"):

- a symbol is loaded on first sight (`to_load`, `load`): the ticks of the longest window and
  its alert states;
- it changes only inside the transaction that stores the ticks; if that transaction fails the
  batch's symbols are forgotten (`forget`) and loaded again next time;
- it is told what other sessions did (`heard`, from `cryptomonitor.ingest.coherence`): symbols other
  writers inserted are checked against the database before they are trusted again
  (`unverified`, `checked`); any UPDATE, DELETE or TRUNCATE drops the whole cache;
- a batch it `proves_new` (every symbol cached and checked, every tick newer than its symbol's
  newest) can be written without staging, and judged while the server inserts it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

import structlog

from cryptomonitor.alerting import episodes
from cryptomonitor.alerting.rules import Rule
from cryptomonitor.alerting.windows import Series
from cryptomonitor.models import Tick
from cryptomonitor.util.times import MICROS_PER_SECOND, from_micros, micros

log = structlog.get_logger(__name__)

Key = tuple[str, str]  # (rule name, symbol)


@dataclasses.dataclass(frozen=True)
class Judgement:
    """What the rules found in a batch: events raised, and the alert states to store."""

    events: list[episodes.Event]
    changed: dict[Key, episodes.State]


NOTHING = Judgement([], {})


class AlertEngine:
    """The rules, and the cached windows and alert states of the symbols this process writes."""

    def __init__(self, rules: Sequence[Rule], repeat_interval: float) -> None:
        self.rules = tuple(rules)
        self.repeat_interval = repeat_interval
        self.lengths = sorted({round(r.window * MICROS_PER_SECOND) for r in self.rules})
        index = {length: i for i, length in enumerate(self.lengths)}
        self.series: dict[str, Series] = {}
        self.states: dict[Key, episodes.State] = {}
        self._stored: dict[Key, tuple[bool, object, object]] = {}  # as the database holds it
        self.unverified: set[str] = set()  # cached symbols another session may have written
        self.reloads = 0
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

    @property
    def active(self) -> bool:
        """False without rules: nothing to judge, nothing cached."""
        return bool(self.rules)

    def forget(self, symbols: Iterable[str]) -> None:
        """Drop the cache of `symbols` (after a failed transaction, or another writer)."""
        for symbol in set(symbols):
            self.series.pop(symbol, None)
            for rule in self.rules:
                self.states.pop((rule.name, symbol), None)
                self._stored.pop((rule.name, symbol), None)

    def distrust(self) -> None:
        """Check every cached symbol before trusting it again (a new connection may have
        missed other sessions' notifications)."""
        self.unverified.update(self.series)

    def heard(self, symbols: set[str], operations: set[str]) -> None:
        """What other sessions did (`coherence.Hearing.take`): the symbols they inserted are
        checked before they are trusted again; an update, delete or truncate may have changed
        anything, so the whole cache is dropped."""
        self.unverified.update(symbols.intersection(self.series))
        if operations - {"INSERT"}:
            log.warning(
                "window_cache_dropped",
                operations=sorted(operations),
                reason="another session changed or removed ticks",
            )
            self.reloads += len(self.series)
            self.forget(list(self.series))
        elif operations:
            self.distrust()

    def proves_new(self, ticks: Sequence[Tick]) -> bool:
        """True if every tick is new for sure: each symbol cached and checked since any other
        writer's activity, each tick newer than all its symbol's stored ticks."""
        if not self.rules:
            return False
        newest: dict[str, int] = {}
        time_us: dict[dt.datetime, int] = {}
        series, unverified = self.series, self.unverified
        for tick in ticks:
            symbol = tick.symbol
            last = newest.get(symbol)
            if last is None:
                cached = series.get(symbol)
                if cached is None or symbol in unverified or not cached.times:
                    return False
                last = cached.times[-1]
            t = time_us.get(tick.time)
            if t is None:
                t = time_us[tick.time] = micros(tick.time)
            if t <= last:
                return False
            newest[symbol] = t
        return True

    def newest_known(self, ticks: Sequence[Tick]) -> list[dt.datetime | None]:
        """Per tick, the newest tick of its symbol the cache holds (None: not cached)."""
        newest: dict[str, dt.datetime | None] = {}
        out = []
        for tick in ticks:
            if tick.symbol not in newest:
                series = self.series.get(tick.symbol) if self.rules else None
                n = series.newest if series is not None else None
                newest[tick.symbol] = from_micros(n) if n is not None else None
            out.append(newest[tick.symbol])
        return out

    def checked(self, ticks: Sequence[Tick], touched: set[str]) -> None:
        """The database was asked about the symbols of `ticks`: those in `touched` got ticks
        from another writer since this cache's newest (they are reloaded), the rest are true."""
        self.unverified.difference_update(t.symbol for t in ticks)
        if touched:
            log.warning(
                "window_reloaded",
                symbols=sorted(touched),
                reason="another writer stored ticks of these symbols",
            )
            self.reloads += len(touched)
            self.forget(touched)

    def to_load(self, ticks: Sequence[Tick]) -> tuple[list[str], dt.datetime] | None:
        """The symbols of `ticks` not cached, and since when their ticks are needed."""
        if not self.rules:
            return None
        first: dict[str, int] = {}
        for tick in ticks:
            if tick.symbol not in self.series:
                t = micros(tick.time)
                if t < first.get(tick.symbol, t + 1):
                    first[tick.symbol] = t
        if not first:
            return None
        return sorted(first), from_micros(min(first.values()) - self.lengths[-1])

    def load(
        self,
        symbols: Iterable[str],
        windows: Iterable[tuple[str, Sequence[int], Sequence[float], Sequence[float]]],
        states: Iterable[tuple[str, str, bool, uuid.UUID | None, dt.datetime | None, dt.datetime]],
    ) -> None:
        """Cache `symbols` from the database: their recent ticks (symbol, times in integer
        microseconds, prices, volumes with NaN for none; oldest first) and alert states."""
        for symbol in symbols:
            self.series[symbol] = Series(self.lengths)
        for symbol, times, prices, volumes in windows:
            self.series[str(symbol)] = Series.loaded(self.lengths, times, prices, volumes)
        for rule, symbol, firing, episode, notified, changed in states:
            key = (str(rule), str(symbol))
            self.states[key] = episodes.State(bool(firing), episode, notified, changed)
            self._stored[key] = (bool(firing), episode, notified)

    def stale(self, already: Sequence[Tick]) -> set[str]:
        """Symbols of which a tick found already stored is unknown to the cache: another
        writer stored it, and the cache must be reloaded before judging."""
        if not self.rules:
            return set()
        return {
            t.symbol
            for t in already
            if t.symbol in self.series and not self.series[t.symbol].holds(micros(t.time))
        }

    def judge(self, ticks: Sequence[Tick]) -> Judgement:
        """Hold `ticks` (oldest first, their symbols cached) and run the rules over them.

        Returns the events raised and the alert states changed, for the writer to save in the
        transaction of the ticks (then `saved`). Touches no database: it runs while the server
        is still inserting the batch.
        """
        if not self.rules:
            return NOTHING
        events: list[episodes.Event] = []
        changed: dict[Key, episodes.State] = {}
        states, stored, repeat = self.states, self._stored, self.repeat_interval
        plan, all_series = self._plan, self.series
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
            value: float | None
            for rule, name, is_price, w, min_samples in plan:
                if is_price:
                    value, avg, samples = price, stats[w][0], stats[w][1]
                else:
                    value, avg, samples = volume, stats[w][2], stats[w][3]
                if value is None or avg is None or samples < min_samples or not avg > 0:
                    continue  # this window decides nothing: the alert stays as it is
                key = (name, symbol)
                state = states.get(key)
                if not rule.breached(value, avg) and (state is None or not state.firing):
                    continue  # quiet, and it was: nothing to record
                after, event = episodes.step(rule, symbol, time, value, avg, samples, state, repeat)
                if after is None:
                    continue
                states[key] = after
                if event is None:
                    continue  # no change (firing, not yet due to repeat): nothing to store
                # The last change of the batch is what is stored: once a key has changed in
                # this batch, later changes (back to the stored state too) replace it.
                if key in changed or (
                    (after.firing, after.episode_id, after.last_notified) != stored.get(key)
                ):
                    changed[key] = after
                events.append(event)
        return Judgement(events, changed)

    def hold(self, ticks: Sequence[Tick]) -> Judgement:
        """Hold `ticks` in the windows of their cached symbols without judging them (a
        backfill: history raises no alert, but the live ticks after it count it)."""
        for tick in ticks:
            series = self.series.get(tick.symbol)
            if series is not None:
                series.add(micros(tick.time), tick.price, tick.volume_24h)
        return NOTHING

    def saved(self, judgement: Judgement) -> None:
        """The judgement's states are stored (in the transaction about to commit)."""
        for key, st in judgement.changed.items():
            self._stored[key] = (st.firing, st.episode_id, st.last_notified)
