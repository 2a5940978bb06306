"""The alert check at ingest speed: trailing windows and alert states kept in the writer's memory.

For every new tick the rules need the average of the symbol's ticks in ``[t - W, t)`` for each
window length W (the definition is the SQL function ``trailing_window``). Reading those ticks
back from the database costs as much as the window holds (3,600 rows for an hour of 1-second
ticks). Instead each symbol keeps its windows in memory, with exact running sums
(`cryptomonitor.windows`): a run restarted after a crash writes the same digits.

The memory is a cache of the database, loaded per symbol on first sight (the ticks of the
longest window, and the alert states), and kept consistent with it:

- it is changed only inside the transaction that stores the ticks; if that transaction fails,
  every symbol of the batch is forgotten and reloaded next time;
- it hears other sessions: migration 0007's trigger notifies ``cryptomonitor_ticks`` after
  every statement that changes ``ticks``, and this writer LISTENs (`watch`). While it hears
  only itself, a batch of cached symbols, each tick newer than its symbol's newest, is proved
  new (`appendable`) and takes the fast path (``store._append``: COPY straight into ``ticks``,
  judged while the server inserts it). After another session's INSERT (or on a new
  connection, which may have missed notifications) each symbol takes the general path once:
  one query checks that no other process stored ticks of it since this one's newest
  (``ticks_between``), and a tick of the batch that turns out to be stored already but
  unknown to the cache makes the batch start again (`StaleWindow`) after a reload. After an
  UPDATE, DELETE or TRUNCATE by another session the whole cache is dropped;
- what this cannot see: a tick another process commits in the instant between this writer's
  proof and its commit, with a time between the two writers' (an exact duplicate fails the
  COPY and is redone safely), and a backfill by another process into the last hour of a
  symbol this process is writing. Keep one writer per symbol: the leader lock makes replicas
  of one ``run`` job take turns, and shards of symbols (docs/scaling.md) are disjoint.

Alert states are written to ``alert_state`` only when an alert opens, repeats or resolves, in
the same transaction as the ticks that did it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
import structlog

from cryptomonitor import alerts, coherence, queries
from cryptomonitor.models import Tick
from cryptomonitor.rules import Rule
from cryptomonitor.windows import Series, from_micros, micros

log = structlog.get_logger(__name__)


Connection = psycopg.Connection[tuple[Any, ...]]
Key = tuple[str, str]  # (rule name, symbol)



class StaleWindow(Exception):
    """Another writer stored ticks this cache does not know: reload and start the batch again."""

    def __init__(self, symbols: set[str]) -> None:
        super().__init__(f"ticks stored by another writer for {sorted(symbols)}")
        self.symbols = symbols


class Evaluator:
    """The rules, and the cached windows and alert states of the symbols this process writes."""

    def __init__(self, rules: Sequence[Rule], repeat_interval: float) -> None:
        self.rules = tuple(rules)
        self.repeat_interval = repeat_interval
        self.lengths = sorted({round(r.window * 1_000_000) for r in self.rules})
        self._index = {length: i for i, length in enumerate(self.lengths)}
        self.series: dict[str, Series] = {}
        self.states: dict[tuple[str, str], alerts.State] = {}
        self._stored: dict[tuple[str, str], tuple[bool, object, object]] = {}
        self.reloads = 0
        # Per rule, what the per-tick loop needs, looked up once.
        self._plan = [(rule, rule.name, rule.metric == "price",
                       self._index[round(rule.window * 1_000_000)], rule.min_samples)
                      for rule in self.rules]
        # Cached symbols another session may have written since this cache last checked.
        self.unverified: set[str] = set()
        self.hearing = coherence.Hearing()  # other sessions' changes to ticks

    def forget(self, symbols: Iterable[str]) -> None:
        """Drop the cache of `symbols` (after a failed transaction, or another writer)."""
        for symbol in set(symbols):
            self.series.pop(symbol, None)
            for rule in self.rules:
                self.states.pop((rule.name, symbol), None)
                self._stored.pop((rule.name, symbol), None)

    def watch(self, conn: Connection) -> None:
        """Listen on `conn` for other sessions' changes to ticks (`cryptomonitor.coherence`).

        A connection not watched before may have missed notifications: every cached symbol
        is checked again (`unverified`) before the cache is trusted.
        """
        if self.rules and self.hearing.watch(conn):
            self.unverified.update(self.series)

    def _take_notifications(self) -> None:
        """Act on what other sessions did: inserted ticks are checked against the database
        (`sync`) before a symbol's cache is trusted; an update, delete or truncate may
        have changed anything, so the whole cache is dropped."""
        symbols, operations = self.hearing.take()
        if symbols:
            self.unverified.update(symbols.intersection(self.series))
        if not operations:
            return
        if operations - {"INSERT"}:
            log.warning("window_cache_dropped", operations=sorted(operations),
                        reason="another session changed or removed ticks")
            self.reloads += len(self.series)
            self.forget(list(self.series))
        else:
            self.unverified.update(self.series)

    def announcement(self, ticks: Sequence[Tick]) -> list[str]:
        """The notifications naming the symbols of `ticks`, for other writers' caches."""
        if not self.rules:
            return []
        return coherence.announcement(t.symbol for t in ticks)

    def appendable(self, ticks: Sequence[Tick]) -> bool:
        """True if the cache proves every tick new: each symbol cached and checked since any
        other writer's activity, each tick newer than all its symbol's stored ticks. Such a
        batch can be COPied straight into ``ticks`` and judged before the server answers.

        Call inside the batch's transaction: its BEGIN is what brings in the notifications.
        """
        if not self.rules:
            return False
        self._take_notifications()
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

    def sync(self, conn: Connection, ticks: Sequence[Tick]) -> None:
        """Before the insert, with the batch in ``tick_batch``: reload the symbols another
        writer has stored ticks of since our newest, and load the symbols never seen."""
        if not self.rules:
            return
        self._take_notifications()
        touched = {str(row[0]) for row in conn.execute(queries.get("ticks_between"))}
        self.unverified.difference_update(t.symbol for t in ticks)
        if touched:
            log.warning("window_reloaded", symbols=sorted(touched),
                        reason="another writer stored ticks of these symbols")
            self.reloads += len(touched)
            self.forget(touched)
        first: dict[str, int] = {}
        for tick in ticks:
            if tick.symbol not in self.series:
                t = micros(tick.time)
                if t < first.get(tick.symbol, t + 1):
                    first[tick.symbol] = t
        if first:
            self._load(conn, first)

    def _load(self, conn: Connection, first: dict[str, int]) -> None:
        longest = self.lengths[-1]
        symbols = sorted(first)
        since = from_micros(min(first.values()) - longest)
        for symbol in symbols:
            self.series[symbol] = Series(self.lengths)
        for symbol, times, prices, volumes in conn.execute(
                queries.get("window_ticks"), {"symbols": symbols, "since": since}, binary=True):
            self.series[str(symbol)] = Series.loaded(self.lengths, times, prices, volumes)
        for rule, symbol, firing, episode, notified, evaluated in conn.execute(
                queries.get("alert_states"), {"symbols": symbols}):
            key = (str(rule), str(symbol))
            self.states[key] = alerts.State(bool(firing), episode, notified, evaluated)
            self._stored[key] = (bool(firing), episode, notified)

    def evaluate(self, conn: Connection, new: Sequence[Tick],
                 already: Sequence[Tick]) -> list[alerts.Event]:
        """After the insert, in its transaction: run the rules over the `new` ticks (oldest
        first), store changed alert states and the events; return the events.

        `already` are the ticks of the batch that were stored before: each must be known to
        the cache, or another writer stored it (`StaleWindow`).
        """
        if not self.rules:
            return []
        stale = {t.symbol for t in already
                 if t.symbol in self.series and not self.series[t.symbol].holds(micros(t.time))}
        if stale:
            raise StaleWindow(stale)
        return self.save(conn, *self.judge(new))

    def judge(self, ticks: Sequence[Tick]) -> tuple[list[alerts.Event], dict[Key, alerts.State]]:
        """Hold `ticks` (oldest first, their symbols cached) and run the rules over them: the
        events raised and the alert states changed, to be `save`d in the same transaction.
        Touches no database: it can run while the server is still inserting the batch."""
        events: list[alerts.Event] = []
        changed: dict[Key, alerts.State] = {}
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
                after, event = alerts.step(rule, symbol, time, value, avg, samples, state,
                                           repeat)
                if after is None:
                    continue
                states[key] = after
                # The last state of the batch is what is stored: once a key has changed in
                # this batch, later steps (back to the stored value too) must replace it.
                if key in changed or (
                        (after.firing, after.episode_id, after.last_notified)
                        != stored.get(key)):
                    changed[key] = after
                if event is not None:
                    events.append(event)
        return events, changed

    def save(self, conn: Connection, events: list[alerts.Event],
             changed: dict[Key, alerts.State]) -> list[alerts.Event]:
        """Store what `judge` found, in the transaction of its ticks; return the events."""
        if changed:
            conn.execute(queries.get("save_alert_states"), {
                "rules": [r for r, _ in changed], "symbols": [s for _, s in changed],
                "firing": [st.firing for st in changed.values()],
                "episodes": [st.episode_id for st in changed.values()],
                "notified": [st.last_notified for st in changed.values()],
                "evaluated": [st.last_evaluated for st in changed.values()]})
            for key, st in changed.items():
                self._stored[key] = (st.firing, st.episode_id, st.last_notified)
        if events:
            conn.execute(queries.get("insert_alerts"),
                         {f: [getattr(e, f) for e in events] for f in _EVENT_FIELDS})
        return events


_EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(alerts.Event))
