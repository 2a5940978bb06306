"""Serving the REST API: uvicorn on a socket bound here, with limits for slow clients.

Binding first turns "port in use" into a bad setting (exit 2) that names the setting, instead
of uvicorn's exit 3. uvicorn closes idle keep-alive connections, but waits for ever for a
client that sends its request headers a byte at a time: `SlowClientGuard` closes a connection
whose request headers are not complete `HEADER_TIMEOUT` seconds after it opened or after its
previous response.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

import h11
import structlog
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from cryptomonitor.exceptions import ConfigError

log = structlog.get_logger(__name__)

HEADER_TIMEOUT = 10.0
KEEP_ALIVE = 5  # seconds an idle keep-alive connection stays open


class SlowClientGuard(H11Protocol):
    _header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info(
                "request_headers_timeout",
                client=self.client and self.client[0],
                seconds=HEADER_TIMEOUT,
            )
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a whole request line and headers arrived
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port), not listening yet (`serve` listens): a port in use is
    found at once, while clients are refused, not left hanging, until the API is ready.
    ConfigError naming the setting if it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"CRYPTOMONITOR_API_PORT: port {port} on {host} is already in use "
                "(another cryptomonitor api?): choose another port"
            ) from None
        raise ConfigError(
            f"CRYPTOMONITOR_API_HOST: cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
    sock.set_inheritable(True)
    return sock


def public_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host  # noqa: S104
    return f"http://{shown}:{port}/"


def serve(app: Any, sock: socket.socket) -> None:
    sock.listen(2048)
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        http=SlowClientGuard,
        timeout_keep_alive=KEEP_ALIVE,
        lifespan="on",
    )
    uvicorn.Server(config).run(sockets=[sock])
