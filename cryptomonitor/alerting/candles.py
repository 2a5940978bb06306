"""The candles of one symbol and interval, as the indicator rules read them: their closes. Pure.

A candle is the bucket ``[b, b + interval)`` (``b`` a multiple of the interval since
1970-01-01, so 2000-01-01 too: the buckets of the ``ohlcv_*`` views); its close is the price of
its latest tick. Only buckets with ticks are candles (TradingView's bars: an hour without a
trade has none). The candle of the newest tick is open; it closes when a tick of a later bucket
arrives (`roll`), and the rules of that interval judge it then, with the close time
``b + interval`` as the event's time. A tick older than the newest (a backfill, a late tick)
goes into its own bucket (`insert`), so that the closes held are those the ticks stored give,
which is what a restarted engine loads (`loaded`).

The candles kept are those the rules read: the last `keep` closed candles before the open
one (a count of candles, not a span of time: a gap without ticks shortens nothing).

`memo` keeps the indicators computed at the last closed candles (the engine's), so that a
cross, which reads the candle before too, computes each value once: a candle's closes are
those of its own and earlier buckets, which only a late tick (`insert`) changes, and it clears
the memo.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence
from fractions import Fraction

#: An indicator at a candle's close, as the engine memoizes it: its float and its exact value
#: (None: too few candles), keyed by ((kind, length), the closes it reads).
Line = tuple[float, Fraction | float] | None
LineKey = tuple[tuple[str, int], int]


class Candles:
    """The closes of one symbol's candles of one `interval` (microseconds), oldest first; the
    last one is the open candle."""

    __slots__ = ("buckets", "closes", "interval", "keep", "memo", "times")

    def __init__(self, interval: int, keep: int) -> None:
        self.interval = interval
        self.keep = keep  # closed candles the rules read, at most (their warm-up, and one more)
        self.buckets = array("q")  # each candle's start, microseconds
        self.times = array("q")  # the time of its latest tick
        self.closes = array("d")  # the price of that tick
        #: Values computed from the closes up to a closed candle: {bucket: {key: value}},
        #: for the last two closed candles at most.
        self.memo: dict[int, dict[LineKey, Line]] = {}

    @classmethod
    def loaded(
        cls,
        interval: int,
        keep: int,
        buckets: Sequence[int],
        times: Sequence[int],
        closes: Sequence[float],
    ) -> Candles:
        """Candles from the stored ticks' closes per bucket (oldest first)."""
        candles = cls(interval, keep)
        candles.buckets.extend(buckets)
        candles.times.extend(times)
        candles.closes.extend(closes)
        return candles

    def roll(self, t: int, price: float) -> int | None:
        """Hold a tick newer than every tick held; the start of the candle it closes (the
        open one, when the tick opens a later bucket), or None."""
        bucket = t - t % self.interval
        buckets = self.buckets
        if buckets and bucket == buckets[-1]:
            self.times[-1] = t
            self.closes[-1] = price
            return None
        closed = buckets[-1] if buckets else None
        if closed is not None and len(self.memo) > 1:  # the candle before `closed` stays
            before = buckets[-2] if len(buckets) > 1 else closed
            for b in [b for b in self.memo if b < before]:
                del self.memo[b]
        buckets.append(bucket)
        self.times.append(t)
        self.closes.append(price)
        if len(buckets) > 2 * self.keep + 8:  # the open candle and `keep` closed ones stay
            drop = len(buckets) - self.keep - 1
            del buckets[:drop], self.times[:drop], self.closes[:drop]
        return closed

    def insert(self, t: int, price: float) -> None:
        """Hold a tick of any time: the close of its bucket changes if it is that bucket's
        latest tick; a bucket without candle gets one."""
        bucket = t - t % self.interval
        self.memo.clear()  # a close, or a candle, changes under the values computed
        i = bisect.bisect_left(self.buckets, bucket)
        if i < len(self.buckets) and self.buckets[i] == bucket:
            if t > self.times[i]:
                self.times[i] = t
                self.closes[i] = price
            return
        self.buckets.insert(i, bucket)
        self.times.insert(i, t)
        self.closes.insert(i, price)

    def closes_until(self, bucket: int, count: int) -> Sequence[float]:
        """The closes of the last `count` candles up to the one starting at `bucket`, that
        candle included, oldest first (fewer where fewer are held)."""
        hi = bisect.bisect_right(self.buckets, bucket)
        return self.closes[max(0, hi - count) : hi]
