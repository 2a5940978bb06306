"""The offline demo: a real day of market data, played so that it ends now.

The package carries one day (2025-06-22, 00:00-23:59 UTC) of Bybit's 1-minute candles for
BTC, ETH and DOGE (USDT perpetuals; ``demodata/README.md`` says where they come from). The
day repeats: the bar of the excerpt for a wall-clock minute is the one at the same time of day,
so every run of the demo writes the same ticks for the same minutes (a second run stores
nothing twice, and a later one continues where the last stopped). Each bar becomes four ticks
as in `replay`; only ticks up to now are written. The symbols are ``demo-btc``, ``demo-eth``
and ``demo-doge`` and the source ``demo``: they never mix with live data.

Where the excerpt wraps round (each day at 00:00 UTC) the price jumps from the day's last
close to its first open: BTC by 1.2%, ETH by 3.1%, DOGE by 2.1%.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import importlib.resources
import io
from collections.abc import Iterator

from cryptomonitor.exceptions import ReplayError
from cryptomonitor.models import Tick
from cryptomonitor.sources import barfiles

SOURCE = "demo"
FILES = {
    "demo-btc": "BTCUSDT_1m_2025-06-22.csv.gz",
    "demo-eth": "ETHUSDT_1m_2025-06-22.csv.gz",
    "demo-doge": "DOGEUSDT_1m_2025-06-22.csv.gz",
}
MINUTE = dt.timedelta(minutes=1)
DAY_MINUTES = 1440


def excerpt(symbol: str) -> list[barfiles.Bar]:
    """The 1,440 bars of a demo symbol's day, from the package."""
    name = FILES[symbol]
    data = (importlib.resources.files("cryptomonitor.sources") / "demodata" / name).read_bytes()
    text = io.TextIOWrapper(io.BytesIO(gzip.decompress(data)), encoding="utf-8", newline="")
    bars = list(barfiles.parse_bars(text, name))
    if len(bars) != DAY_MINUTES or (bars[0].time.hour, bars[0].time.minute) != (0, 0):
        raise ReplayError(f"{name}: the demo needs one whole day of 1-minute bars from 00:00")
    return bars


def bars_between(
    day: list[barfiles.Bar],
    start: dt.datetime,
    end: dt.datetime,
) -> Iterator[barfiles.Bar]:
    """The bars of the minutes in [start, end), each the excerpt's bar of that time of day."""
    minute = start.replace(second=0, microsecond=0)
    while minute < end:
        bar = day[(minute.hour * 60 + minute.minute) % DAY_MINUTES]
        yield dataclasses.replace(bar, time=minute)
        minute += MINUTE


def ticks(symbol: str, start: dt.datetime, end: dt.datetime) -> Iterator[Tick]:
    """The demo ticks of `symbol` with times in [start, end), oldest first.

    The 24 hours before `start` are played too (not yielded) so that ``volume_24h`` is the
    trailing day's volume from the first tick on.
    """
    day = excerpt(symbol)
    bars = bars_between(day, start - dt.timedelta(days=1), end)
    for tick in barfiles.ticks(bars, symbol, SOURCE):
        if start <= tick.time < end:
            yield tick
