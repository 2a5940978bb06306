"""Binance spot ``<symbol>@kline_1m``: the exchange's own 1-minute candles, pushed.

Combined-stream endpoint ``wss://stream.binance.com:9443/stream``; streams are added with
``{"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m", ...], "id": 1}`` and each request is
answered ``{"result": null, "id": 1}`` or ``{"error": {"code": 2, "msg": "..."}, "id": 1}``.
Frames arrive wrapped: ``{"stream": "btcusdt@kline_1m", "data": {"e": "kline", "s": "BTCUSDT",
"k": {"t": open ms, "T": close ms, "c": "close", "v": "base volume", "V": "taker buy base
volume", "x": closed?, ...}}}`` (see tests/fixtures/streams/).

Limits (Binance spot WebSocket docs): at most 1024 streams a connection and 5 incoming
messages a second (a SUBSCRIBE, a ping or a pong each count); a connection lives 24 hours and
the server pings every 20 s. So: `MAX_STREAMS` symbols a connection, `PER_REQUEST` streams a
SUBSCRIBE, requests 0.25 s apart (`Timing.send_interval`).

Four ticks per CLOSED kline (``"x": true``), as ``replay`` makes of a bar, so that the
candles of these ticks ARE the exchange's candles (open, high, low, close and volume): the open
at the kline's open time ``t``, the two extremes at ``t`` + 15 s and + 30 s (the low first on a
rising kline, the high first on a falling one), and the close at its close time ``T`` (``t`` +
59.999 s, the last millisecond of its minute, as `binance.BinanceHistory` stamps REST klines)
with ``v`` (the base-asset volume of the minute; ``V`` is only its taker-buy part) as
`Tick.volume`. The extremes' times are the model's, not the trades': only the candle is real.

A refused request: when the error names some of its streams, those pairs fail (not asked
again) and the others are asked again in one request; an "Invalid request" (code 2) that names
none is split in two halves asked again (a bisection: a one-pair request refused so names that
pair, which fails); any other error (a rate limit, server trouble) fails no pair: the
connection is replaced after the backoff (`SubscriptionRefused`). The retries go through the
connection's paced outgoing queue. Binance does not refuse an unknown but well-formed pair: it
sends nothing for it (docs/streams.md).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Sequence

import structlog

from cryptomonitor import exceptions, models
from cryptomonitor.sources import binance, validation
from cryptomonitor.sources.streams import connection

log = structlog.get_logger(__name__)

NAME = "binance-ws"
MAX_STREAMS = 1024
PER_REQUEST = 200
INVALID_REQUEST = 2  # Binance's error code for a request it cannot serve as written
UNKNOWN_HINT = (
    "Binance refused the subscription: not a spot pair written like btcusdt "
    "(an unknown pair is not refused: it just sends nothing)"
)


class BinanceKlines:
    """One connection's kline subscriptions and frame parsing."""

    def __init__(self, symbols: Sequence[str], source: str = NAME) -> None:
        self.symbols = [s.lower() for s in symbols]
        self.source = source
        self.failed: set[str] = set()
        self._pending: dict[int, list[str]] = {}
        self._ids = itertools.count(1)

    def subscribe(self) -> list[str]:
        self._pending.clear()
        live = [s for s in self.symbols if s not in self.failed]
        return [self._request(live[i : i + PER_REQUEST]) for i in range(0, len(live), PER_REQUEST)]

    def _request(self, symbols: list[str]) -> str:
        request_id = next(self._ids)
        self._pending[request_id] = symbols
        return json.dumps(
            {"method": "SUBSCRIBE", "params": [f"{s}@kline_1m" for s in symbols], "id": request_id}
        )

    def handle(self, message: object) -> connection.Handled:
        if not isinstance(message, dict):
            raise TypeError(f"expected a JSON object, got {type(message).__name__}")
        if "id" in message and "stream" not in message:
            return self._answer(message)
        data = message["data"] if "stream" in message else message
        if data.get("e") != "kline":
            return connection.Handled()  # another stream's event: not ours to read
        kline = data["k"]
        if kline.get("x") is not True:
            return connection.Handled()  # the minute is still open: final values come with x=true
        symbol = str(kline["s"]).lower()
        rejected: list[models.Rejection] = []
        ticks = _kline_ticks(symbol, self.source, kline, rejected)
        if rejected:
            validation.log_problems(models.ParseResult([], rejected, []), self.source, "")
        return connection.Handled(ticks=ticks)

    def _answer(self, message: dict[str, object]) -> connection.Handled:
        request_id = message.get("id")
        symbols = self._pending.pop(request_id, []) if isinstance(request_id, int) else []
        error = message.get("error")
        if error is None:
            log.info(
                "stream_subscribed", source=self.source, request=request_id, symbols=len(symbols)
            )
            return connection.Handled()
        reason = str(error.get("msg", error) if isinstance(error, dict) else error)
        code = error.get("code") if isinstance(error, dict) else None
        named = [s for s in symbols if _names(reason, s)]
        if not named and code == INVALID_REQUEST and len(symbols) == 1:
            named = symbols  # the request named only this pair
        if named:
            for symbol in named:
                self.failed.add(symbol)
                log.error(
                    "stream_subscribe_failed",
                    source=self.source,
                    symbol=symbol,
                    error=reason,
                    hint=UNKNOWN_HINT,
                )
            rest = [s for s in symbols if s not in self.failed]
            return connection.Handled(send=[self._request(rest)] if rest else [])
        if code == INVALID_REQUEST and symbols:
            half = len(symbols) // 2
            log.warning(
                "stream_subscribe_batch_failed",
                source=self.source,
                request=request_id,
                symbols=len(symbols),
                error=reason,
                retry="in two halves",
            )
            return connection.Handled(
                send=[self._request(symbols[:half]), self._request(symbols[half:])]
            )
        raise exceptions.SubscriptionRefused(
            f"request {request_id} ({len(symbols)} streams): {reason}"
        )

    def idle(self, now: float) -> list[models.Tick]:
        return []  # a kline is final when its x=true frame arrives


def _names(reason: str, symbol: str) -> bool:
    """Whether an error message names `symbol` (as a word or as its stream)."""
    return re.search(rf"(?<![a-z0-9]){re.escape(symbol)}(?![a-z0-9])", reason.lower()) is not None


def _kline_ticks(
    symbol: str, source: str, kline: dict[str, object], rejected: list[models.Rejection]
) -> list[models.Tick]:
    """The four ticks of a closed kline (`sources.klines`), or none if a price or a time is
    refused (appended to `rejected`): a partial candle would be a wrong one. A refused
    volume is NULL on the close, the rest kept (as for REST klines and every source)."""
    now = dt.datetime.now(dt.UTC)
    entries = binance.kline_entries(
        symbol,
        kline.get("t"),
        kline.get("T"),
        [kline.get(k) for k in ("o", "h", "l", "c", "v")],
        rejected,
    )
    ticks = [
        validation.checked_tick(
            symbol,
            source,
            entry,
            rejected,
            now,
            price="price",
            time="time",
            volume="volume_24h",
            traded="traded",
            number=validation.number,
            moment=validation.epoch_millis,
        )
        for entry in entries
    ]
    return [] if not entries or None in ticks else [t for t in ticks if t is not None]
