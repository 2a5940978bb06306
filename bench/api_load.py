"""Load check of the REST API: requests/s and latency percentiles, on 127.0.0.1 only.

Loads SYMBOLS symbols x 24 hours of ticks every STEP seconds, ending now (generated
server-side), starts ``cryptomonitor api`` on a free loopback port, and has CLIENTS threads
request each endpoint for SECONDS seconds (keep-alive, random symbols). Every request loop is
bounded in time; nothing leaves the machine. Run by hand:

    .venv/bin/python -m bench.api_load --local-cluster /usr/lib/postgresql/15/bin
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import psycopg
import requests

from bench import cluster
from bench.analytics import add_server_arguments, bench_database, load, server
from cryptomonitor.db import migrations

ENDPOINTS = {
    "/rank/{symbol}": "/rank/{symbol}",
    "/metrics/{symbol}?interval=1h": "/metrics/{symbol}?interval=1h",
    "/metrics/{symbol}?interval=1m": "/metrics/{symbol}?interval=1m",
    "/metrics/{symbol} (raw ticks)": "/metrics/{symbol}",
}


@contextlib.contextmanager
def api_server(url: str) -> Iterator[str]:
    port = cluster.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOMONITOR_")}
    env.update(DATABASE_URL=url, CRYPTOMONITOR_LOG_LEVEL="warning")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cryptomonitor",
            "api",
            "--api-host",
            "127.0.0.1",
            "--api-port",
            str(port),
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(base + "/metrics", timeout=5).ok:
                    break
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def hammer(base: str, path: str, symbols: int, clients: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        nonlocal errors
        session = requests.Session()
        mine, bad = [], 0
        while time.monotonic() < stop_at:
            url = base + path.format(symbol=f"sym{random.randrange(symbols):03d}")
            started = time.perf_counter()
            try:
                ok = session.get(url, timeout=30).status_code == 200
            except requests.RequestException:
                ok = False
            mine.append(time.perf_counter() - started)
            bad += not ok
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50": q[49],
        "p99": q[98],
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--step", type=int, default=1, help="seconds between ticks")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="per endpoint")
    args = parser.parse_args()
    with server(args) as admin_url, bench_database(admin_url, args.timescaledb) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            flavour = migrations.current_flavour(conn)
            started = time.perf_counter()
            rows = load(conn, args.symbols, 1, args.step)
            if flavour == "timescaledb":
                for view in ("ohlcv_1m", "ohlcv_1h", "ohlcv_1d"):
                    conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
            conn.execute("VACUUM ANALYZE")
            print(
                f"flavour {flavour}: {rows:,} ticks ({args.symbols} symbols x 24 h every "
                f"{args.step} s) ready in {time.perf_counter() - started:.0f} s; "
                f"{args.clients} client threads, {args.seconds:g} s per endpoint"
            )
        with api_server(url) as base:
            print(
                f"{'endpoint':<34} {'requests':>8} {'req/s':>8} {'p50 ms':>8} "
                f"{'p99 ms':>8} {'errors':>6}"
            )
            for name, path in ENDPOINTS.items():
                r = hammer(base, path, args.symbols, args.clients, args.seconds)
                print(
                    f"{name:<34} {r['requests']:>8.0f} {r['rps']:>8.1f} "
                    f"{r['p50'] * 1000:>8.1f} {r['p99'] * 1000:>8.1f} {r['errors']:>6.0f}"
                )


if __name__ == "__main__":
    main()
