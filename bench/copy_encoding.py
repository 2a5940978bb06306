"""Binary COPY of ticks: our encoder (cryptomonitor/copybinary.py) against psycopg's own.

psycopg writes binary COPY rows itself (``copy.set_types`` + ``copy.write_row``, in C with
psycopg[binary]). This measures, in one run on one server, for the same rows into the same
table: the client's time to encode them, and the whole COPY (encode + send + insert), each
the median of --repeat runs. The table is truncated between runs.

    .venv/bin/python -m bench.copy_encoding --local-cluster /usr/lib/postgresql/15/bin
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable

import psycopg

from bench.analytics import add_server_arguments, bench_database, server
from cryptomonitor.ingest import copybinary
from cryptomonitor.models import Tick

TYPES = ["timestamptz", "text", "float8", "float8", "text", "float8"]
COPY = "COPY ticks (time, symbol, price, volume_24h, source, volume) FROM STDIN (FORMAT binary)"


def make_ticks(n: int, symbols: int) -> list[Tick]:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return [
        Tick(
            start + dt.timedelta(seconds=i // symbols),
            f"sym{i % symbols:04d}",
            100.0 + (i % 997) * 0.01,
            1e9 + i,
            "bench",
        )
        for i in range(n)
    ]


def chunks(ticks: list[Tick], size: int) -> list[list[Tick]]:
    return [ticks[i : i + size] for i in range(0, len(ticks), size)]


def ours(conn: psycopg.Connection, batches: list[list[Tick]]) -> None:
    for batch in batches:  # one COPY a batch, as the fast path (repository.append) sends a poll
        with conn.cursor() as cur, cur.copy(COPY) as copy:
            for block in copybinary.blocks(batch, 250):
                copy.write(block)


def psycopgs(conn: psycopg.Connection, batches: list[list[Tick]]) -> None:
    for batch in batches:
        with conn.cursor() as cur, cur.copy(COPY) as copy:
            copy.set_types(TYPES)
            for t in batch:
                copy.write_row(t)


def encode_ours(ticks: list[Tick]) -> None:
    b"".join(copybinary.blocks(ticks, 250))


def timed(fn: Callable[[], None], repeat: int, between: Callable[[], None]) -> float:
    runs = []
    for _ in range(repeat):
        between()
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1000, help="rows per COPY (a poll)")
    args = parser.parse_args()
    ticks = make_ticks(args.rows, args.symbols)
    batches = chunks(ticks, args.batch)
    with (
        server(args) as url,
        bench_database(url, args.timescaledb) as bench_url,
        psycopg.connect(bench_url, autocommit=True) as conn,
    ):

        def truncate() -> None:
            conn.execute("TRUNCATE ticks")

        def nothing() -> None:
            pass

        enc_ours = timed(lambda: encode_ours(ticks), args.repeat, nothing)
        copy_ours = timed(lambda: ours(conn, batches), args.repeat, truncate)
        copy_theirs = timed(lambda: psycopgs(conn, batches), args.repeat, truncate)
        row = conn.execute("SELECT count(*) FROM ticks").fetchone()
        assert row is not None
        assert row[0] == args.rows
    print(
        f"{args.rows:,} rows, {args.symbols} symbols, {args.batch} rows a COPY, "
        f"median of {args.repeat}"
    )
    print(
        f"  encode only, ours (copybinary):     {enc_ours * 1e3:8.1f} ms "
        f"({args.rows / enc_ours:,.0f} rows/s)"
    )
    print(
        f"  whole COPY, ours (copybinary):      {copy_ours * 1e3:8.1f} ms "
        f"({args.rows / copy_ours:,.0f} rows/s)"
    )
    print(
        f"  whole COPY, psycopg write_row:      {copy_theirs * 1e3:8.1f} ms "
        f"({args.rows / copy_theirs:,.0f} rows/s)"
    )
    print(f"  ours / psycopg, whole COPY:         {copy_theirs / copy_ours:8.2f}x faster")


if __name__ == "__main__":
    main()
