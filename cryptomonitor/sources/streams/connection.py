"""One WebSocket connection in a background thread, kept alive until `close()`.

The loop: connect, queue the exchange's subscribe messages, read frames, parse each with the
exchange's `Exchange.handle` and put its ticks in the shared `TickBuffer`. Outgoing messages
(the subscriptions, a retried subscription) wait in a queue that the read loop sends from, one
per pass and ``send_interval`` apart (exchanges cap the messages a client may send per
second): the thread never stops reading to pace its sends, so the library's incoming queue
does not fill up and pongs are not missed however many messages wait.

Whatever goes wrong is logged and answered by a new connection after a jittered exponential
delay, the subscriptions sent again:

- a closed or broken socket (``ConnectionClosed``, ``OSError``), a failed handshake;
- silence: no frame for ``silent_after`` seconds (`StreamSilent`); exchanges send heartbeats or
  data far more often, so silence means a dead peer or a half-open TCP connection;
- no pong to our pings within ``ping_timeout`` (the library closes the connection);
- a subscription refused for a reason that names no stream (a rate limit, server trouble:
  `SubscriptionRefused`); the backoff then goes on growing whatever the connection delivered.

A frame that is not JSON, or that the exchange module cannot read, is counted and logged and
the thread goes on. The backoff restarts from its first delay once a connection has delivered
data. When a connection ends, the intervals still open (Kraken's current second) are closed
and handed out as its data (`Exchange.idle` at infinity): the trades of the next connection
never join them, so what a connection delivers is its own. The first tick of a symbol after a
reconnect logs its gap (``stream_gap``) from the exchange's times: the symbol's last tick
before, its first after.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import math
import random
import threading
import time
from typing import Protocol

import structlog
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from cryptomonitor import exceptions, models
from cryptomonitor.config import values
from cryptomonitor.sources.streams import buffer as stream_buffer

log = structlog.get_logger(__name__)

#: How often pending intervals are closed (`Exchange.idle`) and silence is checked, seconds.
IDLE_CHECK = 0.25


@dataclasses.dataclass
class Handled:
    """What one frame gave: ticks, and messages to send back (a retried subscription)."""

    ticks: list[models.Tick] = dataclasses.field(default_factory=list)
    send: list[str] = dataclasses.field(default_factory=list)


class Exchange(Protocol):
    """One connection's view of an exchange: its subscriptions and its frames."""

    #: Symbols the exchange refused to subscribe (not sent again on reconnect).
    failed: set[str]

    def subscribe(self) -> list[str]:
        """The subscribe messages for this connection's symbols, sent after each connect."""
        ...

    def handle(self, message: object) -> Handled:
        """A parsed frame's ticks; may raise on a shape it does not know (counted, logged),
        or `SubscriptionRefused` (the connection is replaced after the backoff)."""
        ...

    def idle(self, now: float) -> list[models.Tick]:
        """Ticks of intervals that are over by `now` (epoch seconds) though no frame said so."""
        ...


@dataclasses.dataclass(frozen=True)
class Timing:
    """The timeouts and delays of a connection, in seconds."""

    silent_after: float = 30.0
    open_timeout: float = 10.0
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    #: Between two messages we send: Binance allows 5 a second, pings and pongs included.
    send_interval: float = 0.25
    backoff_initial: float = 1.0
    backoff_max: float = 60.0

    def backoff(self, attempt: int) -> float:
        """The delay before reconnect `attempt` (0-based): doubling, capped, jittered to
        50-100 % so that many clients cut off at once do not come back at once."""
        return min(self.backoff_max, self.backoff_initial * 2.0**attempt) * (
            0.5 + random.random() / 2
        )


