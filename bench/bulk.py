"""Benchmark: bulk history through ``replay`` (alerts on) against a raw COPY of the same rows.

Writes SYMBOLS CSV files of DAYS of 1-minute bars (random walks, in the format ``replay``
reads; not timed), then in one run on one server:

- ``replay``: the files through `replay.replay_files`, the code ``cryptomonitor replay A B C
  --symbol a --symbol b --symbol c`` runs (JOBS files at once, each in a process of its own;
  CSV parsing, four ticks a bar with their rolling 24-hour volume, the pipeline, the alert
  rules, alert lines written and fsynced): ticks/s, alerts raised;
- the same ticks, made in memory first, COPYed (text, as psycopg's ``write_row``) into a
  table like ``ticks`` (its columns, keys and indexes, no trigger): the raw baseline;
- and COPYed into ``ticks`` itself (with whatever keeps its rollups, on plain PostgreSQL).

Run by hand, never in the test suite:

    .venv/bin/python -m bench.bulk --local-cluster /usr/lib/postgresql/15/bin
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import pathlib
import random
import tempfile
import threading
import time
from collections.abc import Sequence

import psycopg

from bench.analytics import add_server_arguments, bench_database, describe, server
from cryptomonitor import config
from cryptomonitor.commands import replay
from cryptomonitor.sources import barfiles


def write_bars(path: pathlib.Path, days: int, seed: int, end: dt.datetime) -> None:
    rng = random.Random(seed)
    price = 100.0 * (seed + 1)
    t = end - dt.timedelta(days=days)
    with path.open("w") as f:
        f.write("timestamp,open,high,low,close,volume\n")
        while t < end:
            o = price
            c = o * math.exp(rng.gauss(0, 0.001))
            if rng.random() < 1e-4:  # a rare spike: something for the alert rules
                c *= 4
            h, lo = max(o, c) * (1 + rng.random() * 1e-3), min(o, c) * (1 - rng.random() * 1e-3)
            f.write(f"{t.isoformat()},{o!r},{h!r},{lo!r},{c!r},{rng.uniform(1, 100)!r}\n")
            price = c if c < 3 * o else o
            t += dt.timedelta(minutes=1)


def timed_copy(url: str, table: str, rows: Sequence[tuple[object, ...]]) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {table} (time, symbol, price, volume_24h, source) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return time.perf_counter() - started


def run(url: str, args: argparse.Namespace) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        described = describe(conn)
    end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        files = [pathlib.Path(tmp) / f"sym{i}.csv" for i in range(args.symbols)]
        for i, path in enumerate(files):
            write_bars(path, args.days, i, end)
        settings = config.load(
            {"DATABASE_URL": url, "CRYPTOMONITOR_ALERTS_FILE": str(pathlib.Path(tmp) / "a.txt")}
        )
        started = time.perf_counter()
        summary = replay.replay_files(
            settings,
            [(p, p.stem) for p in files],
            threading.Event(),
            workers=args.jobs,
            batch_size=args.batch,
        )
        replayed = time.perf_counter() - started
        ticks, alerts = summary.stored, summary.alerts
        rows = [
            (t.time, t.symbol, t.price, t.volume_24h, "copy")
            for path in files
            for t in barfiles.ticks(barfiles.read_bars(path), path.stem)
        ]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE ticks_raw (LIKE ticks INCLUDING ALL)")
        conn.execute("TRUNCATE ticks")
    raw = timed_copy(url, "ticks_raw", rows)
    into_ticks = timed_copy(url, "ticks", rows)
    print(described)
    print(f"data: {args.symbols} files x {args.days} days of 1-minute bars = {len(rows):,} ticks")
    print(f"{'path':<34} {'seconds':>8} {'ticks/s':>10} {'vs raw COPY':>12}")
    for name, seconds in (
        (f"replay, {args.jobs} at once (alerts on)", replayed),
        ("raw COPY into a table like ticks", raw),
        ("COPY into ticks", into_ticks),
    ):
        print(f"{name:<34} {seconds:>8.2f} {len(rows) / seconds:>10,.0f} {raw / seconds:>11.2f}x")
    print(f"replay stored {ticks:,} ticks and raised {alerts} alert events")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--symbols", type=int, default=3)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=3, help="files replayed at once (--jobs)")
    parser.add_argument("--batch", type=int, default=5000, help="ticks a transaction (--batch)")
    args = parser.parse_args()
    with server(args) as url, bench_database(url, args.timescaledb) as bench_url:
        run(bench_url, args)


if __name__ == "__main__":
    main()
