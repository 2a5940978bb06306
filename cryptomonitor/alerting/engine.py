"""The alert engine: the rules run over each symbol's trailing windows and alert states. Pure.

For every new tick the rules need the average of the symbol's ticks in ``[t - W, t)`` for each
window length W (the definition is the SQL function ``trailing_window``), a z-score also
their sample variance, a move the reference tick at or before ``t - lookback``. Each symbol keeps
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

import bisect
import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from fractions import Fraction

from cryptomonitor.alerting import cache, episodes, indicators
from cryptomonitor.alerting.candles import Candles, Line
from cryptomonitor.alerting.episodes import Reading
from cryptomonitor.alerting.rules import Rule, evaluation_order
from cryptomonitor.alerting.windows import Series
from cryptomonitor.models import Tick
from cryptomonitor.util import exact
from cryptomonitor.util.times import MICROS_PER_SECOND, from_micros, micros


@dataclasses.dataclass(frozen=True)
class Judgement:
    """What the rules found in a batch: the events raised, and the alert states they changed
    (each as the batch leaves it), for the writer to store with the ticks."""

    events: list[episodes.Event]
    changed: dict[cache.Key, episodes.State]


NOTHING = Judgement([], {})


# The kinds of condition, as the per-tick loop tells them apart.
_LEVEL, _RATIO, _DEVIATION, _ZSCORE, _MOVE, _SURGE, _COMBINED, _BAND, _CANDLE = range(9)
_KINDS = {
    "above": _LEVEL,
    "below": _LEVEL,
    "ratio_above": _RATIO,
    "deviation_above": _DEVIATION,
    "zscore": _ZSCORE,
    "move": _MOVE,
    "surge": _SURGE,
    "all": _COMBINED,
    "any": _COMBINED,
    "inside": _ZSCORE,  # a Bollinger band: a z-score's figures; a band of levels: _BAND
    "outside": _ZSCORE,
}


def _kind(rule: Rule) -> int:
    if rule.interval:
        return _CANDLE
    if rule.band is not None:
        return _BAND
    return _KINDS[rule.condition]


# Per rule, what the per-tick loop needs, looked up once: the rule, its name, whether it reads
# the price, its kind, the index of its window, the samples it needs, and for a move its
# lookback and reference span in microseconds and whether it is relative (a surge: its
# baseline and window in microseconds, and the index of its baseline's window; an indicator
# rule: the index of its interval's candles, the candles its fast and slow indicators read,
# and the interval in microseconds).
_Plan = tuple[Rule, str, bool, int, int, int, int, int, bool | int]
# A plan scoped to one symbol and source: the same, and the threshold for the symbol.
_Scoped = tuple[Rule, str, bool, int, int, int, int, int, bool | int, float]


class AlertEngine:
    """The rules, compiled once for the per-tick loop."""

    def __init__(self, rules: Sequence[Rule], repeat_interval: float) -> None:
        # Every combination after its members: it reads their states at the same tick.
        self.rules = evaluation_order(tuple(rules))
        self.repeat_interval = repeat_interval
        #: The window lengths the rules use, in microseconds, shortest first: the cache's.
        self.lengths = sorted(
            {round(length * MICROS_PER_SECOND) for r in self.rules for length in r.lengths}
        )
        if not self.lengths:  # levels only, or no rule: no history needed, but the cache
            # keeps each symbol's newest tick (1 us) and is active: it proves a batch new
            # (the fast path) whatever the rules
            self.lengths = [1]
        #: Whether the windows keep sums of squares (a z-score or a Bollinger band needs them).
        self.squares = any(r.spread for r in self.rules)
        #: The candles the indicator rules read: (interval, closed candles kept), in us.
        keep: dict[int, int] = {}
        for r in self.rules:
            if r.interval:
                interval = round(r.interval * MICROS_PER_SECOND)
                # The longest warm-up, and one candle more: a cross reads the one before too.
                keep[interval] = max(keep.get(interval, 0), *(span + 1 for span in r.spans))
        self.intervals = sorted(keep.items())
        candle_index = {interval: i for i, (interval, _) in enumerate(self.intervals)}
        #: Per indicator rule: its fast and slow indicators as (kind, length).
        self._specs: dict[str, tuple[tuple[str, int], tuple[str, int] | None]] = {
            r.name: (indicators.parse(r.fast), indicators.parse(r.slow) if r.slow else None)
            for r in self.rules
            if r.interval
        }
        #: Whether they keep the traded volumes (a surge rule needs them).
        self.traded = any(r.condition == "surge" for r in self.rules)
        index = {length: i for i, length in enumerate(self.lengths)}
        self._plan: list[_Plan] = []
        for rule in self.rules:
            lengths = [round(length * MICROS_PER_SECOND) for length in rule.lengths]
            lookback = round(rule.lookback * MICROS_PER_SECOND)
            window = index[lengths[0]] if lengths else -1
            if rule.condition == "surge":  # coverage from B, the span W, the baseline's window
                far, near = round(rule.baseline * MICROS_PER_SECOND), round(rule.window * 1e6)
                extra: tuple[int, int, bool | int] = (far, near, index[lengths[1]])
            elif rule.interval:
                interval = round(rule.interval * MICROS_PER_SECOND)
                window = candle_index[interval]
                extra = (*rule.spans, interval)
            else:
                extra = (lookback, 2 * lookback, rule.unit == "relative")
            self._plan.append(
                (
                    rule,
                    rule.name,
                    rule.metric == "price",
                    _kind(rule),
                    window,
                    rule.samples_needed,
                    *extra,
                )
            )
        self._scoped: dict[tuple[str, str], list[_Scoped]] = {}

    def new_cache(self) -> cache.AlertCache:
        """An empty alert cache with the windows this engine's rules read."""
        return cache.AlertCache(self.lengths, self.squares, self.traded, self.intervals)

    def _plans(self, symbol: str, source: str) -> list[_Scoped]:
        """The rules that judge `symbol`'s ticks from `source` (scoped by symbols, sources and
        per-symbol thresholds), with the threshold each uses."""
        plans = self._scoped[(symbol, source)] = [
            (*p, p[0].threshold_for(symbol) or 0.0)
            for p in self._plan
            if p[0].applies(symbol, source)
        ]
        return plans

    # The per-tick loop, written out for speed (no call per rule and tick): hence its length.
    def judge(self, known: cache.AlertCache, ticks: Sequence[Tick]) -> Judgement:  # noqa: C901
        """Hold `ticks` (oldest first, their symbols cached in `known`, which was built with
        this engine's `lengths`) in their windows and run the rules over them.

        Changes `known` (the ticks held, the alert states stepped) and returns the events
        raised and the states changed. A tick not newer than its symbol's newest is held but
        judges nothing: its successors were judged without it.
        """
        if not self.rules:
            known.hold(ticks)  # the newest of each symbol: what proves the next batch new
            return NOTHING
        if (
            (self.squares and not known.squares)
            or (self.traded and not known.traded)
            or known.intervals != self.intervals
        ):
            raise ValueError("the alert cache lacks windows these rules read: use new_cache()")
        candled = bool(self.intervals)
        events: list[episodes.Event] = []
        changed: dict[cache.Key, episodes.State] = {}
        repeat, step, scoped = self.repeat_interval, episodes.step, self._scoped
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
                series.add(t, price, volume, tick.volume)
                continue  # stored, but it raises nothing: its successors were judged without it
            plans = scoped.get((symbol, tick.source))
            if plans is None:
                plans = self._plans(symbol, tick.source)
            series.advance(t, price, volume, tick.volume)
            closed = [c.roll(t, price) for c in series.candles] if candled else None
            states = all_states[symbol]
            value: float | None
            for rule, name, is_price, kind, w, min_samples, lookback, span, relative, x in plans:
                value = price if is_price else volume
                reading: Reading | None = None  # built only once the rule must step
                ref = spread = None
                samples: int | None = None
                at = time
                if kind == _CANDLE:  # judged when a candle closes, at its close time
                    if closed is None or (bucket := closed[w]) is None:
                        continue
                    candles = series.candles[w]
                    reading = self._indicator(rule, symbol, candles, bucket, (lookback, span), x)
                    if reading is None:
                        continue
                    if reading.detail in ("no", ""):  # a cross that is not one opens nothing
                        state = states.get(name)  # (an open episode goes on)
                        if state is None or not (state.firing or state.pending_since):
                            continue
                    value, delta, scale = reading.value, reading.delta, reading.scale
                    at = from_micros(bucket + int(relative))
                elif kind == _SURGE:
                    reading = _surge(series, tick.volume, t, w, int(relative), lookback, span)
                    if reading is None or reading.samples is None or reading.samples < min_samples:
                        continue
                    value, delta, scale = reading.value, reading.delta, reading.scale
                elif kind == _COMBINED:  # its Reading (the members firing) once it steps
                    firing = [m for m in rule.of if (st := states.get(m)) and st.firing]
                    value = delta = float(len(firing))
                    scale = 1.0
                elif value is None:
                    continue  # no value: this tick decides nothing for the rule
                elif kind in (_LEVEL, _BAND):
                    delta, scale = value, 1.0
                elif kind == _MOVE:
                    ref = _reference(series, t - lookback, t - span, is_price)
                    if ref is None or (relative and not ref > 0):
                        continue  # no reference (yet): no decision
                    delta, scale = value - ref, ref if relative else 1.0
                else:
                    avg, samples = series.mean(w, is_price)
                    if avg is None or samples < min_samples:
                        continue  # this window decides nothing: the alert stays as it is
                    ref = avg
                    if kind == _ZSCORE:
                        var = series.spread(w, is_price)
                        if var is None or not var > 0:
                            continue
                        spread = math.sqrt(var)
                        delta, scale = value - avg, spread
                    else:
                        if not avg > 0:
                            continue
                        delta, scale = (value if kind == _RATIO else value - avg), avg
                state = states.get(name)
                if (state is None or not (state.firing or state.pending_since)) and not (
                    rule.holds(delta, scale, x)
                    if reading is None or reading.decided is None
                    else reading.decided[0]
                ):
                    continue  # quiet, and it was: nothing to record
                if reading is None:
                    detail = ",".join(firing) if kind == _COMBINED else None
                    reading = Reading(value, delta, scale, ref, samples, spread, detail)
                after, event = step(rule, symbol, at, reading, state, repeat)
                if after is None or after is state:
                    continue  # no change (firing, not yet due to repeat): nothing to store
                # The batch's last change of a state is what is stored.
                states[name] = changed[(name, symbol)] = after
                if event is not None and not rule.silent:
                    events.append(event)
        return Judgement(events, changed)

    def _indicator(
        self,
        rule: Rule,
        symbol: str,
        candles: Candles,
        bucket: int,
        spans: tuple[int, int],
        x: float,
    ) -> Reading | None:
        """An indicator rule's reading at the close of the candle starting at `bucket`: the
        indicator (a level), or the fast one against the slow one (a cross), from the closes
        of their warm-up spans; None while there are too few candles. The condition is decided
        exactly (`Reading.decided`, at `x` and at the clearing level). A cross's `detail` says
        whether the previous candle's pair was on the other side of the margin `x` ("yes"),
        not ("no"), or unknown (""): only a "yes" opens an episode."""
        fast_spec, slow_spec = self._specs[rule.name]
        fast_span, slow_span = spans
        recover = rule.recover_for(symbol)
        y = x if recover is None else recover
        fast = self._line(fast_spec, candles, bucket, fast_span)
        if fast is None:
            return None
        if slow_spec is None:  # a level: above / below
            v = fast[1]
            decided = (v > x, v > y) if rule.condition == "above" else (v < x, v < y)
            span = len(candles.closes_until(bucket, fast_span))
            return Reading(fast[0], fast[0], 1.0, samples=span, decided=decided)
        slow = self._line(slow_spec, candles, bucket, slow_span)
        if slow is None or not slow[1] > 0:
            return None
        # Whether the previous candle was on the other side: the ALERT is a cross, not a start.
        i = bisect.bisect_left(candles.buckets, bucket) - 1
        crossed = ""
        if i >= 0:
            before = candles.buckets[i]
            fast_before = self._line(fast_spec, candles, before, fast_span)
            slow_before = self._line(slow_spec, candles, before, slow_span)
            if fast_before is not None and slow_before is not None:
                other_side = not _crossed(rule.direction, fast_before[1], slow_before[1], x)
                crossed = "yes" if other_side else "no"
        decided = (
            _crossed(rule.direction, fast[1], slow[1], x),
            _crossed(rule.direction, fast[1], slow[1], y),
        )
        span = len(candles.closes_until(bucket, max(fast_span, slow_span)))
        return Reading(
            fast[0], fast[0] - slow[0], slow[0], slow[0], span, detail=crossed, decided=decided
        )

    @staticmethod
    def _line(spec: tuple[str, int], candles: Candles, bucket: int, span: int) -> Line:
        """An indicator at a candle's close: its float, and its exact value as compared
        (computed once a candle: a cross reads it again at the next close, `Candles.memo`)."""
        memo = candles.memo.get(bucket)
        if memo is None:
            memo = candles.memo[bucket] = {}
        key = (spec, span)
        if key in memo:
            return memo[key]
        closes = candles.closes_until(bucket, span)
        v = indicators.value(*spec, closes)
        line = None if v is None else (v, indicators.exact(*spec, closes, v))
        memo[key] = line
        return line


