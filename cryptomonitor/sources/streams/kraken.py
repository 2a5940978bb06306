"""Kraken spot ``trade`` channel (WebSocket API v1), trades summed per symbol per second.

``wss://ws.kraken.com``; subscribe with ``{"event": "subscribe", "pair": ["XBT/USD", ...],
"subscription": {"name": "trade"}}``; each pair is answered by a ``subscriptionStatus`` event,
``"status": "subscribed"`` or ``"status": "error"`` with the ``pair`` and an ``errorMessage``.
Trades come as ``[channelID, [[price, volume, time, side, type, misc], ...], "trade", pair]``
(decimals and the epoch time in seconds as strings); between them, ``{"event": "heartbeat"}``
about every second, so a short silence timeout is safe.

Limits: Kraken publishes no per-connection subscription cap for v1 public channels; we keep
`MAX_PAIRS` pairs a connection and `PER_REQUEST` pairs a subscribe message, and the same 4
messages a second as for Binance (Kraken limits connection attempts per IP, which the
reconnect backoff respects).

Symbols are configured with a dash, ``xbt-usd`` for ``XBT/USD`` (CRYPTOMONITOR_COINS takes no
slash). A tick is one symbol's trades in one UTC second: the last trade's price at the last
trade's time (inside its second, as Binance's close is inside its minute), with the summed
base-asset volume (exact decimal sum) as `Tick.volume`. A second is closed by the symbol's
next trade in a later second, or `GRACE` seconds after it ended on this host's clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import math
from collections.abc import Sequence

import structlog

from cryptomonitor import models
from cryptomonitor.sources import validation
from cryptomonitor.sources.streams import connection

log = structlog.get_logger(__name__)

NAME = "kraken-ws"
MAX_PAIRS = 500
PER_REQUEST = 50
GRACE = 2.0  # seconds after a second's end before it is closed without a later trade
UNKNOWN_HINT = "not a Kraken pair written with a dash (xbt-usd for XBT/USD, eth-eur)"


def pair_of(symbol: str) -> str:
    """``xbt-usd`` -> ``XBT/USD`` (Kraken's v1 pair name)."""
    return symbol.upper().replace("-", "/", 1)


def symbol_of(pair: str) -> str:
    return pair.lower().replace("/", "-", 1)


def _seconds(raw: object, now: dt.datetime) -> dt.datetime | str:
    number = validation.number(raw)
    if number is None:
        return "not a time in seconds"
    try:
        stamp = dt.datetime.fromtimestamp(number, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return "out of range"
    return validation.plausible(stamp, now)


@dataclasses.dataclass
class _Second:
    second: int
    last: models.Tick
    volume: decimal.Decimal


class KrakenTrades:
    """One connection's trade subscriptions, and its open one-second buckets."""

    def __init__(self, symbols: Sequence[str], source: str = NAME) -> None:
        self.symbols = [s.lower() for s in symbols]
        self.source = source
        self.failed: set[str] = set()
        self._open: dict[str, _Second] = {}

    def subscribe(self) -> list[str]:
        live = [pair_of(s) for s in self.symbols if s not in self.failed]
        return [
            json.dumps(
                {
                    "event": "subscribe",
                    "pair": live[i : i + PER_REQUEST],
                    "subscription": {"name": "trade"},
                }
            )
            for i in range(0, len(live), PER_REQUEST)
        ]

    def handle(self, message: object) -> connection.Handled:
        if isinstance(message, dict):
            self._event(message)
            return connection.Handled()
        if not isinstance(message, list) or len(message) < 4 or message[-2] != "trade":
            raise TypeError("expected an event object or [channelID, trades, 'trade', pair]")
        symbol = symbol_of(str(message[-1]))
        now = dt.datetime.now(dt.UTC)
        rejected: list[models.Rejection] = []
        closed: list[models.Tick] = []
        for trade in message[1]:
            tick = validation.checked_tick(
                symbol,
                self.source,
                {"p": trade[0], "v": trade[1], "t": trade[2]},
                rejected,
                now,
                price="p",
                time="t",
                volume="volume_24h",
                traded="v",
                number=validation.number,
                moment=_seconds,
            )
            if tick is not None and tick.volume is not None:
                closed.extend(self._add(tick, decimal.Decimal(str(trade[1]))))
        if rejected:
            validation.log_problems(models.ParseResult([], rejected, []), self.source, "")
        return connection.Handled(ticks=closed)

    def _event(self, message: dict[str, object]) -> None:
        event = message.get("event")
        if event == "heartbeat":
            return
        if event == "subscriptionStatus" and message.get("status") == "error":
            pair = str(message.get("pair", "?"))
            self.failed.add(symbol_of(pair))
            log.error(
                "stream_subscribe_failed",
                source=self.source,
                symbol=symbol_of(pair),
                error=str(message.get("errorMessage")),
                hint=UNKNOWN_HINT,
            )
        elif event == "subscriptionStatus":
            log.debug(
                "stream_subscribed",
                source=self.source,
                pair=message.get("pair"),
                status=message.get("status"),
            )
        elif event == "systemStatus":
            log.info(
                "stream_system_status",
                source=self.source,
                status=message.get("status"),
                version=message.get("version"),
            )

    def _add(self, trade: models.Tick, volume: decimal.Decimal) -> list[models.Tick]:
        second = math.floor(trade.time.timestamp())
        current = self._open.get(trade.symbol)
        if current is not None and second <= current.second:  # a late trade joins the open one
            if trade.time >= current.last.time:
                current.last = trade
            current.volume += volume
            return []
        self._open[trade.symbol] = _Second(second, trade, volume)
        return [] if current is None else [_tick(current)]

    def idle(self, now: float) -> list[models.Tick]:
        done = [s for s, b in self._open.items() if b.second + 1 + GRACE <= now]
        return [_tick(self._open.pop(s)) for s in done]


class NoHistory:
    """Kraken has no history here yet: no start-up backfill, and a reconnect gap is only
    logged (``stream_gap``). Kraken's REST ``/0/public/Trades?since=`` could fill it."""

    name = "kraken-history"
    resolution = math.inf  # no gap is long enough to ask

    def chunks(
        self, start: dt.datetime, end: dt.datetime, now: dt.datetime
    ) -> list[tuple[dt.datetime, dt.datetime]]:
        return []

    def fetch(
        self, symbol: str, chunk: tuple[dt.datetime, dt.datetime], now: dt.datetime
    ) -> list[models.Tick]:
        return []


def _tick(bucket: _Second) -> models.Tick:
    return bucket.last._replace(volume=float(bucket.volume))
