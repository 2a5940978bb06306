"""The alert cache: what a writer knows of each symbol it writes, and whether it is true. Pure.

Per symbol: its trailing windows (`cryptomonitor.alerting.windows.Series`, the ticks of the
longest window) and its alert states (`episodes.State`, by rule name), as the database holds
them; and whether the cache may be trusted for it (docs/design.md, the alert check). The rules
run over it in `cryptomonitor.alerting.engine`; it never touches the database itself: the
batch writer (`cryptomonitor.ingest.writer`) asks it questions, hands it what the repository
read, and is the only caller. Per batch, in this order:

1. ``distrust()`` when the writer's connection is new (it may have missed notifications);
   inside the batch's transaction, ``heard(...)``: what other sessions did
   (`cryptomonitor.ingest.coherence`). Symbols other writers inserted are unverified until
   checked; an UPDATE, DELETE or TRUNCATE drops everything.
2. ``proves_new(ticks)``: True when every symbol is cached and verified and every tick newer
   than its symbol's newest; then the batch is COPied as it is (the fast path), on to 4.
3. Otherwise (the general path): ``newest_known(ticks)`` is staged with the batch, the
   database answers which symbols others touched since, ``checked(ticks, touched)`` returns
   what to load, ``load(...)`` takes it, and ``stale(already)`` names the symbols of which a
   tick found stored is unknown here (another writer: forget them and start again).
4. The batch's new ticks are judged (`engine.AlertEngine.judge`, which holds them in the
   windows and changes the states) or only held (``hold``, a backfill).

It changes only inside the transaction that stores the ticks: if that transaction fails, the
writer calls ``forget(symbols)`` for every symbol of the batch, and they are loaded again on
next sight. Built without windows it caches nothing (``active`` is False); the engine always
gives it one, 1 us long even without rules, so it keeps each symbol's newest tick and proves
batches new whatever the rules.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import structlog

from cryptomonitor.alerting import episodes
from cryptomonitor.alerting.candles import Candles
from cryptomonitor.alerting.windows import Series
from cryptomonitor.models import Tick
from cryptomonitor.util.times import from_micros, micros

log = structlog.get_logger(__name__)

Key = tuple[str, str]  # (rule name, symbol): one alert


class Recent(NamedTuple):
    """The stored ticks of one symbol since some time, oldest first, for its windows."""

    symbol: str
    times: Sequence[int]  # integer microseconds since the epoch
    prices: Sequence[float]
    volumes: Sequence[float]  # NaN for a tick without volume
    traded: Sequence[float] = ()  # the traded volumes (NaN: none), for a surge rule


class Closes(NamedTuple):
    """The stored closes of one symbol's candles of one interval since some time, oldest
    first: per bucket, the time and price of its latest tick (`candles.Candles`)."""

    symbol: str
    interval: int  # microseconds
    buckets: Sequence[int]
    times: Sequence[int]
    closes: Sequence[float]


class Missing(NamedTuple):
    """What the cache must load before a batch is judged: `symbols`, their ticks from `since`
    (the longest window before the batch's first tick of them), their alert states, and for
    each candle interval (microseconds) the closes of the last so many candles stored."""

    symbols: list[str]
    since: dt.datetime
    closes: tuple[tuple[int, int], ...] = ()  # (interval, candles)


class AlertCache:
    """The windows and alert states of the symbols this writer writes, and which are trusted.

    `series` and `states` hold the same symbols (those loaded and not forgotten since); the
    engine reads and changes them in `engine.AlertEngine.judge`, nothing else does but this
    class. `unverified` is a subset of them.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        squares: bool = False,
        traded: bool = False,
        intervals: Sequence[tuple[int, int]] = (),
    ) -> None:
        """`lengths`: the window lengths the rules use, in microseconds (`engine.lengths`);
        `squares`: whether the windows keep sums of squares (`engine.squares`); `traded`:
        whether they keep the traded volumes (`engine.traded`); `intervals`: the candles the
        indicator rules read, as (interval in microseconds, closed candles kept)."""
        self.lengths = sorted(set(lengths))
        self.squares = squares
        self.traded = traded
        self.intervals = list(intervals)
        self.series: dict[str, Series] = {}
        self.states: dict[str, dict[str, episodes.State]] = {}  # symbol -> rule name -> state
        self.unverified: set[str] = set()  # cached symbols another session may have written

    @property
    def active(self) -> bool:
        """False without windows (no rule): nothing to cache, nothing to keep coherent."""
        return bool(self.lengths)

    def forget(self, symbols: Iterable[str]) -> None:
        """Drop `symbols` (after a failed transaction, or another writer's ticks)."""
        for symbol in set(symbols):
            self.series.pop(symbol, None)
            self.states.pop(symbol, None)
            self.unverified.discard(symbol)

    def distrust(self) -> None:
        """Check every cached symbol before trusting it again (a new connection may have
        missed other sessions' notifications)."""
        self.unverified.update(self.series)

    def heard(self, symbols: set[str], operations: set[str]) -> None:
        """What other sessions did (`coherence.Hearing.take`): the symbols they inserted are
        checked before they are trusted again; an update, delete or truncate may have changed
        anything, so the whole cache is dropped; a bare insert may concern any symbol."""
        self.unverified.update(symbols.intersection(self.series))
        if operations - {"INSERT"}:
            log.warning(
                "window_cache_dropped",
                operations=sorted(operations),
                reason="another session changed or removed ticks",
            )
            self.forget(list(self.series))
        elif operations:
            self.distrust()

    def proves_new(self, ticks: Sequence[Tick]) -> bool:
        """True if every tick is new for sure: each symbol cached and checked since any other
        writer's activity, each tick newer than all its symbol's stored ticks."""
        if not self.lengths:
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

    def newest_known(self, ticks: Sequence[Tick]) -> list[dt.datetime | None] | None:
        """Per tick, the newest tick of its symbol the cache holds (None: not cached); None
        when the cache is not `active`."""
        if not self.lengths:
            return None
        newest: dict[str, dt.datetime | None] = {}
        out = []
        for tick in ticks:
            if tick.symbol not in newest:
                series = self.series.get(tick.symbol)
                n = series.newest if series is not None else None
                newest[tick.symbol] = from_micros(n) if n is not None else None
            out.append(newest[tick.symbol])
        return out

    def checked(self, ticks: Sequence[Tick], touched: set[str]) -> Missing | None:
        """The database was asked about the symbols of `ticks`: those in `touched` got ticks
        from another writer since this cache's newest (they are dropped), the rest are true.
        Returns what to `load` before the batch is judged: its symbols not cached (None: all
        are)."""
        self.unverified.difference_update(t.symbol for t in ticks)
        if touched:
            log.warning(
                "window_reloaded",
                symbols=sorted(touched),
                reason="another writer stored ticks of these symbols",
            )
            self.forget(touched)
        if not self.lengths:
            return None
        first: dict[str, int] = {}
        for tick in ticks:
            if tick.symbol not in self.series:
                t = micros(tick.time)
                if t < first.get(tick.symbol, t + 1):
                    first[tick.symbol] = t
        if not first:
            return None
        start = min(first.values())
        closes = tuple((interval, keep + 1) for interval, keep in self.intervals)  # + the open one
        return Missing(sorted(first), from_micros(start - self.lengths[-1]), closes)

    def load(
        self,
        missing: Missing,
        windows: Iterable[Recent],
        states: Iterable[episodes.State],
        closes: Iterable[Closes] = (),
    ) -> None:
        """Cache the `missing` symbols from the database: their ticks since `missing.since`
        (a symbol without any is cached empty), their alert states and their candles' closes
        (`missing.closes`)."""
        for symbol in missing.symbols:
            self.series[symbol] = Series(self.lengths, self.squares, self.traded)
            self.states[symbol] = {}
        for recent in windows:
            self.series[recent.symbol] = Series.loaded(
                self.lengths,
                recent.times,
                recent.prices,
                recent.volumes,
                self.squares,
                (recent.traded or [math.nan] * len(recent.times)) if self.traded else None,
            )
        for state in states:
            self.states[state.symbol][state.rule] = state
        if self.intervals:
            self._load_candles(missing.symbols, closes)

    def _load_candles(self, symbols: Iterable[str], closes: Iterable[Closes]) -> None:
        stored = {(c.symbol, c.interval): c for c in closes}
        for symbol in symbols:
            candles = []
            for interval, keep in self.intervals:
                c = stored.get((symbol, interval))
                candles.append(
                    Candles.loaded(interval, keep, c.buckets, c.times, c.closes)
                    if c is not None
                    else Candles(interval, keep)
                )
            self.series[symbol].candles = candles

    def stale(self, already: Sequence[Tick]) -> set[str]:
        """Symbols of which a tick found already stored is unknown to the cache: another
        writer stored it, and the cache must be reloaded before judging."""
        series = self.series
        return {
            t.symbol
            for t in already
            if t.symbol in series and not series[t.symbol].holds(micros(t.time))
        }

    def hold(self, ticks: Sequence[Tick]) -> None:
        """Hold `ticks` in the windows of their cached symbols without judging them (a
        backfill: history raises no alert, but the live ticks after it count it)."""
        for tick in ticks:
            series = self.series.get(tick.symbol)
            if series is not None:
                series.add(micros(tick.time), tick.price, tick.volume_24h, tick.volume)
