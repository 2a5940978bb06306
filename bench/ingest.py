"""Benchmark: the ingest pipeline's sustained rate with alerts on, against a raw COPY.

For each N (symbols), in a child process of its own (so its peak memory is its own): a fresh
database gets HISTORY seconds of 1-second ticks for N symbols (generated server-side, not
timed), so the 1-hour windows are full. Then SECONDS of simulated time are driven through the
REAL pipeline code path as fast as it goes, one simulated second per poll: each second is a
``/simple/price`` payload of N coins (random walks, with rare 4x spikes), parsed and validated
by the CoinGecko parser, submitted to the pipeline, inserted, evaluated against the alert
rules, and its alert lines appended (with fsync) to an alerts file. No sleeping.

Printed side by side, per N, in one run on one server:
- pipeline rate with the default alert rules, on the fast path (a batch the alert cache
  proves new: one binary COPY) as ``run`` takes it (lines first: judged before it is written,
  the ticks that raised events committed first and their lines written, then the rest) and as
  bulk loads take it (``replay``, ``demo``: judged while the server inserts it), and on the
  general path (staged, guarded, INSERT ... ON CONFLICT: a restart's first poll, or another
  writer);
- a raw COPY of the same number of rows into the same table (the median of 3), and
  pipeline / COPY;
- the alert check's cost per tick (CPU time in `AlertEngine.judge`, fast path), and p50/p99
  from a tick's arrival (its poll's answer received, before parsing) to its alert line written
  and fsynced (lines first);
- the child process's peak RSS.

Run by hand, never in the test suite:

    .venv/bin/python -m bench.ingest --local-cluster /usr/lib/postgresql/15/bin
    .venv/bin/python -m bench.ingest --dsn postgresql://postgres@127.0.0.1/postgres --symbols 1000
    .venv/bin/python -m bench.ingest --local-cluster /usr/lib/postgresql/15/bin --symbols 1000 \
        --rules default,bench/rules_20.toml   # the four defaults, then 20 rules of every kind

With ``--rules``, each N runs once per rules set (``default``: the built-in four), one row each,
and the alert check's cost per tick and rule is printed (``check/rule``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import json
import math
import pathlib
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import psycopg

from bench.analytics import add_server_arguments, bench_database, describe, server
from bench.bulk import timed_copy
from cryptomonitor.alerting import alertfile
from cryptomonitor.alerting import rules as rulebook
from cryptomonitor.db import database, migrations
from cryptomonitor.ingest import writer
from cryptomonitor.ingest.pipeline import Pipeline
from cryptomonitor.models import Tick
from cryptomonitor.sources import coingecko

RULES: tuple[rulebook.Rule, ...] = rulebook.DEFAULT_RULES  # the child's (--rules)
SPIKE_PROBABILITY = 1e-3  # enough alert lines for a p99 that is not just the maximum
COPY_RUNS = 3  # the raw COPY is timed this many times; the median is printed


def symbols(n: int) -> list[str]:
    return [f"sym{i:05d}" for i in range(n)]


def load_history(conn: psycopg.Connection, n: int, start: int, seconds: int) -> int:
    """`seconds` of 1-second ticks for n symbols from epoch `start`, generated server-side."""
    conn.execute(
        "INSERT INTO ticks (time, symbol, price, volume_24h, source)"
        " SELECT to_timestamp(%(start)s + s), 'sym' || lpad(i::text, 5, '0'),"
        "        100.0 * (1 + i %% 50) * (1 + 0.001 * random()), 1e6 * (1 + 0.001 * random()),"
        "        'bench'"
        " FROM generate_series(0, %(n)s - 1) AS i, generate_series(0, %(secs)s - 1) AS s",
        {"start": start, "n": n, "secs": seconds},
    )
    # As a long-running database would be: statistics current, the visibility map set, and
    # no autovacuum of the fresh rows starting in the middle of the timed runs.
    conn.execute("VACUUM (ANALYZE) ticks")
    return n * seconds


def payloads(n: int, start: int, seconds: int, seed: int) -> list[dict[str, Any]]:
    """One /simple/price answer per simulated second: random walks with rare 4x spikes."""
    rng = random.Random(seed)
    prices = [100.0 * (1 + i % 50) for i in range(n)]
    volumes = [1e6] * n
    names = symbols(n)
    out = []
    for s in range(seconds):
        answer = {}
        for i, name in enumerate(names):
            prices[i] *= math.exp(rng.gauss(0, 0.0002))
            volumes[i] *= math.exp(rng.gauss(0, 0.0002))
            price = prices[i] * (4 if rng.random() < SPIKE_PROBABILITY else 1)
            answer[name] = {"usd": price, "usd_24h_vol": volumes[i], "last_updated_at": start + s}
        out.append(answer)
    return out


@dataclasses.dataclass(frozen=True)
class TimedAlertFile(alertfile.AlertFile):
    """The alerts file, noting when each append returned (its lines written and fsynced)."""

    appended: list[tuple[float, int]] = dataclasses.field(default_factory=list)

    def append(self, lines: list[str]) -> None:
        super().append(lines)
        self.appended.append((time.perf_counter(), len(lines)))


def drive(
    pipeline: Pipeline,
    answers: list[dict[str, Any]],
    coins: list[str],
    now: dt.datetime,
    label: str = "fast",
) -> dict[str, Any]:
    """Feed each answer through parser -> pipeline -> database -> alerts file; time it."""
    latencies: list[float] = []
    ticks = events = fast_batches = 0
    appended = pipeline.alert_file.appended  # type: ignore[attr-defined]
    judged = [0.0]
    judge = pipeline.writer.engine.judge

    def timed_judge(known: Any, batch: Sequence[Tick]) -> Any:
        started = time.process_time()
        try:
            return judge(known, batch)
        finally:
            judged[0] += time.process_time() - started

    pipeline.writer.engine.judge = timed_judge  # type: ignore[method-assign,assignment]
    # The first poll loads each symbol's last hour into the alert windows: a one-time cost at
    # start-up, timed on its own; the rate is the sustained one after it.
    warm = time.perf_counter()
    pipeline.submit(coingecko.parse_simple_price(answers[0], coins, "usd", now=now).ticks)
    pipeline.flush()
    warmup = time.perf_counter() - warm
    judged[0] = 0.0
    appended.clear()
    started = time.perf_counter()

    def sustained() -> None:  # its own frame, named per run: `bench.stages --within sustained_fast`
        nonlocal ticks, events, fast_batches, latencies
        for answer in answers[1:]:
            arrived = time.perf_counter()
            parsed = coingecko.parse_simple_price(answer, coins, "usd", now=now)
            pipeline.submit(parsed.ticks)
            result = pipeline.flush()
            if not result.database_ok:
                raise RuntimeError("database unavailable during the benchmark")
            latencies += [at - arrived for at, count in appended for _ in range(count)]
            appended.clear()
            ticks += len(parsed.ticks)
            events += result.events
            fast_batches += result.fast_batches

    # A sampling profiler reads the frame's name from its code object (bench/stages.py).
    name = f"sustained_{label}"
    sustained.__code__ = sustained.__code__.replace(co_name=name, co_qualname=name)
    sustained()
    elapsed = time.perf_counter() - started
    return {
        "ticks": ticks,
        "seconds": elapsed,
        "rate": ticks / elapsed,
        "events": events,
        "latencies": latencies,
        "warmup": warmup,
        "fast_batches": fast_batches,
        "batches": (len(answers) - 1) * -(-len(coins) // pipeline.batch_size),
        "check_us": 1e6 * judged[0] / max(1, ticks),
    }


def copy_rows(url: str, answers: list[dict[str, Any]]) -> dict[str, float]:
    rows = [
        (
            dt.datetime.fromtimestamp(e["last_updated_at"], dt.UTC),
            name,
            e["usd"],
            e["usd_24h_vol"],
            "copy",
        )
        for answer in answers
        for name, e in answer.items()
    ]
    elapsed = timed_copy(url, "ticks", rows)
    return {"ticks": len(rows), "seconds": elapsed, "rate": len(rows) / elapsed}


def child(url: str, n: int, seconds: int, history: int) -> dict[str, Any]:
    coins = symbols(n)
    # Simulated time: history, then a fast-path run, a general-path run and the COPY, ending
    # now.
    start = int(time.time()) - history - (3 + COPY_RUNS) * seconds - 60
    with psycopg.connect(url, autocommit=True) as conn:
        flavour = migrations.current_flavour(conn)
        load_history(conn, n, start, history)
    now = dt.datetime.now(dt.UTC)
    t_fast, t_bulk, t_general, t_copy = (start + history + k * seconds for k in range(4))
    out: dict[str, Any] = {"symbols": n, "flavour": flavour, "history": n * history}
    with tempfile.TemporaryDirectory() as tmp:
        for label, t in (("fast", t_fast), ("bulk", t_bulk), ("general", t_general)):
            answers = payloads(n, t, seconds, seed=n)
            # The generated answers are the benchmark's, not the pipeline's: keep the garbage
            # collector from walking them (a full pass over them is a ~20 ms pause).
            gc.freeze()
            path = pathlib.Path(tmp) / f"alerts-{label}.txt"
            pipeline = Pipeline(
                database.Database(url),
                writer.BatchWriter(RULES, 3600.0),
                TimedAlertFile(path),
                buffer_max_ticks=max(100_000, 2 * n),
                lines_first=label == "fast",
            )
            if label == "general":  # as if the cache could never prove a batch new
                pipeline.writer.cache.proves_new = lambda ticks: False  # type: ignore[method-assign]
            try:
                out[label] = drive(pipeline, answers, coins, now, label)
            finally:
                pipeline.db.close()
            if label == "fast":  # the peak of the pipeline as it runs, before a second cache
                out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            del pipeline
            written = len(path.read_text().splitlines()) if path.exists() else 0
            assert written >= out[label]["events"], (written, out[label]["events"])
        copies = sorted(
            (
                copy_rows(url, payloads(n, t_copy + k * seconds, seconds, seed=n))
                for k in range(COPY_RUNS)
            ),
            key=lambda c: c["rate"],
        )
        out["copy"] = copies[len(copies) // 2]  # the median of a few: noisy
    lat = sorted(out["fast"].pop("latencies")) or [math.nan]
    out["general"].pop("latencies")
    out["bulk"].pop("latencies")
    out["latency_p50_ms"] = 1000 * statistics.median(lat)
    out["latency_p99_ms"] = 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument(
        "--symbols",
        default="3,100,1000,10000",
        help="comma-separated N to run (default 3,100,1000,10000)",
    )
    parser.add_argument(
        "--ticks",
        type=int,
        default=60_000,
        help="ticks per run (general path, fast path, COPY); simulated seconds = "
        "ticks / N, at least 10",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=3600,
        help="seconds of 1-second history per symbol before the runs",
    )
    parser.add_argument("--runs", type=int, default=1, help="runs per N (a row each)")
    parser.add_argument(
        "--rules",
        default="default",
        help="comma-separated rules files, each run for every N ('default': the built-in four)",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        global RULES
        if args.rules != "default":
            RULES = rulebook.load(pathlib.Path(args.rules))
        seconds = max(10, args.ticks // args.child)
        print(json.dumps(child(args.dsn, args.child, seconds, args.history)))
        return
    with server(args) as url, bench_database(url, args.timescaledb) as bench_url:
        report(bench_url, args)


def report(url: str, args: argparse.Namespace) -> None:
    with psycopg.connect(url) as conn:
        print(describe(conn))
    print(f"{args.history} s of 1-second history per symbol; a poll per simulated second")
    print(
        f"{'N':>6} {'rules':>16} {'flavour':>11} {'ticks':>7} {'pipeline':>10} {'bulk':>10} "
        f"{'general':>10} "
        f"{'COPY':>10} {'pipe/COPY':>9} {'check':>9} {'alerts':>6} {'p50':>8} {'p99':>8} "
        f"{'check/rule':>10} {'peak RSS':>9} {'warm-up':>8} {'fast batches':>12}"
    )
    sets = args.rules.split(",")
    for n, rules_set in (
        (int(x), r) for x in args.symbols.split(",") for _ in range(args.runs) for r in sets
    ):
        count = len(
            rulebook.DEFAULT_RULES
            if rules_set == "default"
            else rulebook.load(pathlib.Path(rules_set))
        )
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("TRUNCATE ticks, alerts, alert_state")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.ingest",
                "--dsn",
                url,
                "--child",
                str(n),
                "--ticks",
                str(args.ticks),
                "--history",
                str(args.history),
                "--rules",
                rules_set,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(f"{n:>6} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        fast = r["fast"]
        print(
            f"{n:>6} {pathlib.Path(rules_set).stem[:10] + f' ({count})':>16} "
            f"{r['flavour']:>11} {fast['ticks']:>7} {fast['rate']:>8.0f}/s "
            f"{r['bulk']['rate']:>8.0f}/s {r['general']['rate']:>8.0f}/s "
            f"{r['copy']['rate']:>8.0f}/s "
            f"{fast['rate'] / r['copy']['rate']:>8.2f}x {fast['check_us']:>7.1f}us "
            f"{fast['events']:>6} {r['latency_p50_ms']:>6.1f}ms {r['latency_p99_ms']:>6.1f}ms "
            f"{fast['check_us'] / count:>8.2f}us "
            f"{r['peak_rss_mb']:>7.0f}MB {fast['warmup']:>7.1f}s "
            f"{fast['fast_batches']:>6}/{fast['batches']:<6}",
            flush=True,
        )


if __name__ == "__main__":
    main()
