"""Benchmark: binance-ws into the database with alerts on, against a raw COPY of the same rows.

A local WebSocket server (127.0.0.1) plays Binance's combined stream: after the subscription,
MINUTES closed ``kline_1m`` frames for each of N symbols, as fast as the socket takes them.
The real source (`StreamSource` with `BinanceKlines`: its socket thread, parsing, four ticks a
kline, the bounded buffer) feeds the real pipeline (`run`'s lines-first writer, the default
alert rules or ``--rules FILE``, alert lines fsynced), polled in a loop with no sleep, until
every kline is stored or a deadline passes. Printed, in one run on one server:

- frames (klines) a second and ticks a second through the whole path, and the buffer's drops
  (counted, never silent: a slow writer drops the oldest);
- a raw COPY of the same ticks into a table like ``ticks`` (its keys, no trigger), and the
  ratio.

Run by hand, never in the test suite:

    .venv/bin/python -m bench.streams --local-cluster /usr/lib/postgresql/15/bin --symbols 1000
    .venv/bin/python -m bench.streams --local-cluster /usr/lib/postgresql/15/bin \
        --rules bench/rules_20.toml --timescaledb off     # twenty rules, plain PostgreSQL
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pathlib
import tempfile
import threading
import time
from collections.abc import Iterator

import psycopg
from websockets.sync.server import ServerConnection, serve

from bench.analytics import add_server_arguments, bench_database, describe, server
from bench.bulk import timed_copy
from cryptomonitor.alerting import alertfile
from cryptomonitor.alerting import rules as rulebook
from cryptomonitor.db import database
from cryptomonitor.ingest import writer
from cryptomonitor.ingest.pipeline import Pipeline
from cryptomonitor.models import Tick
from cryptomonitor.sources.http import JsonClient
from cryptomonitor.sources.streams import binance as binance_ws
from cryptomonitor.sources.streams.source import StreamSource


def frames(symbols: list[str], minutes: int, start_ms: int) -> list[str]:
    out = []
    for m in range(minutes):
        t = start_ms + m * 60_000
        for i, symbol in enumerate(symbols):
            close = 100.0 * (1 + i % 50) * (1 + 0.001 * (m % 7))
            spike = 4 if (m * len(symbols) + i) % 1000 == 999 and m > 10 else 1
            c = close * spike
            out.append(
                json.dumps(
                    {
                        "stream": f"{symbol}@kline_1m",
                        "data": {
                            "e": "kline",
                            "E": t + 60_000,
                            "s": symbol.upper(),
                            "k": {
                                "t": t,
                                "T": t + 59_999,
                                "s": symbol.upper(),
                                "i": "1m",
                                "o": repr(close),
                                "h": repr(max(close, c) * 1.001),
                                "l": repr(close * 0.999),
                                "c": repr(c),
                                "v": f"{10 + i % 17}.{m % 1000:03d}",
                                "x": True,
                            },
                        },
                    }
                )
            )
    return out


@contextlib.contextmanager
def stream_server(payload: list[str]) -> Iterator[str]:
    def handle(ws: ServerConnection) -> None:
        request = json.loads(ws.recv())
        ws.send(json.dumps({"result": None, "id": request["id"]}))
        for frame in payload:
            ws.send(frame)
        with contextlib.suppress(Exception):
            ws.recv(timeout=600)  # stay connected until the client leaves

    with serve(handle, "127.0.0.1", 0, ping_interval=None, max_size=None) as ws_server:
        thread = threading.Thread(target=ws_server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{ws_server.socket.getsockname()[1]}/stream"
        finally:
            ws_server.shutdown()
            thread.join(5)


def run(url: str, args: argparse.Namespace) -> None:
    rules = rulebook.load(args.rules)  # None: the four defaults
    symbols = [f"s{i:05d}usdt" for i in range(args.symbols)]
    start_ms = (int(time.time()) // 60 - args.minutes - 5) * 60_000
    payload = frames(symbols, args.minutes, start_ms)
    with psycopg.connect(url, autocommit=True) as conn:
        described = describe(conn)
    with tempfile.TemporaryDirectory() as tmp, stream_server(payload) as ws_url:
        pipeline = Pipeline(
            database.Database(url),
            writer.BatchWriter(rules, 3600.0),
            alertfile.AlertFile(pathlib.Path(tmp) / "a"),
            lines_first=True,
        )
        source = StreamSource(
            name=binance_ws.NAME,
            unknown_hint=binance_ws.UNKNOWN_HINT,
            url=ws_url,
            symbols=symbols,
            exchange=binance_ws.BinanceKlines,
            per_connection=binance_ws.MAX_STREAMS,
            client=JsonClient(timeout=5, attempts=1, deadline=10),
            buffer_max=args.buffer,
        )
        stored = events = 0
        expected = 4 * len(payload)
        started = time.perf_counter()
        deadline = started + args.deadline
        with source:
            while stored < expected - 4 * source.buffer.dropped and time.perf_counter() < deadline:
                pipeline.submit(source.fetch().ticks)
                flushed = pipeline.flush()
                stored, events = stored + flushed.new, events + flushed.events
        elapsed = time.perf_counter() - started
        dropped = source.buffer.dropped
        pipeline.close()
    rows = [(t.time, t.symbol, t.price, t.volume_24h, "copy") for t in _ticks(payload)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE ticks_raw (LIKE ticks INCLUDING ALL)")
    raw = timed_copy(url, "ticks_raw", rows)
    print(described)
    print(
        f"stream: {len(payload):,} closed klines = {args.symbols} symbols x {args.minutes} "
        f"minutes, {expected:,} ticks; buffer bound {args.buffer:,} ticks; "
        f"{len(rules)} rules ({args.rules or 'the defaults'})"
    )
    print(
        f"binance-ws -> pipeline (alerts on): {stored:,} ticks in {elapsed:.2f} s = "
        f"{len(payload) * stored / expected / elapsed:,.0f} klines/s, "
        f"{stored / elapsed:,.0f} ticks/s; {dropped:,} ticks dropped (counted, logged); "
        f"{events} alert events"
    )
    ratio = (stored / elapsed) / (len(rows) / raw)
    print(
        f"raw COPY of the same ticks into a table like ticks: {raw:.2f} s = "
        f"{len(rows) / raw:,.0f} rows/s; stream / COPY = {ratio:.2f}x"
    )


def _ticks(payload: list[str]) -> list[Tick]:
    klines = binance_ws.BinanceKlines([])
    return [t for frame in payload for t in klines.handle(json.loads(frame)).ticks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument(
        "--buffer",
        type=int,
        default=100_000,
        help="the stream buffer's bound in ticks (CRYPTOMONITOR_STREAM_BUFFER_MAX)",
    )
    parser.add_argument("--deadline", type=float, default=300.0)
    parser.add_argument(
        "--rules", type=pathlib.Path, default=None, help="a rules file (default: the four)"
    )
    args = parser.parse_args()
    with server(args) as url, bench_database(url, args.timescaledb) as bench_url:
        run(bench_url, args)


if __name__ == "__main__":
    main()