def _crossed(direction: str, fast: Fraction | float, slow: Fraction | float, margin: float) -> bool:
    """A cross's condition, exactly: fast - slow > margin x slow (up; down: the other way).
    Without a margin, a comparison (exact between floats and Fractions alike); with one, in
    Fractions (a float's difference or product would round)."""
    if margin == 0:
        return fast > slow if direction == "up" else slow > fast
    f, s = Fraction(fast), Fraction(slow)
    gap = f - s if direction == "up" else s - f
    return gap > Fraction(margin) * s


def _surge(
    series: Series, traded: float | None, t: int, w: int, w_full: int, far: int, near: int
) -> Reading | None:
    """A surge's reading at `t`: the traded volume of (t - near, t] (this tick's included)
    against its average per `near` over (t - far, t - near], exactly; None without this
    tick's traded volume, a history reaching back `far`, or a positive baseline."""
    if traded is None:
        return None
    times = series.times
    i = bisect.bisect_right(times, t - far) - 1  # a tick at or before t - B ...
    if i < 0 or times[i] < t - far - near:  # ... and not before t - B - W
        return None
    (recent, _), (full, n_full) = series.traded_sums[w], series.traded_sums[w_full]
    n_rest = n_full - series.traded_sums[w][1]
    k = series.traded_k_at_stats
    rest = full - recent  # exact: the same units
    if not rest > 0:
        return None
    k2 = max(k, exact.bits_needed(traded))
    total = ((recent << (k2 - k)) + exact.units(traded, k2)) / (1 << k2)
    baseline = rest / (1 << k) * near / (far - near)
    return Reading(total, total, baseline, baseline, n_rest)


def _reference(series: Series, at: int, oldest: int, is_price: bool) -> float | None:
    """The value of the latest tick held at or before `at` (and not before `oldest`) whose
    metric is known: a move's reference, or None."""
    times = series.times
    i = bisect.bisect_right(times, at) - 1
    values = series.prices if is_price else series.volumes
    while i >= 0 and times[i] >= oldest:
        v = values[i]
        if v == v:  # not NaN (an unknown volume)
            return v
        i -= 1
    return None
