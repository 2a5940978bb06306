"""Benchmark: the peer users reach for (cryptofeed's Postgres backend) and this pipeline, on one
server, with the same ticks, in one run, each against a raw COPY of the same rows.

The ticks: BTCUSDT's recorded 2025-06-22 (tests/fixtures: 1-minute bars, four ticks a bar as
`replay` makes them), as SYMBOLS symbols (each on its own price scale), TICKS in all, in time
order, ending a minute ago; one arrival per tick time (every symbol at once: a poll's answer,
or a socket read's worth of frames). Both sides receive them already built (a cryptofeed
``Trade``, a `Tick`): neither parses, so what is compared is the way from there into the
database.

- peer: cryptofeed 2.4.1's ``TradePostgres`` (asyncpg; its writer task drains its queue and
  sends one ``INSERT ... VALUES`` of f-string rows per wake-up, in a transaction) into the
  ``trades`` table of cryptofeed's own examples (bench/sql/peer_trades.sql). Each arrival is
  awaited through the callback as a feed handler does, then the event loop runs once (as a
  feed's next socket read lets it), until the writer has drained its queue; its rows are
  counted. It checks nothing: no alert rule, no window, no outbox.
- this pipeline, as ``run`` takes a poll: the lines-first writer (the alert cache proving the
  batch new, one binary COPY, the alerts raised committed with their lines written to an alerts
  file and fsynced), once per rules set of ``--rules`` (``none``; ``default``: the four;
  bench/rules_20.toml: twenty of every kind), each into a fresh database.
- the baselines: the same rows COPYed (text, psycopg's ``write_row``) into a table like
  ``ticks`` (its keys, no trigger), and the peer's rows into a table like its ``trades``.

The contenders alternate within each of ROUNDS rounds (this machine is noisy); each round is
printed, then the medians. Run by hand, never in the test suite:

    .venv/bin/pip install -e ".[peer]"      # cryptofeed and asyncpg: for this script only
    .venv/bin/python -m bench.peer --local-cluster /usr/lib/postgresql/15/bin
    .venv/bin/python -m bench.peer --local-cluster /usr/lib/postgresql/15/bin --durable
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import importlib.metadata
import pathlib
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from bench.analytics import add_server_arguments, bench_database, describe, server
from cryptomonitor.alerting import alertfile
from cryptomonitor.alerting import rules as rulebook
from cryptomonitor.db import database
from cryptomonitor.ingest import writer
from cryptomonitor.ingest.pipeline import Pipeline
from cryptomonitor.models import Tick
from cryptomonitor.sources import barfiles

DAY = pathlib.Path(__file__).parents[1] / "tests" / "fixtures" / "BTCUSDT_1m_2025-06-22.csv"
PEER_TABLE = pathlib.Path(__file__).parent / "sql" / "peer_trades.sql"

Polls = list[list[Tick]]


def polls(symbols: int, total: int) -> Polls:
    """`total` ticks of `symbols` symbols from the recorded day, grouped by time (oldest
    first), shifted to end a minute ago."""
    per_symbol = total // symbols
    base = list(barfiles.ticks(barfiles.read_bars(DAY), "x"))
    if per_symbol > len(base):
        raise SystemExit(f"--ticks: at most {len(base):,} a symbol (the recorded day's)")
    base = base[:per_symbol]
    shift = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1) - base[-1].time
    out: Polls = []
    for t in base:
        at = t.time + shift
        out.append(
            [
                t._replace(
                    time=at,
                    symbol=f"s{i:05d}usdt",
                    price=t.price * (1 + i / 1000),
                    source="bench",
                )
                for i in range(symbols)
            ]
        )
    return out


def ours(url: str, arrivals: Polls, rules: Sequence[rulebook.Rule]) -> dict[str, Any]:
    """The arrivals through `run`'s lines-first pipeline: ticks a second, alert events."""
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Pipeline(
            database.Database(url),
            writer.BatchWriter(rules, 3600.0),
            alertfile.AlertFile(pathlib.Path(tmp) / "alerts.txt"),
            buffer_max_ticks=max(100_000, 2 * len(arrivals[0])),
            lines_first=True,
        )
        stored = events = 0
        started = time.perf_counter()
        try:
            for ticks in arrivals:
                pipeline.submit(ticks)
                result = pipeline.flush()
                if not result.database_ok:
                    raise RuntimeError("database unavailable during the benchmark")
                stored, events = stored + result.new, events + result.events
            elapsed = time.perf_counter() - started
        finally:
            pipeline.close()
    expected = sum(map(len, arrivals))
    if stored != expected:
        raise RuntimeError(f"this pipeline stored {stored:,} of {expected:,} ticks")
    return {"rate": stored / elapsed, "events": events}


