"""Benchmark: candles and volatility rank via the relations vs a GROUP BY over raw ticks.

Loads DAYS of ticks every STEP seconds for SYMBOLS random-walk symbols, ending now, into a
fresh database (generated server-side with generate_series: the load is not what is timed),
refreshes the continuous aggregates on TimescaleDB, then times each query REPEAT times and
prints the medians side by side with their ratio. Run by hand, never in the test suite:

    .venv/bin/python -m bench.analytics --dsn postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m bench.analytics --local-cluster /usr/lib/postgresql/15/bin

The database named by --dsn is only used to create and drop the benchmark's own database.
"""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import statistics
import time
from collections.abc import Iterator

import psycopg

from bench import cluster
from cryptomonitor.db import migrations

BENCH_DB = "cryptomonitor_bench"

QUERIES = {
    "1-day candles, one symbol": (
        "SELECT bucket, open, high, low, close, volume, ticks FROM ohlcv_1d"
        " WHERE symbol = 'sym000' ORDER BY bucket",
        "SELECT date_bin(INTERVAL '1 day', time, TIMESTAMPTZ '2000-01-01 00:00:00+00'),"
        " (array_agg(price ORDER BY time))[1], max(price), min(price),"
        " (array_agg(price ORDER BY time DESC))[1],"
        " (array_agg(volume_24h ORDER BY time DESC))[1],"
        " count(*) FROM ticks WHERE symbol = 'sym000' GROUP BY 1 ORDER BY 1",
    ),
    "volatility rank, all symbols": (
        "SELECT symbol, stddev, samples, rank FROM volatility_24h ORDER BY rank",
        "SELECT symbol, stddev_samp(price), count(*),"
        " rank() OVER (ORDER BY stddev_samp(price) DESC NULLS LAST) FROM ticks"
        " WHERE time >= date_bin(INTERVAL '1 minute', now(), TIMESTAMPTZ '2000-01-01 00:00+00')"
        " - INTERVAL '23 hours 59 minutes' GROUP BY symbol ORDER BY 4",
    ),
}


def load(conn: psycopg.Connection, symbols: int, days: int, step: int) -> int:
    for s in range(symbols):
        conn.execute(
            "INSERT INTO ticks (time, symbol, price, volume_24h, source)"
            " SELECT t, %(sym)s, %(base)s * exp(sum(r) OVER (ORDER BY t)), 1e6 * (1 + random()),"
            "        'bench'"
            " FROM (SELECT t, (random() - 0.5) * 0.002 AS r FROM generate_series("
            "        date_trunc('second', now()) - make_interval(days => %(days)s),"
            "        date_trunc('second', now()), make_interval(secs => %(step)s)) AS t) AS walk",
            {"sym": f"sym{s:03d}", "base": 100.0 * (s + 1), "days": days, "step": step},
        )
    row = conn.execute("SELECT count(*) FROM ticks").fetchone()
    assert row is not None
    return int(row[0])


def timed(conn: psycopg.Connection, sql: str, repeat: int) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = len(conn.execute(sql).fetchall())  # type: ignore[arg-type]
        times.append(time.perf_counter() - started)
    return statistics.median(times), rows


@contextlib.contextmanager
def server(args: argparse.Namespace) -> Iterator[str]:
    if args.dsn:
        yield args.dsn
        return
    with cluster.local_cluster(pathlib.Path(args.local_cluster), args.durable) as url:
        yield url


def describe(conn: psycopg.Connection) -> str:
    """The server, the schema's flavour and the durability settings a run had: every bench
    prints it, since each figure means little without them."""
    settings = dict(
        conn.execute(  # type: ignore[arg-type]
            "SELECT name, setting FROM pg_settings"
            " WHERE name IN ('server_version', 'fsync', 'synchronous_commit', 'full_page_writes')"
        ).fetchall()
    )
    return (
        f"server: PostgreSQL {settings['server_version']}, flavour "
        f"{migrations.current_flavour(conn)}; fsync {settings['fsync']}, synchronous_commit "
        f"{settings['synchronous_commit']}, full_page_writes {settings['full_page_writes']}"
    )


@contextlib.contextmanager
def bench_database(server_url: str, timescaledb: str = "auto") -> Iterator[str]:
    """A fresh, migrated database for the benchmark on that server, dropped afterwards;
    `timescaledb` as `migrations.migrate` takes it (``off``: plain PostgreSQL's flavour on a
    server that has the extension)."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {BENCH_DB}")
    url = psycopg.conninfo.make_conninfo(server_url, dbname=BENCH_DB)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            migrations.migrate(conn, timescaledb)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """--dsn or --local-cluster: where `server` finds PostgreSQL (every bench script)."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--dsn", help="an existing server (a database there to connect to)")
    where.add_argument(
        "--local-cluster",
        metavar="BINDIR",
        help="start a throwaway cluster with these PostgreSQL binaries",
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="with --local-cluster: PostgreSQL's default durability (fsync on), not fsync off",
    )
    parser.add_argument(
        "--timescaledb",
        choices=("auto", "on", "off"),
        default="auto",
        help="the schema's flavour: TimescaleDB where the server has it (auto), or not (off)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--step", type=int, default=1, help="seconds between ticks")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with server(args) as url, bench_database(url, args.timescaledb) as bench_url:
        run(bench_url, args)


def run(url: str, args: argparse.Namespace) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        flavour = migrations.current_flavour(conn)
        started = time.perf_counter()
        rows = load(conn, args.symbols, args.days, args.step)
        loaded = time.perf_counter() - started
        refreshed = 0.0
        if flavour == "timescaledb":
            started = time.perf_counter()
            for view in ("ohlcv_1m", "ohlcv_1h", "ohlcv_1d"):
                conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
            refreshed = time.perf_counter() - started
        conn.execute("VACUUM ANALYZE")
        print(describe(conn))
        print(
            f"data: {rows:,} ticks = {args.symbols} symbols x {args.days} days every "
            f"{args.step} s; generated in {loaded:.1f} s"
            + (f"; continuous aggregates refreshed in {refreshed:.1f} s" if refreshed else "")
        )
        print(f"{'query':<30} {'relation':>12} {'raw GROUP BY':>14} {'raw/relation':>13}  rows")
        for name, (relation_sql, raw_sql) in QUERIES.items():
            rel, n_rel = timed(conn, relation_sql, args.repeat)
            raw, n_raw = timed(conn, raw_sql, args.repeat)
            print(
                f"{name:<30} {rel * 1000:>10.1f}ms {raw * 1000:>12.1f}ms {raw / rel:>12.1f}x"
                f"  {n_rel}/{n_raw}"
            )


if __name__ == "__main__":
    main()
