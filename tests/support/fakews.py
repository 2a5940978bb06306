"""A WebSocket server on 127.0.0.1 that plays a script per connection, and frame builders.

`FakeStream(script0, script1, ...)`: connection n is served by script n (the last one serves
every later connection). A script gets a `Peer` to read what the client sent, send frames in the
exchange's format, stay silent, or cut the TCP connection in the middle of a frame.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures" / "streams"


def recorded_frames(name: str) -> list[str]:
    """The frames a recorded session received (the ``<time>: <frame>`` lines)."""
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    return [line.split(": ", 1)[1] for line in lines if not line.startswith("wss://")]


class Peer:
    """The server's side of one connection, for a script."""

    def __init__(self, ws: ServerConnection, received: list[Any], stop: threading.Event) -> None:
        self.ws = ws
        self.received = received
        self.stop = stop

    def recv(self, timeout: float = 5.0) -> Any:
        message = json.loads(self.ws.recv(timeout=timeout))
        self.received.append(message)
        return message

    def send(self, frame: Any) -> None:
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def silent(self, seconds: float = 10.0) -> None:
        """Send nothing (pings are still answered by the library) until the client leaves."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                self.received.append(json.loads(self.ws.recv(timeout=0.1)))

    def cut_mid_frame(self, frame: str) -> None:
        """Write the first half of a text frame on the socket, then drop the TCP connection."""
        payload = frame.encode()
        header = bytes([0x81, 126]) + len(payload).to_bytes(2, "big")
        self.ws.socket.sendall(header + payload[: len(payload) // 2])
        self.ws.socket.shutdown(socket.SHUT_RDWR)


Script = Callable[[Peer], None]


class FakeStream:
    def __init__(self, *scripts: Script) -> None:
        self.scripts = scripts
        self.received: list[list[Any]] = []  # per connection, what the client sent
        self._stop = threading.Event()
        self._port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/stream"

    @property
    def connections(self) -> int:
        return len(self.received)

    def _handle(self, ws: ServerConnection) -> None:
        received: list[Any] = []
        self.received.append(received)
        script = self.scripts[min(len(self.received) - 1, len(self.scripts) - 1)]
        with contextlib.suppress(ConnectionClosed, OSError):
            script(Peer(ws, received, self._stop))

    @contextlib.contextmanager
    def running(self) -> Iterator[FakeStream]:
        with serve(self._handle, "127.0.0.1", 0, ping_interval=None) as server:
            self._port = server.socket.getsockname()[1]
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            try:
                yield self
            finally:
                self._stop.set()
                server.shutdown()
                thread.join(5)


def binance_kline(
    symbol: str,
    open_ms: int,
    close: str,
    volume: str,
    *,
    closed: bool = True,
    taker: str = "0.5",
    open_: str | None = None,
    high: str | None = None,
    low: str | None = None,
) -> dict[str, Any]:
    """A combined-stream ``kline_1m`` frame, in the format of the recorded session; `open_`,
    `high` and `low` default to `close` (a flat minute)."""
    return {
        "stream": f"{symbol}@kline_1m",
        "data": {
            "e": "kline",
            "E": open_ms + 60_000,
            "s": symbol.upper(),
            "k": {
                "t": open_ms,
                "T": open_ms + 59_999,
                "s": symbol.upper(),
                "i": "1m",
                "f": 100,
                "L": 110,
                "o": close if open_ is None else open_,
                "c": close,
                "h": close if high is None else high,
                "l": close if low is None else low,
                "v": volume,
                "n": 11,
                "x": closed,
                "q": "1.0",
                "V": taker,
                "Q": "0.1",
                "B": "0",
            },
        },
    }


def kraken_trades(channel: int, pair: str, trades: list[tuple[str, str, float]]) -> list[Any]:
    """A v1 ``trade`` frame: (price, volume, epoch seconds) per trade."""
    return [channel, [[p, v, f"{t:.6f}", "b", "l", ""] for p, v, t in trades], "trade", pair]


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
