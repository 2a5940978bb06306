"""A fake CoinGecko on 127.0.0.1: a real HTTP server answering in the API's exact format.

By default ``/api/v3/simple/price`` answers from `FakeCoinGecko.prices` for the requested ids.
`FakeCoinGecko.responder` can compute each answer instead, and
`FakeCoinGecko.script` queues one-off answers (status, body, headers, delay) served first, in
order: rate limits, errors, garbage. Every request is recorded with its time.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@dataclasses.dataclass
class Answer:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0


@dataclasses.dataclass
class Request:
    at: float
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class FakeCoinGecko:
    def __init__(self) -> None:
        #: coin id -> {"usd": price, "usd_24h_vol": volume, "last_updated_at": epoch seconds}
        self.prices: dict[str, dict[str, Any]] = {}
        self.script: collections.deque[Answer] = collections.deque()
        self.requests: list[Request] = []
        #: When set, answers every request the script does not: (path, query) -> Answer.
        self.responder: Callable[[str, dict[str, str]], Answer] | None = None
        self._server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v3"

    def set_price(self, coin: str, price: Any, volume: Any, updated: Any, vs: str = "usd") -> None:
        self.prices[coin] = {vs: price, f"{vs}_24h_vol": volume, "last_updated_at": updated}

    def answer(self, path: str, query: dict[str, str]) -> Answer:
        if self.script:
            return self.script.popleft()
        if self.responder is not None:
            return self.responder(path, query)
        if path != "/api/v3/simple/price":
            return Answer(404, {"error": "not found"})
        ids = query.get("ids", "").split(",")
        return Answer(200, {i: self.prices[i] for i in ids if i in self.prices})

    @contextmanager
    def running(self) -> Iterator[FakeCoinGecko]:
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                fake.requests.append(
                    Request(
                        time.monotonic(),
                        parts.path,
                        query,
                        {k.lower(): v for k, v in self.headers.items()},
                    )
                )
                a = fake.answer(parts.path, query)
                if a.delay:
                    time.sleep(a.delay)
                body = (
                    a.body
                    if isinstance(a.body, bytes)
                    else (
                        a.body.encode() if isinstance(a.body, str) else json.dumps(a.body).encode()
                    )
                )
                self.send_response(a.status)
                headers = {"Content-Type": "application/json", **a.headers}
                headers.setdefault("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                # The client may give up (timeouts, size caps): that is the point.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