class StreamConnection:
    """A thread holding one subscribed WebSocket; `start()` it, `close()` it."""

    def __init__(
        self,
        url: str,
        exchange: Exchange,
        buffer: stream_buffer.TickBuffer,
        timing: Timing,
        label: str,
    ) -> None:
        self.url = url
        self.exchange = exchange
        self.buffer = buffer
        self.timing = timing
        self.label = label  # names the connection in logs: source and number
        self.connects = 0
        self.malformed = 0
        self.last_error: str | None = None  # why the last attempt to connect or read ended
        self._stop = threading.Event()
        self._ws: ClientConnection | None = None
        self._delivered = False  # this connection gave data: the backoff starts over
        self._seen: set[str] = set()  # symbols with ticks from this connection
        self._last_time: dict[str, dt.datetime] = {}  # per symbol, its last tick's time
        self._outbox: collections.deque[str] = collections.deque()  # to send, in order
        self._thread = threading.Thread(target=self._run, name=f"stream-{label}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end: stop reading and close the socket (does not wait)."""
        self._stop.set()
        ws = self._ws
        if ws is not None:
            ws.close()

    def close(self, timeout: float = 5.0) -> None:
        """`stop()`, then wait for the thread (at most `timeout` s; logged if it outlives it)."""
        self.stop()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning(
                "stream_thread_still_running",
                connection=self.label,
                waited_s=timeout,
                hint="a daemon thread: it ends with the process",
            )

    @property
    def connected(self) -> bool:
        """A socket is open (it may still be subscribing)."""
        return self._ws is not None

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            self._delivered = False
            self._seen = set()
            refused = False
            try:
                self._session()
            except exceptions.StreamSilent as exc:
                log.warning("stream_silent", connection=self.label, error=str(exc))
            except exceptions.SubscriptionRefused as exc:
                refused = True  # it would be refused again at once: keep backing off
                log.warning(
                    "stream_subscription_refused",
                    connection=self.label,
                    error=str(exc),
                    action="reconnect after the backoff",
                )
            except (OSError, TimeoutError, WebSocketException) as exc:
                if not self._stop.is_set():  # else: our own close() ended it
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("stream_disconnected", connection=self.label, error=self.last_error)
            except Exception:  # a bug must not end the thread unseen: log it and reconnect
                log.exception("stream_thread_error", connection=self.label)
            finally:
                self._ws = None
            if self._stop.is_set():
                break
            self._deliver(self.exchange.idle(math.inf))  # its own open intervals, closed
            if self._delivered and not refused:
                attempt = 0
            delay = self.timing.backoff(attempt)
            attempt += 1
            log.warning(
                "stream_reconnect_wait",
                connection=self.label,
                attempt=attempt,
                wait_s=round(delay, 3),
            )
            self._stop.wait(delay)
        log.info(
            "stream_stopped",
            connection=self.label,
            connects=self.connects,
            malformed=self.malformed,
        )

    def _session(self) -> None:
        t = self.timing
        with connect(
            self.url,
            open_timeout=t.open_timeout,
            ping_interval=t.ping_interval,
            ping_timeout=t.ping_timeout,
            close_timeout=1.0,
            max_size=4 * 1024 * 1024,
        ) as ws:
            self._ws = ws
            if self._stop.is_set():
                return
            self.connects += 1
            log.info(
                "stream_connected",
                connection=self.label,
                url=values.without_userinfo(self.url),
                connects=self.connects,
            )
            self._outbox = collections.deque(self.exchange.subscribe())
            self._read(ws)

    def _read(self, ws: ClientConnection) -> None:
        last_frame = last_idle = next_send = time.monotonic()
        while not self._stop.is_set():
            wait = min(IDLE_CHECK, self.timing.silent_after)
            if self._outbox:
                now = time.monotonic()
                if now >= next_send:  # one message a pass, paced
                    ws.send(self._outbox.popleft())
                    next_send = now + self.timing.send_interval
                if self._outbox:
                    wait = max(0.0, min(wait, next_send - time.monotonic()))
            try:
                frame = ws.recv(timeout=wait)
            except TimeoutError:
                frame = None
            now = time.monotonic()
            if frame is not None:
                last_frame = now
                self._on_frame(frame)
            elif now - last_frame > self.timing.silent_after:
                raise exceptions.StreamSilent(f"no frame for {self.timing.silent_after:g} s")
            if now - last_idle >= IDLE_CHECK:
                last_idle = now
                self._deliver(self.exchange.idle(time.time()))

    def _on_frame(self, frame: str | bytes) -> None:
        try:
            message = json.loads(frame)
            handled = self.exchange.handle(message)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            self.malformed += 1
            text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
            log.warning(
                "stream_malformed_frame",
                connection=self.label,
                error=f"{type(exc).__name__}: {exc}",
                frame=text[:200],
                malformed_total=self.malformed,
            )
            return
        self._deliver(handled.ticks)
        self._outbox.extend(handled.send)  # sent by the read loop, paced

    def _deliver(self, ticks: list[models.Tick]) -> None:
        """Hand out ticks of this connection's frames (never of an earlier connection's)."""
        if not ticks:
            return
        for tick in ticks:
            last = self._last_time.get(tick.symbol)
            if tick.symbol not in self._seen:
                self._seen.add(tick.symbol)
                if last is not None and tick.time > last:  # its first tick after a reconnect
                    log.warning(
                        "stream_gap",
                        connection=self.label,
                        symbol=tick.symbol,
                        seconds=(tick.time - last).total_seconds(),
                        after=last.isoformat(),
                        before=tick.time.isoformat(),
                    )
            if last is None or tick.time > last:
                self._last_time[tick.symbol] = tick.time
        self._delivered = True
        self.buffer.put(ticks)
