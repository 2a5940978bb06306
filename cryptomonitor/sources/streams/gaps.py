"""Complete, ordered 1-minute klines per symbol: a missing minute is fetched from REST first.

A stream loses minutes when it reconnects, when the buffer drops its oldest ticks, or when a
frame is lost. A kline is four ticks (`sources.klines`), from its open time to its close
time, and the next kline opens 1 ms after that close, so a minute is missing when a symbol's
next tick comes more than a minute after its previous one. Before that tick is handed out, the
missing klines are asked from the exchange's REST klines
(`binance.BinanceHistory`, the same request the start-up backfill makes) and put in front of
it. If REST fails, that symbol's klines are held back and the repair tried again at the next
`complete` call, `attempts` times at most; then they go out with the gap logged as unrepaired
(`cryptomonitor backfill --from --to` can fill it). A kline at or before the last one handed out
(a repeat after a reconnect) is dropped.

Repairs run in the poll thread, so each `complete` call has a `budget` in seconds: no repair
starts once it is spent (a call lasts at most the budget plus one REST request), and the
symbols whose gaps wait are held, like a failed repair, until the next call, where they go
first. After Binance's daily disconnect every symbol has a gap at once: thousands of repairs
are spread over many polls instead of stalling one for minutes (the leader lock's idle timeout
is shorter), and the client's pacing (`REST_INTERVAL`) keeps their weight far below the limit.
"""

from __future__ import annotations

import collections
import datetime as dt
import time

import structlog

from cryptomonitor import exceptions, models
from cryptomonitor.sources import base

log = structlog.get_logger(__name__)

MINUTE = dt.timedelta(minutes=1)
_AFTER = dt.timedelta(milliseconds=1)
#: Seconds between two REST klines requests: Binance allows a weight of 6,000 a minute and a
#: klines request weighs 2, so 3,000 a minute; 600 a minute (weight 1,200) leaves most of it to
#: other clients of the same IP and to retries.
REST_INTERVAL = 0.1
#: Default seconds of repair per `complete` call.
BUDGET = 2.0


class KlineGaps:
    """Per symbol, the close time of the last kline handed out, and the klines held back."""

    def __init__(self, past: base.History, attempts: int = 3, budget: float = BUDGET) -> None:
        self.past = past
        self.attempts = attempts
        self.budget = budget
        self._until = 0.0  # monotonic time at which the current call's budget is spent
        self._repairs = 0  # REST repairs in the current call
        self.last: dict[str, dt.datetime] = {}
        self.repaired = 0  # klines fetched from REST, since start
        self.duplicates = 0  # ticks dropped as repeats (four a repeated kline)
        self._held: dict[str, list[models.Tick]] = {}
        self._failures: collections.Counter[str] = collections.Counter()

    def complete(
        self, ticks: list[models.Tick], now: dt.datetime | None = None, budget: float | None = None
    ) -> list[models.Tick]:
        """`ticks` (in arrival order) and the repaired minutes, in order per symbol; repairs
        for `budget` seconds at most (`self.budget` by default; 0: none, every gap held)."""
        now = now or dt.datetime.now(dt.UTC)
        self._until = time.monotonic() + (self.budget if budget is None else budget)
        self._repairs = 0
        # The held symbols first: the oldest gaps are repaired first.
        by_symbol: dict[str, list[models.Tick]] = {s: held for s, held in self._held.items()}
        self._held = {}
        for tick in ticks:
            by_symbol.setdefault(tick.symbol, []).append(tick)
        out: list[models.Tick] = []
        for symbol, klines in by_symbol.items():
            out.extend(self._symbol(symbol, klines, now))
        if self._held or self._repairs:
            log.info(
                "kline_gaps_progress",
                repairs=self._repairs,
                symbols_waiting=len(self._held),
                klines_held=self.held,
                repaired_total=self.repaired,
            )
        return out

    @property
    def held(self) -> int:
        """The klines (minutes) held back, all symbols."""
        return sum(len({_minute(t.time) for t in held}) for held in self._held.values())

    def _symbol(
        self, symbol: str, klines: list[models.Tick], now: dt.datetime
    ) -> list[models.Tick]:
        out: list[models.Tick] = []
        for i, kline in enumerate(klines):
            last = self.last.get(symbol)
            if last is not None and kline.time <= last:
                self.duplicates += 1
                log.debug("kline_repeated", symbol=symbol, time=kline.time.isoformat())
                continue
            if last is not None and kline.time - last > MINUTE:
                if time.monotonic() >= self._until:  # this call's budget is spent
                    self._held[symbol] = klines[i:]
                    return out
                self._repairs += 1
                fill = self._repair(symbol, last, kline.time, now)
                if fill is None:  # REST failed: hold this symbol back, try again next time
                    self._held[symbol] = klines[i:]
                    return out
                out.extend(fill)
            out.append(kline)
            self.last[symbol] = kline.time
        return out

    def _repair(
        self, symbol: str, last: dt.datetime, until: dt.datetime, now: dt.datetime
    ) -> list[models.Tick] | None:
        missing = round((_minute(until) - _minute(last)) / MINUTE) - 1
        try:
            fill = [
                t
                for _, _, _, ticks in base.ticks_of(self.past, symbol, last + _AFTER, until, now)
                for t in ticks
                if last < t.time < until
            ]
        except exceptions.SourceError as exc:
            self._failures[symbol] += 1
            if self._failures[symbol] < self.attempts:
                log.warning(
                    "kline_gap_repair_failed",
                    symbol=symbol,
                    missing_minutes=missing,
                    after=last.isoformat(),
                    attempt=self._failures[symbol],
                    attempts=self.attempts,
                    error=str(exc),
                    holding="this symbol",
                )
                return None
            log.error(
                "kline_gap_unrepaired",
                symbol=symbol,
                missing_minutes=missing,
                after=last.isoformat(),
                before=until.isoformat(),
                error=str(exc),
                hint="`cryptomonitor backfill --from ... --to ...` fills it",
            )
            del self._failures[symbol]
            return []
        self._failures.pop(symbol, None)
        fill.sort(key=lambda t: t.time)
        repaired = len({_minute(t.time) for t in fill})  # klines: four ticks each
        self.repaired += repaired
        log.info(
            "kline_gap_repaired",
            symbol=symbol,
            missing_minutes=missing,
            repaired=repaired,
            after=last.isoformat(),
            before=until.isoformat(),
            source=self.past.name,
        )
        if repaired < missing:
            log.warning(
                "kline_gap_partly_repaired",
                symbol=symbol,
                missing_minutes=missing,
                repaired=repaired,
                hint="REST had no kline for some minutes",
            )
        return fill


def _minute(time: dt.datetime) -> dt.datetime:
    """The minute `time` falls in: a kline's four ticks share it."""
    return time.replace(second=0, microsecond=0)