def peer_trades(arrivals: Polls) -> list[list[Any]]:
    """The arrivals as cryptofeed ``Trade`` objects, as its Binance feed would make them."""
    from cryptofeed.types import Trade  # the peer: `pip install -e ".[peer]"`

    n = 0
    out = []
    for ticks in arrivals:
        batch = []
        for t in ticks:
            n += 1
            symbol = t.symbol.upper().removesuffix("USDT") + "-USDT"
            amount = t.volume if t.volume else 1.0
            batch.append(
                Trade("BINANCE", symbol, "buy", amount, t.price, t.time.timestamp(), id=str(n))
            )
        out.append(batch)
    return out


async def _peer(url: str, trades: list[list[Any]]) -> float:
    from cryptofeed.backends.postgres import TradePostgres

    info = psycopg.conninfo.conninfo_to_dict(url)
    callback = TradePostgres(
        host=info.get("host", "127.0.0.1"),
        port=int(info.get("port", 5432)),
        user=info.get("user"),
        pw=info.get("password"),
        db=info.get("dbname"),
    )
    callback.start(asyncio.get_running_loop())
    started = time.perf_counter()
    for batch in trades:
        receipt = time.time()
        for trade in batch:
            await callback(trade, receipt)
        await asyncio.sleep(0)  # the feed's next read: the writer task may run
    # Every row written (task_done follows each batch's INSERT), then the writer stopped: its
    # stop() alone ends the writer loop with rows still queued (they would be lost).
    await callback.queue.join()
    elapsed = time.perf_counter() - started
    await callback.stop()
    await callback.worker
    if callback.conn is not None:
        await callback.conn.close()
    return elapsed


