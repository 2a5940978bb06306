"""What every source accepts as a tick: one set of rules for every answer format.

A price must be a positive finite number and a time must be plausible, or the entry is
rejected with the reason; a volume that is not a finite number >= 0 is dropped (stored as
NULL) and reported, and the price is kept. Each source only says where the values are and how
its numbers and times are written.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence

import structlog

from cryptomonitor.models import ParseResult, Rejection, Tick

log = structlog.get_logger(__name__)

#: A tick stamped further than this ahead of our clock is refused: it would block later ticks.
MAX_FUTURE_SKEW = dt.timedelta(minutes=5)
#: Before this, no coin had a price: the timestamp is garbage (or in the wrong unit).
EARLIEST = dt.datetime(2009, 1, 3, tzinfo=dt.UTC)
INVALID_PRICE = "not a positive finite number"
INVALID_VOLUME = "not a finite number >= 0; stored as NULL"


def number(value: object) -> float | None:
    """A decimal string (or number) as a finite float, else None (Binance, Kraken)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def epoch_millis(raw: object, now: dt.datetime, *, fractional: bool = False) -> dt.datetime | str:
    """Epoch milliseconds as a plausible time, or the reason they are not one; whole
    milliseconds only unless `fractional` (history answers may carry fractions)."""
    if (
        isinstance(raw, bool)
        or not isinstance(raw, int | float)
        or (isinstance(raw, float) and not fractional)
    ):
        if raw is None:
            return "missing"
        return "not a time in milliseconds" if fractional else "not whole milliseconds"
    try:
        stamp = dt.datetime.fromtimestamp(raw / 1000, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return "out of range"
    return plausible(stamp, now)


def plausible(stamp: dt.datetime, now: dt.datetime) -> dt.datetime | str:
    """`stamp`, or the reason it cannot be a tick's time."""
    if stamp > now + MAX_FUTURE_SKEW:
        return f"in the future (more than {MAX_FUTURE_SKEW} ahead of this host)"
    if stamp < EARLIEST:
        return "before 2009"
    return stamp


def checked_tick(
    symbol: str,
    source: str,
    entry: Mapping[str, object],
    rejected: list[Rejection],
    now: dt.datetime,
    *,
    price: str,
    time: str,
    volume: str,
    number: Callable[[object], float | None],
    moment: Callable[[object, dt.datetime], dt.datetime | str],
    absent_price: str = INVALID_PRICE,
    traded: str | None = None,
) -> Tick | None:
    """The tick of one entry (values under the keys `price`, `time`, `volume`, read with
    `number` and `moment`), or None with the reason appended to `rejected`. `traded`: the key
    of the volume traded in the tick's interval (`Tick.volume`), checked like `volume`."""
    raw_price = entry.get(price)
    value = number(raw_price)
    if value is None or value <= 0:
        reason = absent_price if raw_price is None else INVALID_PRICE
        rejected.append(Rejection(symbol, price, raw_price, reason))
        return None
    raw_time = entry.get(time)
    stamp = moment(raw_time, now)
    if isinstance(stamp, str):
        rejected.append(Rejection(symbol, time, raw_time, stamp))
        return None
    amount = _volume(symbol, entry, volume, number, rejected)
    in_interval = None if traded is None else _volume(symbol, entry, traded, number, rejected)
    return Tick(stamp, symbol, value, amount, source, in_interval)


def _volume(
    symbol: str,
    entry: Mapping[str, object],
    key: str,
    number: Callable[[object], float | None],
    rejected: list[Rejection],
) -> float | None:
    raw_volume = entry.get(key)
    amount = number(raw_volume)
    if raw_volume is not None and (amount is None or amount < 0):
        rejected.append(Rejection(symbol, key, raw_volume, INVALID_VOLUME))
        amount = None
    return amount


def log_problems(result: ParseResult, source: str, missing_hint: str) -> None:
    """One ``value_rejected`` line per refused value, one ``coins_missing`` line for the asked
    symbols an answer lacked (`missing_hint`: what that usually means for this source)."""
    for r in result.rejected:
        log.warning(
            "value_rejected",
            source=source,
            symbol=r.symbol,
            field=r.field,
            value=repr(r.value),
            reason=r.reason,
        )
    if result.missing:
        log.warning("coins_missing", source=source, symbols=result.missing, hint=missing_hint)


def history_ticks(
    entries: Sequence[Mapping[str, object]],
    rejected: list[Rejection],
    symbol: str,
    source: str,
    chunk: tuple[dt.datetime, dt.datetime],
    now: dt.datetime,
    number: Callable[[object], float | None],
) -> list[Tick]:
    """The ticks of `entries` (``time`` in ms, ``price``, ``volume``, ``traded``) that pass the
    live ticks' checks and fall inside `chunk`; every refused value is logged, as for a poll."""
    ticks = []
    for entry in entries:
        tick = checked_tick(
            symbol,
            source,
            entry,
            rejected,
            now,
            price="price",
            time="time",
            volume="volume",
            number=number,
            moment=_history_moment,
            traded="traded",
        )
        if tick is not None and chunk[0] <= tick.time < chunk[1]:
            ticks.append(tick)
    log_problems(ParseResult(ticks, rejected, []), source, "")
    return ticks


def _history_moment(raw: object, now: dt.datetime) -> dt.datetime | str:
    return epoch_millis(raw, now, fractional=True)
