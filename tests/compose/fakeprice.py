"""A scripted CoinGecko ``/simple/price`` for the compose test, run as a service of its own.

Standard library only: it runs in the CryptoMonitor image's Python. The first answer's prices
are those of a recorded CoinGecko answer (the ``simple_price`` fixture); each request after it
is a new tick one second later (never behind the wall clock), the price scaled by the current
factor. The test, from the host, sets the factor (``POST /control/factor?value=1.5``: a spike)
and reads every tick served (``GET /control/served``) to compare with what was stored.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
import time
import urllib.parse

BASE_PRICES = {"bitcoin": 8090.66, "ethereum": 142.94, "zcash": 36.78}
BASE_VOLUMES = {"bitcoin": 31_000_000_000.0, "ethereum": 9_000_000_000.0, "zcash": 80_000_000.0}


class Market:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.factor = 1.0
        self.clock = 0
        self.served: list[dict[str, object]] = []

    def answer(self, ids: list[str], vs: str) -> dict[str, dict[str, object]]:
        with self.lock:
            self.clock = max(self.clock + 1, int(time.time()))
            body: dict[str, dict[str, object]] = {}
            for coin in ids:
                if coin not in BASE_PRICES:
                    continue
                # A small wobble, so the windows are not flat; the factor moves everything.
                wobble = 1 + 0.0001 * (self.clock % 3)
                price = round(BASE_PRICES[coin] * wobble * self.factor, 6)
                volume = BASE_VOLUMES[coin]
                body[coin] = {vs: price, f"{vs}_24h_vol": volume, "last_updated_at": self.clock}
                self.served.append({"symbol": coin, "time": self.clock, "price": price})
            return body


MARKET = Market()


class Handler(http.server.BaseHTTPRequestHandler):
    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        if parts.path == "/api/v3/simple/price":
            ids = [i for i in query.get("ids", "").split(",") if i]
            self._send(200, MARKET.answer(ids, query.get("vs_currencies", "usd")))
        elif parts.path == "/control/served":
            with MARKET.lock:
                self._send(200, list(MARKET.served))
        elif parts.path == "/control/health":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        if parts.path == "/control/factor":
            with MARKET.lock:
                MARKET.factor = float(query["value"])
            self._send(200, {"factor": MARKET.factor})
        else:
            self._send(404, {"error": "not found"})

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print(f"fakeprice: listening on {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