def peer(url: str, trades: list[list[Any]]) -> dict[str, Any]:
    """The peer's rows a second (the trades inserted and counted)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(PEER_TABLE.read_text())
        conn.execute("TRUNCATE trades")
    elapsed = asyncio.run(_peer(url, trades))
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM trades").fetchone()
        conn.execute("TRUNCATE trades")
    stored, expected = (row[0] if row else 0), sum(map(len, trades))
    if stored != expected:
        raise RuntimeError(f"the peer stored {stored:,} of {expected:,} trades")
    return {"rate": stored / elapsed, "events": None}


TICK_COLUMNS = "time, symbol, price, volume_24h, source, volume"
PEER_COLUMNS = "timestamp, receipt_timestamp, exchange, symbol, side, amount, price, trade_id"


def _copy(conn: psycopg.Connection, table: str, columns: str, rows: Sequence[tuple]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def copies(url: str, arrivals: Polls) -> dict[str, float]:
    """Rows a second of raw COPYs (text, psycopg's ``write_row``) of the same rows: the ticks
    in one statement into a table like ``ticks`` (its keys, no trigger: the baseline every
    bench uses), the peer's rows into one like its ``trades``, the ticks into ``ticks`` itself
    (with what keeps its rollups on plain PostgreSQL, or the hypertable's chunks), and into
    ``ticks`` one statement and commit per arrival, as a poll arrives: the server's own cost
    of this shape of load, which no writer of ``ticks`` can beat."""
    rows = [t for ts in arrivals for t in ts]  # a Tick is the row, in TICK_COLUMNS' order
    peer_rows = [  # the peer's columns are timestamps without time zone, in UTC
        (at, at, "BINANCE", symbol, "buy", volume or 1.0, price, str(n))
        for n, (time_, symbol, price, _, _, volume) in enumerate(rows)
        for at in [time_.astimezone(dt.UTC).replace(tzinfo=None)]
    ]
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE ticks_raw (LIKE ticks INCLUDING ALL)")
        conn.execute(PEER_TABLE.read_text().replace("EXISTS trades", "EXISTS trades_raw"))
        for name, table, columns, data in (
            ("ticks_raw", "ticks_raw", TICK_COLUMNS, rows),
            ("trades_raw", "trades_raw", PEER_COLUMNS, peer_rows),
            ("ticks", "ticks", TICK_COLUMNS, rows),
        ):
            started = time.perf_counter()
            with conn.transaction():
                _copy(conn, table, columns, data)
            out[name] = len(data) / (time.perf_counter() - started)
        conn.execute("TRUNCATE ticks")
        started = time.perf_counter()
        for ticks in arrivals:
            with conn.transaction():
                _copy(conn, "ticks", TICK_COLUMNS, ticks)
        out["ticks_per_arrival"] = len(rows) / (time.perf_counter() - started)
        conn.execute("DROP TABLE ticks_raw, trades_raw")
    return out


def rule_sets(spec: str) -> list[tuple[str, tuple[rulebook.Rule, ...]]]:
    """`--rules`: (label, rules) per comma-separated name: none, default, or a rules file."""
    out = []
    for name in spec.split(","):
        if name == "none":
            out.append(("no rules", ()))
        elif name == "default":
            out.append((f"{len(rulebook.DEFAULT_RULES)} rules (default)", rulebook.DEFAULT_RULES))
        else:
            loaded = rulebook.load(pathlib.Path(name))
            out.append((f"{len(loaded)} rules ({name})", loaded))
    return out


def run(server_url: str, args: argparse.Namespace) -> None:
    arrivals = polls(args.symbols, args.ticks)
    trades = peer_trades(arrivals)
    gc.freeze()  # the inputs are the benchmark's: keep the collector from walking them
    sets = rule_sets(args.rules)
    contenders: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
        (
            f"peer: cryptofeed {importlib.metadata.version('cryptofeed')} TradePostgres",
            lambda url: peer(url, trades),
        ),
        *(
            (f"cryptomonitor, {label}", lambda url, r=r: ours(url, arrivals, r))  # type: ignore[misc]
            for label, r in sets
        ),
    ]
    with (
        bench_database(server_url, args.timescaledb) as url,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        print(describe(conn))
    ticks = sum(map(len, arrivals))
    print(
        f"{ticks:,} ticks = {args.symbols} symbols x {len(arrivals)} arrivals (the recorded "
        f"BTCUSDT day, four ticks a 1-minute bar); {args.rounds} rounds"
    )
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in contenders}
    baselines: list[dict[str, float]] = []
    for k in range(args.rounds):
        with bench_database(server_url, args.timescaledb) as url:
            baseline = copies(url, arrivals)
        baselines.append(baseline)
        print(f"round {k + 1}: raw COPY, rows/s: {_baselines(baseline)}")
        order = contenders if k % 2 == 0 else contenders[::-1]
        for name, contender in order:
            with bench_database(server_url, args.timescaledb) as url:
                got = contender(url)
            copy_rate = baseline["trades_raw" if name.startswith("peer") else "ticks_raw"]
            results[name].append((got["rate"], got["rate"] / copy_rate))
            events = "" if got["events"] is None else f", {got['events']:,} alert events"
            print(
                f"  {name:<52} {got['rate']:>9,.0f} ticks/s = {got['rate'] / copy_rate:.2f} "
                f"of its COPY{events}"
            )
    peer_rate = statistics.median(r for r, _ in results[contenders[0][0]])
    medians = {name: statistics.median(b[name] for b in baselines) for name in baselines[0]}
    print(f"medians of {args.rounds} rounds; raw COPY, rows/s: {_baselines(medians)}")
    for name, _ in contenders:
        rate = statistics.median(r for r, _ in results[name])
        ratio = statistics.median(c for _, c in results[name])
        print(
            f"  {name:<52} {rate:>9,.0f} ticks/s = {ratio:.2f} of COPY, "
            f"{rate / peer_rate:.2f}x the peer"
        )


def _baselines(rates: dict[str, float]) -> str:
    return (
        f"{rates['ticks_raw']:,.0f} into a table like ticks, {rates['trades_raw']:,.0f} into "
        f"one like the peer's trades, {rates['ticks']:,.0f} into ticks, "
        f"{rates['ticks_per_arrival']:,.0f} into ticks a statement an arrival"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=200_000, help="in all (default 200,000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--rules",
        default="none,default,bench/rules_20.toml",
        help="this pipeline's rules sets, comma-separated: none, default, or a rules file",
    )
    args = parser.parse_args()
    try:
        importlib.metadata.version("cryptofeed")
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit(
            'bench.peer needs the peer: .venv/bin/pip install -e ".[peer]" (cryptofeed, asyncpg)'
        ) from None
    with server(args) as url:
        run(url, args)


if __name__ == "__main__":
    main()
