"""Plain data passed between the modules."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import NamedTuple


class Tick(NamedTuple):
    """One observation of a symbol: its price and rolling 24-hour volume at `time` (UTC), and
    for sources that know it, `volume`: the volume traded in the interval this tick ends (a
    stream's 1-minute kline or 1-second trade bucket, a REST kline), else None.

    `time` is the source's own timestamp (CoinGecko's ``last_updated_at``), not the time we
    polled: the same answer polled twice is the same tick.

    A named tuple, not a dataclass: one is made per tick parsed, and it costs a third.
    """

    time: dt.datetime
    symbol: str
    price: float
    volume_24h: float | None
    source: str
    volume: float | None = None  # last, with a default: 5-field constructions keep working


@dataclasses.dataclass(frozen=True, slots=True)
class Rejection:
    """A value a source delivered that was not stored, and why."""

    symbol: str
    field: str
    value: object
    reason: str


@dataclasses.dataclass(frozen=True)
class ParseResult:
    """What a source's answer held: valid ticks, refused values, and requested symbols absent."""

    ticks: list[Tick]
    rejected: list[Rejection]
    missing: list[str]
