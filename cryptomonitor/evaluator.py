"""The alert check at ingest speed: trailing windows and alert states kept in the writer's memory.

For every new tick the rules need the average of the symbol's ticks in ``[t - W, t)`` for each
window length W (the definition is the SQL function ``trailing_window``). Reading those ticks
back from the database costs as much as the window holds (3,600 rows for an hour of 1-second
ticks). Here each symbol keeps the ticks of its longest window in compact arrays (integer
microseconds, so the window edges are exact) with running sums per window: a new tick in time
order costs O(1) amortized, whatever the window holds. The sums are EXACT (every double is
a whole multiple of 2**-k for some k: they are summed as Python ints) and the average is the
correctly rounded quotient, so it depends only on the ticks in the window, never on the order
they came in or on when the cache was loaded: a run restarted after a crash writes the same
digits.

The memory is a cache of the database, loaded per symbol on first sight (the ticks of the
longest window, and the alert states), and kept consistent with it:

- it is changed only inside the transaction that stores the ticks; if that transaction fails,
  every symbol of the batch is forgotten and reloaded next time;
- before each batch one query checks that no other process stored ticks of a cached symbol
  since this one's newest (``ticks_between``); and a tick of the batch that turns out to be
  stored already but unknown to the cache (another writer) makes the batch start again
  (`StaleWindow`) after a reload. A backfill by another process into the last hour of a symbol
  this process is writing is not seen: one writer per symbol (the leader lock of ``run``).

Alert states are written to ``alert_state`` only when an alert opens, repeats or resolves, in
the same transaction as the ticks that did it.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import math
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
import structlog

from cryptomonitor import alerts, queries
from cryptomonitor.models import Tick
from cryptomonitor.rules import Rule

log = structlog.get_logger(__name__)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)
_TRIM_AT = 4096  # drop expired ticks from the front of the arrays in chunks at least this big

Connection = psycopg.Connection[tuple[Any, ...]]


def micros(time: dt.datetime) -> int:
    """Exact integer microseconds since the epoch."""
    return (time - EPOCH) // _US


def from_micros(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


class StaleWindow(Exception):
    """Another writer stored ticks this cache does not know: reload and start the batch again."""

    def __init__(self, symbols: set[str]) -> None:
        super().__init__(f"ticks stored by another writer for {sorted(symbols)}")
        self.symbols = symbols


_FRACTION_BITS = 1074  # every finite double is a whole multiple of 2**-1074


def bits_needed(x: float) -> int:
    """A k such that x * 2**k is a whole number (x finite): 53 fraction bits below its top."""
    return min(_FRACTION_BITS, max(0, 53 - math.frexp(x)[1])) if x else 0


def units(x: float, k: int) -> int:
    """`x` as a whole number of 2**-k units; k must be at least ``bits_needed(x)``."""
    try:
        return int(math.ldexp(x, k))  # exact: a power-of-two scaling of a whole number
    except OverflowError:  # beyond the float range: the slow exact way
        n, d = x.as_integer_ratio()
        return n << (k + 1 - d.bit_length())


def exact_sum(values: Sequence[float], k: int) -> tuple[int, int]:
    """The exact sum of `values` as (whole number of 2**-k2 units, k2), k2 >= k the smallest
    that fits them all. C-speed: multiplying by a power of two is exact, ints sum exactly."""
    magnitudes = [abs(v) for v in values if v]
    if not magnitudes:
        return 0, k
    k = max(k, bits_needed(min(magnitudes)))
    if k > 1000 or math.frexp(max(magnitudes))[1] + k > 1000:  # scaled floats would overflow
        return sum(units(v, k) for v in values), k
    scale = math.ldexp(1.0, k)
    return sum(map(int, map(scale.__mul__, values))), k


def mean(total: int, count: int, k: int = 0) -> float | None:
    """The correctly rounded average of `count` values whose exact sum is `total` 2**-k units."""
    return total / (count << k) if count else None


@dataclasses.dataclass
class _Window:
    length: int  # microseconds
    lo: int = 0  # index of the first tick inside the window
    price_sum: int = 0  # exact, in units of 2**-Series.price_k
    price_n: int = 0
    volume_sum: int = 0  # exact, in units of 2**-Series.volume_k
    volume_n: int = 0
    valid: bool = True  # False after an out-of-order insert: recompute before the next use


Stats = tuple[float | None, int, float | None, int]


class Series:
    """The recent ticks of one symbol and the running sums of each window over them.

    Sums are whole numbers of 2**-k units, k per metric and series, grown (all sums shifted
    left) when a value needs finer units: small ints, exact arithmetic.
    """

    __slots__ = ("price_k", "prices", "times", "volume_k", "volumes", "windows")

    def __init__(self, lengths: Iterable[int]) -> None:
        self.times = array("q")
        self.prices = array("d")
        self.volumes = array("d")  # NaN where the tick has no volume
        self.windows = [_Window(length) for length in sorted(set(lengths))]
        self.price_k = 0
        self.volume_k = 0

    @classmethod
    def loaded(cls, lengths: Iterable[int], times: Sequence[int], prices: Sequence[float],
               volumes: Sequence[float]) -> Series:
        """A series from stored ticks (oldest first; NaN volume for NULL)."""
        series = cls(lengths)
        series.times.extend(times)
        series.prices.extend(prices)
        series.volumes.extend(volumes)
        for w in series.windows:
            w.valid = False  # summed on first use, from the window's start only
        return series

    @property
    def newest(self) -> int | None:
        return self.times[-1] if self.times else None

    def _grow(self, price_k: int, volume_k: int) -> None:
        if price_k > self.price_k:
            for w in self.windows:
                w.price_sum <<= price_k - self.price_k
            self.price_k = price_k
        if volume_k > self.volume_k:
            for w in self.windows:
                w.volume_sum <<= volume_k - self.volume_k
            self.volume_k = volume_k

    def stats(self, t: int) -> list[Stats]:
        """Per window (shortest first): price avg, samples, volume avg, samples in [t-W, t).

        `t` must be newer than every tick held (see `stats_at` for older ones).
        """
        out = []
        times, prices, volumes = self.times, self.prices, self.volumes
        for w in self.windows:
            cut = t - w.length
            if not w.valid:
                self._recompute(w, bisect.bisect_left(times, cut))
            lo = w.lo
            if lo < len(times) and times[lo] < cut:
                pk, vk = self.price_k, self.volume_k  # every held value fits these units
                while lo < len(times) and times[lo] < cut:
                    w.price_sum -= units(prices[lo], pk)
                    w.price_n -= 1
                    v = volumes[lo]
                    if v == v:  # not NaN
                        w.volume_sum -= units(v, vk)
                        w.volume_n -= 1
                    lo += 1
                w.lo = lo
            out.append((mean(w.price_sum, w.price_n, self.price_k), w.price_n,
                        mean(w.volume_sum, w.volume_n, self.volume_k), w.volume_n))
        return out

    def stats_at(self, t: int) -> list[Stats]:
        """Like `stats`, for any `t`, computed from scratch (for out-of-order ticks)."""
        end = bisect.bisect_left(self.times, t)
        out = []
        for w in self.windows:
            lo = bisect.bisect_left(self.times, t - w.length, 0, end)
            p, pk, n, v, vk, m = _sums(self.prices[lo:end], self.volumes[lo:end])
            out.append((mean(p, n, pk), n, mean(v, m, vk), m))
        return out

    def _recompute(self, w: _Window, lo: int) -> None:
        p, pk, n, v, vk, m = _sums(self.prices[lo:], self.volumes[lo:])
        self._grow(pk, vk)
        w.lo = lo
        w.price_sum = p << (self.price_k - pk)
        w.price_n = n
        w.volume_sum = v << (self.volume_k - vk)
        w.volume_n = m
        w.valid = True

    def add(self, t: int, price: float, volume: float | None) -> None:
        v = math.nan if volume is None else volume
        if self.times and t <= self.times[-1]:  # out of order: insert, recompute lazily
            i = bisect.bisect_left(self.times, t)
            self.times.insert(i, t)
            self.prices.insert(i, price)
            self.volumes.insert(i, v)
            for w in self.windows:
                w.valid = False
            return
        self.times.append(t)
        self.prices.append(price)
        self.volumes.append(v)
        self._grow(bits_needed(price), bits_needed(volume) if volume is not None else 0)
        p = units(price, self.price_k)
        q = units(volume, self.volume_k) if volume is not None else 0
        for w in self.windows:
            w.price_sum += p
            w.price_n += 1
            if volume is not None:
                w.volume_sum += q
                w.volume_n += 1
        first = min(w.lo for w in self.windows)
        if first >= _TRIM_AT and first * 2 >= len(self.times):
            del self.times[:first], self.prices[:first], self.volumes[:first]
            for w in self.windows:
                w.lo -= first

    def holds(self, t: int) -> bool:
        i = bisect.bisect_left(self.times, t)
        return i < len(self.times) and self.times[i] == t


def _sums(prices: array[float], volumes: array[float]) -> tuple[int, int, int, int, int, int]:
    present = [v for v in volumes if v == v]
    p, pk = exact_sum(prices, 0)
    v, vk = exact_sum(present, 0)
    return p, pk, len(prices), v, vk, len(present)


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

    def forget(self, symbols: Iterable[str]) -> None:
        """Drop the cache of `symbols` (after a failed transaction, or another writer)."""
        for symbol in set(symbols):
            self.series.pop(symbol, None)
            for rule in self.rules:
                self.states.pop((rule.name, symbol), None)
                self._stored.pop((rule.name, symbol), None)

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

    def prepare(self, conn: Connection, ticks: Sequence[Tick]) -> None:
        """Before the insert, with the batch in ``tick_batch``: reload the symbols another
        writer has stored ticks of since our newest, and load the symbols never seen."""
        if not self.rules:
            return
        touched = {str(row[0]) for row in conn.execute(queries.get("ticks_between"))}
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
        events: list[alerts.Event] = []
        changed: dict[tuple[str, str], alerts.State] = {}
        for tick in new:
            series = self.series[tick.symbol]
            t = micros(tick.time)
            newest = series.newest
            backfill = newest is not None and t <= newest
            stats = series.stats_at(t) if backfill else series.stats(t)
            series.add(t, tick.price, tick.volume_24h)
            if backfill:
                continue  # stored, but it raises nothing: its successors were judged without it
            for rule in self.rules:
                p_avg, p_n, v_avg, v_n = stats[self._index[round(rule.window * 1_000_000)]]
                value, avg, samples = ((tick.price, p_avg, p_n) if rule.metric == "price"
                                       else (tick.volume_24h, v_avg, v_n))
                key = (rule.name, tick.symbol)
                after, event = alerts.step(rule, tick.symbol, tick.time, value, avg, samples,
                                           self.states.get(key), self.repeat_interval)
                if after is None:
                    continue
                self.states[key] = after
                # The last state of the batch is what is stored: once a key has changed in
                # this batch, later steps (back to the stored value too) must replace it.
                if key in changed or (
                        (after.firing, after.episode_id, after.last_notified)
                        != self._stored.get(key)):
                    changed[key] = after
                if event is not None:
                    events.append(event)
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
