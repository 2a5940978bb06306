"""The offline demo: three real days of market data, played round and round so that it ends now.

The package carries three days (2025-06-17 15:40 to 2025-06-20 15:39 UTC, 4,320 bars) of
Bybit's 1-minute candles for BTC, ETH and DOGE (USDT perpetuals; ``demodata/README.md`` says
where they come from and how the window was chosen). The window repeats: the bar of a
wall-clock minute is the window's bar number (minutes since 1970-01-01 UTC) modulo 4,320, so
every run of the demo writes the same ticks for the same minutes (a second run stores nothing
twice, and a later one continues where the last stopped). Each bar becomes four ticks as in
`replay`, and ``volume_24h`` is the trailing 24 hours' volume round the cycle (the 1,440 bars
up to this one). Only ticks up to now are written. The symbols are ``demo-btc``, ``demo-eth``
and ``demo-doge`` and the source ``demo``: they never mix with live data.

The window was chosen so that where it wraps round (the seam, every three days) its last close
meets its first open within a few typical 1-minute moves for all three coins (BTC 0.07%, ETH
0.04%, DOGE 0.28%), and so that the default rules raise no alert there, but do raise some on
each coin from the data's own volume spikes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import gzip
import importlib.resources
import io
from collections.abc import Iterator

from cryptomonitor.exceptions import ReplayError
from cryptomonitor.models import Tick
from cryptomonitor.sources import barfiles
from cryptomonitor.util import times

SOURCE = "demo"
FILES = {
    "demo-btc": "BTCUSDT_1m_demo.csv.gz",
    "demo-eth": "ETHUSDT_1m_demo.csv.gz",
    "demo-doge": "DOGEUSDT_1m_demo.csv.gz",
}
MINUTE = dt.timedelta(minutes=1)
PERIOD = 3 * 1440  #: minutes in the window; the demo's cycle
EPOCH = times.EPOCH


@functools.cache
def window(symbol: str) -> tuple[barfiles.Bar, ...]:
    """The `PERIOD` bars of a demo symbol's window, from the package (their own times)."""
    name = FILES[symbol]
    data = (importlib.resources.files("cryptomonitor.sources") / "demodata" / name).read_bytes()
    text = io.TextIOWrapper(io.BytesIO(gzip.decompress(data)), encoding="utf-8", newline="")
    bars = tuple(barfiles.parse_bars(text, name))
    if len(bars) != PERIOD or bars[-1].time - bars[0].time != (PERIOD - 1) * MINUTE:
        raise ReplayError(f"{name}: the demo needs {PERIOD} consecutive 1-minute bars")
    return bars


def bar_index(minute: dt.datetime) -> int:
    """The window's bar played in the minute starting at `minute`."""
    return (minute - EPOCH) // MINUTE % PERIOD


def seams(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The times in [start, end) where the window starts again (its bar 0 begins)."""
    first = EPOCH + ((start - EPOCH) // MINUTE // PERIOD) * PERIOD * MINUTE
    out = []
    while first < end:
        if first >= start:
            out.append(first)
        first += PERIOD * MINUTE
    return out


def bars_between(
    bars: tuple[barfiles.Bar, ...],
    start: dt.datetime,
    end: dt.datetime,
) -> Iterator[barfiles.Bar]:
    """The bars of the minutes in [start, end), each the window's bar of that minute."""
    minute = start.replace(second=0, microsecond=0)
    while minute < end:
        yield dataclasses.replace(bars[bar_index(minute)], time=minute)
        minute += MINUTE


def ticks(symbol: str, start: dt.datetime, end: dt.datetime) -> Iterator[Tick]:
    """The demo ticks of `symbol` with times in [start, end), oldest first.

    The 24 hours before `start` are played too (not yielded) so that ``volume_24h`` is the
    trailing day's volume round the cycle from the first tick on.
    """
    bars = bars_between(window(symbol), start - barfiles.DAY, end)
    for tick in barfiles.ticks(bars, symbol, SOURCE):
        if start <= tick.time < end:
            yield tick
