"""Replay recorded 1-minute OHLCV bars through the live pipeline (store + alerts).

Input: CSV with the header ``timestamp,open,high,low,close,volume``, one bar per row stamped
with its OPEN time in UTC (the format of Bybit's kline export). Each bar becomes four ticks
inside its minute, in an order that reproduces the bar:

    +0 s open, +15 s and +30 s the two extremes, +45 s close

with the low first on a rising bar (close >= open) and the high first on a falling one. Each
tick carries ``volume_24h``: the sum of the volumes of the bars of the trailing 24 hours up to
and including this one (the CSV's unit, usually the base coin), the way a source's rolling
24-hour volume behaves. Until the bars read span 24 hours (the file's first 1,439 minutes) that
sum is not yet a 24-hour volume: those ticks carry None (unknown), so that no volume rule
judges a sum still building up from zero; the traded ``volume`` of each bar is kept all along.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import datetime as dt
import gzip
import math
import pathlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from cryptomonitor.exceptions import ReplayError
from cryptomonitor.models import Tick
from cryptomonitor.sources import klines
from cryptomonitor.util import exact, times

SOURCE = "replay"
HEADER = ["timestamp", "open", "high", "low", "close", "volume"]
TICK_OFFSETS = (0, 15, 30, 45)
_OFFSETS = tuple(dt.timedelta(seconds=s) for s in TICK_OFFSETS)
DAY = dt.timedelta(days=1)
MINUTE = dt.timedelta(minutes=1)
_UNIT_BITS = 1074  # every finite double is a whole multiple of 2**-1074
_UNIT = 1 << _UNIT_BITS


@dataclasses.dataclass(frozen=True)
class Bar:
    time: dt.datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


def read_bars(path: pathlib.Path, skip: int = 0, limit: int | None = None) -> Iterator[Bar]:
    """The bars of `path` (plain or gzipped CSV) in file order; ReplayError names the line of a
    malformed row, or what is wrong with the file."""
    try:
        f: IO[str] = (
            gzip.open(path, "rt", newline="", encoding="utf-8")  # noqa: SIM115
            if path.suffix == ".gz"
            else path.open(newline="", encoding="utf-8")
        )
    except OSError as exc:
        raise ReplayError(f"cannot read {path}: {exc.strerror}") from exc
    with f:
        try:
            yield from parse_bars(f, path, skip, limit)
        except (UnicodeDecodeError, OSError, EOFError) as exc:  # binary, or a broken gzip
            raise ReplayError(
                f"{path}: not a readable CSV file ({type(exc).__name__}: {str(exc)[:100]})"
            ) from exc


def parse_bars(
    f: Iterable[str], path: pathlib.Path | str, skip: int = 0, limit: int | None = None
) -> Iterator[Bar]:
    """The bars of the CSV lines `f` (read from `path`, which error messages name)."""
    reader = csv.reader(f)
    header = next(reader, None)
    if header != HEADER:
        raise ReplayError(f"{path}: header must be {','.join(HEADER)}, got {header}")
    previous: dt.datetime | None = None
    taken = 0
    for line, row in enumerate(reader, start=2):
        if line - 2 < skip:
            continue
        if limit is not None and taken >= limit:
            return
        bar = _parse(path, line, row)
        if previous is not None and bar.time <= previous:
            raise ReplayError(f"{path}:{line}: {bar.time} is not after the previous bar")
        previous = bar.time
        taken += 1
        yield bar


def _parse(path: pathlib.Path | str, line: int, row: list[str]) -> Bar:
    if len(row) != len(HEADER):
        raise ReplayError(f"{path}:{line}: expected {len(HEADER)} columns, got {len(row)}")
    try:
        stamp = times.parse_iso(row[0])
        o, h, lo, c, v = (float(x) for x in row[1:])
    except ValueError as exc:
        raise ReplayError(f"{path}:{line}: {exc}") from None
    values = (o, h, lo, c)
    if not all(math.isfinite(x) and x > 0 for x in values) or not (math.isfinite(v) and v >= 0):
        raise ReplayError(f"{path}:{line}: prices must be > 0 and volume >= 0, got {row[1:]}")
    if not klines.brackets(o, h, lo, c):
        raise ReplayError(f"{path}:{line}: low/high do not bracket open and close: {row[1:]}")
    return Bar(stamp.astimezone(dt.UTC), o, h, lo, c, v)


def span(
    path: pathlib.Path, skip: int = 0, limit: int | None = None
) -> tuple[dt.datetime, dt.datetime] | None:
    """The open times of the first and last bar `read_bars` gives, or None if it gives none."""
    first = last = None
    for bar in read_bars(path, skip, limit):
        first = first or bar.time
        last = bar.time
    return None if first is None or last is None else (first, last)


def shift_to(last: dt.datetime, now: dt.datetime) -> dt.timedelta:
    """The whole number of minutes that moves a bar opening at `last` to the minute before
    `now`'s, so that the bar ends when the current minute begins."""
    target = now.replace(second=0, microsecond=0) - MINUTE
    return (target - last) // MINUTE * MINUTE


def shifted(bars: Iterable[Bar], shift: dt.timedelta) -> Iterator[Bar]:
    """`bars`, each `shift` later."""
    for bar in bars:
        yield dataclasses.replace(bar, time=bar.time + shift)


def bar_prices(bar: Bar) -> tuple[float, float, float, float]:
    """The four tick prices of a bar, in time order (`klines.prices`)."""
    return klines.prices(bar.open, bar.high, bar.low, bar.close)


def ticks(bars: Iterable[Bar], symbol: str, source: str = SOURCE) -> Iterator[Tick]:
    """Four ticks per bar, each with the trailing 24-hour volume up to its bar: the correctly
    rounded sum of the window's volumes (as ``math.fsum`` gives), kept as a running exact sum
    in whole units of 2**-1074 (every double is one), so a bar costs O(1), not O(window)."""
    window: collections.deque[tuple[dt.datetime, int]] = collections.deque()
    total = 0
    first: dt.datetime | None = None
    for bar in bars:
        first = first or bar.time
        volume = exact.units(bar.volume, _UNIT_BITS)
        window.append((bar.time, volume))
        total += volume
        while window[0][0] <= bar.time - DAY:
            total -= window.popleft()[1]
        # int / int: correctly rounded; unknown until the bars span a whole day
        volume_24h = total / _UNIT if bar.time - first >= DAY - MINUTE else None
        time = bar.time
        prices = bar_prices(bar)
        for offset, price in zip(_OFFSETS[:3], prices[:3], strict=True):
            yield Tick(time + offset, symbol, price, volume_24h, source)
        # The bar's traded volume on its close: the minute's ticks sum to the bar's V.
        yield Tick(time + _OFFSETS[3], symbol, prices[3], volume_24h, source, bar.volume)


def paced(
    items: Iterator[Tick], speed: float | None, sleep: Callable[[float], object] = time.sleep
) -> Iterator[Tick]:
    """`items` as fast as possible (speed None) or at `speed` times their own clock."""
    if speed is None:
        yield from items
        return
    first_tick: dt.datetime | None = None
    started = time.monotonic()
    for tick in items:
        if first_tick is None:
            first_tick = tick.time
        due = (tick.time - first_tick).total_seconds() / speed
        ahead = due - (time.monotonic() - started)
        if ahead > 0:
            sleep(ahead)
        yield tick
