"""Trailing windows with exact sums: the arithmetic under the alert check (`engine`).

Each symbol keeps the ticks of its longest window in compact arrays (integer microseconds, so
the window edges are exact) with running sums per window: a new tick in time order costs O(1)
amortized, whatever the window holds. A series built with ``squares`` also keeps exact sums
of the squares, for the sample variance of each window (`Series.spread`: the z-score); one
built with ``traded`` also keeps each tick's traded volume and its sums (`Series.traded_sums`:
the volume surge). The sums
are EXACT (every double is a whole multiple of
2**-k for some k: they are summed as Python ints) and the average is the correctly rounded
quotient, so it depends only on the ticks in the window, never on the order they came in or on
when the cache was loaded. Pure: no database, no I/O.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from array import array
from collections.abc import Iterable, Sequence

from cryptomonitor.alerting.candles import Candles
from cryptomonitor.util import exact

_TRIM_AT = 4096  # drop expired ticks from the front of the arrays in chunks at least this big


_ldexp = math.ldexp


@dataclasses.dataclass
class _Window:
    length: int  # microseconds
    lo: int = 0  # index of the first tick inside the window
    price_sum: int = 0  # exact, in units of 2**-Series.price_k
    price_n: int = 0
    volume_sum: int = 0  # exact, in units of 2**-Series.volume_k
    volume_n: int = 0
    price_sq: int = 0  # exact sum of squares, in units of 2**-(2 x Series.price_k) (squares only)
    volume_sq: int = 0
    traded_sum: int = 0  # exact, in units of 2**-Series.traded_k (traded only)
    traded_n: int = 0
    valid: bool = True  # False after an out-of-order insert: recompute before the next use


Stats = tuple[float | None, int, float | None, int]


def variance(total: int, squares: int, n: int, k: int) -> float | None:
    """The sample variance of `n` values from their exact sum and sum of squares (in units of
    2**-k and 2**-2k): one correctly rounded division of exact integers."""
    if n < 2:
        return None
    return max(n * squares - total * total, 0) / ((n * (n - 1)) << (2 * k))


class Series:
    """The recent ticks of one symbol and the running sums of each window over them.

    Sums are whole numbers of 2**-k units, k per metric and series, grown (all sums shifted
    left) when a value needs finer units: small ints, exact arithmetic.
    """

    __slots__ = (
        "candles",
        "held_units",
        "price_k",
        "prices",
        "squares",
        "times",
        "traded",
        "traded_k",
        "traded_k_at_stats",
        "traded_sums",
        "traded_volumes",
        "volume_k",
        "volumes",
        "windows",
    )

    def __init__(self, lengths: Iterable[int], squares: bool = False, traded: bool = False) -> None:
        self.times = array("q")
        self.prices = array("d")
        self.volumes = array("d")  # NaN where the tick has no volume
        self.windows = [_Window(length) for length in sorted(set(lengths))]
        self.price_k = 0
        self.volume_k = 0
        self.squares = squares
        #: The newest tick's terms as `advance` added them to every window: its price and
        #: volume in the units of the sums, and the volume samples it added (0: no volume);
        #: `mean` and `spread` take them out again.
        self.held_units: tuple[int, int, int] = (0, 0, 0)
        self.traded = traded
        self.traded_volumes = array("d")  # with `traded`: NaN where the tick has none
        self.traded_k = 0
        #: With `traded`: per window, the sum of the traded volumes and how many ticks had
        #: one, at the last `stats` call.
        self.traded_sums: list[tuple[int, int]] = []
        self.traded_k_at_stats = 0
        #: The candles of each interval the indicator rules read (`candles.Candles`), which
        #: `add` keeps and the engine rolls; set by the alert cache.
        self.candles: list[Candles] = []

    @classmethod
    def loaded(
        cls,
        lengths: Iterable[int],
        times: Sequence[int],
        prices: Sequence[float],
        volumes: Sequence[float],
        squares: bool = False,
        traded: Sequence[float] | None = None,
    ) -> Series:
        """A series from stored ticks (oldest first; NaN volume for NULL); `traded`: their
        traded volumes, for a series that keeps them."""
        series = cls(lengths, squares, traded is not None)
        series.times.extend(times)
        series.prices.extend(prices)
        series.volumes.extend(volumes)
        if traded is not None:
            series.traded_volumes.extend(traded)
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
                w.price_sq <<= 2 * (price_k - self.price_k)
            self.price_k = price_k
        if volume_k > self.volume_k:
            for w in self.windows:
                w.volume_sum <<= volume_k - self.volume_k
                w.volume_sq <<= 2 * (volume_k - self.volume_k)
            self.volume_k = volume_k

    def _grow_traded(self, traded_k: int) -> None:
        if traded_k > self.traded_k:
            for w in self.windows:
                w.traded_sum <<= traded_k - self.traded_k
            self.traded_k = traded_k

    def stats(self, t: int) -> list[Stats]:
        """Per window (shortest first): price avg, samples, volume avg, samples in [t-W, t).

        `t` must be newer than every tick held (see `stats_at` for older ones).
        """
        self._evict(t)
        pk, vk = self.price_k, self.volume_k
        return [
            (
                exact.mean(w.price_sum, w.price_n, pk),
                w.price_n,
                exact.mean(w.volume_sum, w.volume_n, vk),
                w.volume_n,
            )
            for w in self.windows
        ]

    def _evict(self, t: int) -> None:
        """Take the ticks before ``t - W`` out of each window W's sums."""
        times, prices, volumes = self.times, self.prices, self.volumes
        n = len(times)
        squares, traded = self.squares, self.traded
        traded_volumes, tk = self.traded_volumes, self.traded_k
        for w in self.windows:
            cut = t - w.length
            if not w.valid:
                self._recompute(w, bisect.bisect_left(times, cut))
            lo = w.lo
            if lo < n and times[lo] < cut:
                pk, vk = self.price_k, self.volume_k  # every held value fits these units
                try:  # `units`, inline (this runs per tick): a power-of-two scaling is exact
                    while lo < n and times[lo] < cut:
                        p = int(_ldexp(prices[lo], pk))
                        w.price_sum -= p
                        w.price_n -= 1
                        v = volumes[lo]
                        if v == v:  # not NaN
                            q = int(_ldexp(v, vk))
                            w.volume_sum -= q
                            w.volume_n -= 1
                            if squares:
                                w.volume_sq -= q * q
                        if squares:
                            w.price_sq -= p * p
                        if traded:
                            x = traded_volumes[lo]
                            if x == x:
                                w.traded_sum -= int(_ldexp(x, tk))
                                w.traded_n -= 1
                        lo += 1
                    w.lo = lo
                except OverflowError:  # units too fine for a float: the slow exact way
                    self._recompute(w, bisect.bisect_left(times, cut))
        if traded:
            self._keep_extras()

    def mean(self, i: int, is_price: bool) -> tuple[float | None, int]:
        """After `advance`: the average price (or volume) in window `i` and its samples, as
        `stats` saw them before the tick it held (the sums now less that tick's terms: the
        same exact quotient, computed only for the windows a rule reads)."""
        w = self.windows[i]
        p, q, m = self.held_units
        if is_price:
            return exact.mean(w.price_sum - p, w.price_n - 1, self.price_k), w.price_n - 1
        return exact.mean(w.volume_sum - q, w.volume_n - m, self.volume_k), w.volume_n - m

    def spread(self, i: int, is_price: bool) -> float | None:
        """After `advance`: the sample variance of the price (or volume) in window `i` as its
        `stats` saw it, before the tick it held: the sums now less that tick's terms, exactly
        (so only the windows a rule reads are computed, with the digits of any other way)."""
        w = self.windows[i]
        p, q, m = self.held_units
        if is_price:
            return variance(w.price_sum - p, w.price_sq - p * p, w.price_n - 1, self.price_k)
        return variance(w.volume_sum - q, w.volume_sq - q * q, w.volume_n - m, self.volume_k)

    def _keep_extras(self) -> None:
        """After `_evict`: the windows' traded sums (`traded`)."""
        if self.traded:
            # exact, in units of 2**-traded_k_at_stats (the tick `advance` holds next may grow
            # the series' units)
            self.traded_sums = [(w.traded_sum, w.traded_n) for w in self.windows]
            self.traded_k_at_stats = self.traded_k

    def stats_at(self, t: int) -> list[Stats]:
        """Like `stats`, for any `t`, computed from scratch (for out-of-order ticks)."""
        end = bisect.bisect_left(self.times, t)
        out = []
        for w in self.windows:
            lo = bisect.bisect_left(self.times, t - w.length, 0, end)
            p, pk, n, v, vk, m = _sums(self.prices[lo:end], self.volumes[lo:end])
            out.append((exact.mean(p, n, pk), n, exact.mean(v, m, vk), m))
        return out

    def _recompute(self, w: _Window, lo: int) -> None:
        p, pk, n, v, vk, m = _sums(self.prices[lo:], self.volumes[lo:])
        self._grow(pk, vk)
        w.lo = lo
        w.price_sum = p << (self.price_k - pk)
        w.price_n = n
        w.volume_sum = v << (self.volume_k - vk)
        w.volume_n = m
        if self.squares:
            pk, vk = self.price_k, self.volume_k
            w.price_sq = sum(exact.units(x, pk) ** 2 for x in self.prices[lo:])
            w.volume_sq = sum(exact.units(x, vk) ** 2 for x in self.volumes[lo:] if x == x)
        if self.traded:
            present = [x for x in self.traded_volumes[lo:] if x == x]
            total, k = exact.exact_sum(present, 0)
            self._grow_traded(k)
            w.traded_sum = total << (self.traded_k - k)
            w.traded_n = len(present)
        w.valid = True

    def add(self, t: int, price: float, volume: float | None, traded: float | None = None) -> None:
        """Hold one more tick (any time: an older one is inserted in place)."""
        if self.times and t <= self.times[-1]:  # out of order: insert, recompute lazily
            i = bisect.bisect_left(self.times, t)
            self.times.insert(i, t)
            self.prices.insert(i, price)
            self.volumes.insert(i, math.nan if volume is None else volume)
            if self.traded:
                self.traded_volumes.insert(i, math.nan if traded is None else traded)
            for w in self.windows:
                w.valid = False
            for c in self.candles:
                c.insert(t, price)
            return
        self.advance(t, price, volume, traded)
        for c in self.candles:
            c.roll(t, price)

    def advance(
        self, t: int, price: float, volume: float | None, traded: float | None = None
    ) -> None:
        """Hold the tick, which must be newer than every held one, after taking what is
        older than each window out of it (the common case, written out for speed: this runs
        for every tick): `mean` and `spread` then give each window's figures as they were
        before it. `traded`: its traded volume, held by a series that keeps them."""
        self._evict(t)
        if self.traded:
            self._hold_traded(traded)
        times, prices, volumes = self.times, self.prices, self.volumes
        pk, vk = self.price_k, self.volume_k
        times.append(t)
        prices.append(price)
        volumes.append(math.nan if volume is None else volume)
        # bits_needed and units, inline: most values already fit the series' units.
        need_p = 53 - math.frexp(price)[1]
        need_v = 53 - math.frexp(volume)[1] if volume else 0
        if need_p > pk or need_v > vk:
            self._grow(
                exact.bits_needed(price), exact.bits_needed(volume) if volume is not None else 0
            )
            pk, vk = self.price_k, self.volume_k
        try:  # `units`, inline
            p = int(_ldexp(price, pk))
            q = int(_ldexp(volume, vk)) if volume is not None else 0
        except OverflowError:
            p, q = exact.units(price, pk), exact.units(volume, vk) if volume is not None else 0
        first = len(times)
        squares = self.squares
        self.held_units = (p, q, 0 if volume is None else 1)
        for w in self.windows:
            w.price_sum += p
            w.price_n += 1
            if volume is not None:
                w.volume_sum += q
                w.volume_n += 1
                if squares:
                    w.volume_sq += q * q
            if squares:
                w.price_sq += p * p
            if w.lo < first:
                first = w.lo
        if first >= _TRIM_AT and first * 2 >= len(times):
            del times[:first], prices[:first], volumes[:first]
            if self.traded:
                del self.traded_volumes[:first]
            for w in self.windows:
                w.lo -= first

    def _hold_traded(self, traded: float | None) -> None:
        """Append a tick's traded volume and add it to every window's sum (before the tick's
        time and price are appended: `advance`)."""
        if traded is None or traded != traded:
            self.traded_volumes.append(math.nan)
            return
        need = exact.bits_needed(traded)
        if need > self.traded_k:
            self._grow_traded(need)
        q = exact.units(traded, self.traded_k)
        self.traded_volumes.append(traded)
        for w in self.windows:
            w.traded_sum += q
            w.traded_n += 1

    def holds(self, t: int) -> bool:
        i = bisect.bisect_left(self.times, t)
        return i < len(self.times) and self.times[i] == t


def _sums(prices: array[float], volumes: array[float]) -> tuple[int, int, int, int, int, int]:
    present = [v for v in volumes if v == v]
    p, pk = exact.exact_sum(prices, 0)
    v, vk = exact.exact_sum(present, 0)
    return p, pk, len(prices), v, vk, len(present)
