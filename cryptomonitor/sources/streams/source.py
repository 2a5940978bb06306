"""A stream as a `registry.Source`: `fetch()` hands out what the socket threads received.

The symbols are split over as many connections as the exchange's per-connection limit asks,
each a `StreamConnection` thread started by the first `fetch()` (or `start()`), all feeding one
bounded `TickBuffer`. `fetch()` never blocks on the network for the stream: it drains the
buffer, lets `gaps` (when given) put repaired klines in front, and returns a `ParseResult`
whose `missing` names the symbols the exchange refused to subscribe. `close()` stops and joins
every thread, then hands over what arrived since the last `fetch()` (for a last store) and logs
what it discards: seconds still open, klines held behind an unrepaired gap. A `fetch()` after
`close()` opens new connections: `run` closes its source while another replica leads (the
buffer would otherwise fill and drop) and the next poll as leader opens it again.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Sequence
from types import TracebackType

import structlog

from cryptomonitor import exceptions, models
from cryptomonitor.config import values
from cryptomonitor.sources import http
from cryptomonitor.sources.streams import buffer as stream_buffer
from cryptomonitor.sources.streams import connection as stream_connection
from cryptomonitor.sources.streams import gaps as kline_gaps

log = structlog.get_logger(__name__)


class StreamSource:
    """Subscribed WebSocket connections behind the poll interface of `run`."""

    requests_per_poll = 0  # fetch() asks nothing of a rate-limited API

    def __init__(
        self,
        *,
        name: str,
        unknown_hint: str,
        url: str,
        symbols: Sequence[str],
        exchange: Callable[[Sequence[str]], stream_connection.Exchange],
        per_connection: int,
        client: http.JsonClient,
        timing: stream_connection.Timing | None = None,
        buffer_max: int = 100_000,
        gaps: kline_gaps.KlineGaps | None = None,
    ) -> None:
        if not symbols or "*" in symbols or any(s.startswith("top:") for s in symbols):
            raise ValueError(f"{name} streams named symbols: not '*' or top:N")
        self.name = name
        self.unknown_hint = unknown_hint
        self.url = url
        self.symbols = tuple(symbols)
        self.client = client  # for its REST history (gap repair, start-up backfill)
        self.timing = timing or stream_connection.Timing()
        self.buffer = stream_buffer.TickBuffer(buffer_max, name)
        self.gaps = gaps
        self.exchanges = [
            exchange(self.symbols[i : i + per_connection])
            for i in range(0, len(self.symbols), per_connection)
        ]
        self.connections: list[stream_connection.StreamConnection] = []

    def start(self) -> None:
        """Open the connections, unless open (`fetch()` calls it)."""
        if self.connections:
            return
        for number, exchange in enumerate(self.exchanges, 1):
            connection = stream_connection.StreamConnection(
                self.url, exchange, self.buffer, self.timing, f"{self.name}#{number}"
            )
            self.connections.append(connection)
            connection.start()
        log.info(
            "stream_start",
            source=self.name,
            url=values.without_userinfo(self.url),
            symbols=len(self.symbols),
            connections=len(self.connections),
            buffer_max=self.buffer.capacity,
        )

    def fetch(self) -> models.ParseResult:
        """The ticks received since the last call, in order per symbol; never blocks on the
        socket (a gap repair asks REST, through `client`), but for the first call, which waits
        for the connections to open (or fail) as a poll waits for its answer. Nothing received
        and never connected since `start()`: `SourceUnavailable`, naming the last error (`run`
        logs the poll as failed; `run --once` exits 1). Later drops are the connections' own
        business (they reconnect, log, and repair the gap)."""
        opening = not self.connections
        self.start()
        if opening:
            self._await_connections()
        ticks = self.buffer.drain()
        if not ticks and not any(c.connects for c in self.connections):
            errors = sorted({c.last_error for c in self.connections if c.last_error})
            raise exceptions.SourceUnavailable(
                f"{self.name}: not connected to {values.without_userinfo(self.url)}"
                f" ({'; '.join(errors) or 'connecting'}); check the network and the URL"
                " setting (docs/streams.md)"
            )
        if self.gaps is not None:
            ticks = self.gaps.complete(ticks, dt.datetime.now(dt.UTC))
        return models.ParseResult(ticks, [], self.failed())

    def _await_connections(self) -> None:
        """Until every connection has opened or failed once (the open timeout at most)."""
        deadline = time.monotonic() + self.timing.open_timeout + 1.0
        while time.monotonic() < deadline and not all(
            c.connected or c.last_error for c in self.connections
        ):
            time.sleep(0.02)

    def failed(self) -> list[str]:
        """The symbols the exchange refused, in configuration order."""
        refused: set[str] = set()
        for exchange in self.exchanges:
            refused |= exchange.failed.copy()  # copied at once: the socket thread adds to it
        return [s for s in self.symbols if s in refused]

    @property
    def malformed(self) -> int:
        return sum(c.malformed for c in self.connections)

    @property
    def connects(self) -> int:
        return sum(c.connects for c in self.connections)

    def close(self, timeout: float = 5.0) -> models.ParseResult:
        """Stop every connection and wait for their threads (`timeout` s each at most), then
        return what arrived since the last `fetch()`, without asking REST. The intervals still
        open are discarded, and the klines held behind a gap not repaired yet stay held (they
        go out with the next `fetch()`, if any): both counted in ``stream_discarded``."""
        for connection in self.connections:
            connection.stop()  # all at once: each may take a close handshake
        for connection in self.connections:
            connection.close(timeout)
        opened, self.connections = len(self.connections), []
        # Their connections are gone: the next ones must not hand them out as their own.
        open_intervals = sum(len(e.idle(math.inf)) for e in self.exchanges)
        ticks = self.buffer.drain()
        if self.gaps is not None:
            ticks = self.gaps.complete(ticks, dt.datetime.now(dt.UTC), budget=0.0)
        held = self.gaps.held if self.gaps is not None else 0
        if open_intervals or held:
            log.warning(
                "stream_discarded",
                source=self.name,
                open_intervals=open_intervals,
                held_klines=held,
                hint="the next start-up backfill fills what it can",
            )
        if opened:
            log.info("stream_closed", source=self.name, connections=opened, last_ticks=len(ticks))
        return models.ParseResult(ticks, [], self.failed())

    def __enter__(self) -> StreamSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
