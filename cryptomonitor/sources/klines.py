"""A 1-minute candle (kline, bar) as ticks: four of them, so that the candles made of the ticks
ARE the candle, open, high, low, close and volume.

The open at the candle's open time, the two extremes at +15 s and +30 s (the low first on a
rising candle, close >= open, the high first on a falling one), and the close at the end of
the minute carrying the minute's traded volume. Pure: `replay` (CSV bars), the Binance REST
klines (`sources/history.py`) and the binance-ws stream (`sources/streams/binance.py`) all
make their ticks here, so the three give the same rows for the same candle (but the close's
time: a bar file stamps it at +45 s, Binance at its close time, +59.999 s).
"""

from __future__ import annotations

import datetime as dt

#: Where the open and the two extremes are put, after the candle's open time.
OFFSETS = (dt.timedelta(0), dt.timedelta(seconds=15), dt.timedelta(seconds=30))


def prices(
    open_: float,
    high: float,
    low: float,
    close: float,
) -> tuple[float, float, float, float]:
    """The four tick prices of a candle, in time order."""
    if close >= open_:
        return open_, low, high, close
    return open_, high, low, close


def brackets(open_: float, high: float, low: float, close: float) -> bool:
    """Whether high and low bracket open and close (a candle, not four unrelated numbers)."""
    return low <= min(open_, close) and high >= max(open_, close)
