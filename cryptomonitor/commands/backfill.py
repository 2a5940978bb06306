"""Backfill: the ticks of a time the fetcher missed, from the source's history.

`cryptomonitor backfill --from T --to T` fills a chosen period; ``run`` fills, at start-up, the
gap since each symbol's newest stored tick, back to at most CRYPTOMONITOR_BACKFILL_HORIZON.
Backfilled ticks carry the history's source name, raise no alert (they are held in the alert
windows, so the live ticks after them are judged against them), go through the source's own
rate-limited client, and are stored chunk by chunk: an interrupted backfill resumes after
the last request it stored. On TimescaleDB the candles of the period are then refreshed
(`refresh_candles`): the aggregates' owner may do it at once; for any other role the
policies do it within the last 1 day (1-minute), 7 days (1-hour) and 30 days (1-day).

The command's pipeline has no alerts file (`startup.start` with ``alerts=False``): it raises
no alert, so it neither needs nor touches the file, and the events other commands left in the
outbox wait there for them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TextIO

import psycopg
import structlog

from cryptomonitor.commands import arguments, startup
from cryptomonitor.config import Settings, values
from cryptomonitor.db import database, migrations, policies, queries
from cryptomonitor.exceptions import ConfigError
from cryptomonitor.ingest.pipeline import Pipeline
from cryptomonitor.sources import registry
from cryptomonitor.sources.base import History, ticks_of
from cryptomonitor.util import times

log = structlog.get_logger(__name__)

NAME = "backfill"
CANDLE_VIEWS = ("ohlcv_1m", "ohlcv_1h", "ohlcv_1d")


@dataclasses.dataclass
class BackfillSummary:
    symbols: int = 0
    requests: int = 0
    ticks: int = 0
    stored: int = 0
    candles_refreshed: bool = False


class Progress:
    """One line rewritten in place on a terminal; nothing otherwise (the log says it all)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.on = stream.isatty()

    def show(self, symbol: str, done: int, total: int, stored: int) -> None:
        if self.on:
            bar = "#" * (20 * done // total) + "." * (20 - 20 * done // total)
            self.stream.write(
                f"\rbackfill {symbol:<20} [{bar}] {done}/{total} requests, {stored} ticks stored"
            )
            self.stream.flush()

    def end(self) -> None:
        if self.on:
            self.stream.write("\n")


def gaps(
    conn: database.Connection,
    symbols: Sequence[str],
    now: dt.datetime,
    horizon: float,
    min_gap: float,
) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    """Per symbol with a stored tick: the period since its newest, back to `horizon` seconds
    at most, if longer than `min_gap` seconds (symbols never stored have no gap: new)."""
    out = {}
    for symbol, newest in conn.execute(queries.get("newest_ticks"), {"symbols": list(symbols)}):
        if newest is None:
            continue
        start = max(newest + times.MICROSECOND, now - dt.timedelta(seconds=horizon))
        if (now - start).total_seconds() > min_gap:
            out[str(symbol)] = (start, now)
    return out


def run(
    pipeline: Pipeline,
    history: History,
    periods: dict[str, tuple[dt.datetime, dt.datetime]],
    stop: threading.Event,
    progress: Progress | None = None,
    always_refresh: bool = False,
    between: Callable[[], object] | None = None,
) -> BackfillSummary:
    """Fetch and store each symbol's period, oldest first, recording how far each got (the
    same backfill run again resumes there); then refresh the candles (when something was
    stored, or `always_refresh`). `between` runs after each request (the run loop keeps its
    leader lock alive with it). Raises SourceError or DatabaseError."""
    try:
        return _run(
            pipeline, history, periods, stop, progress or Progress(), always_refresh, between
        )
    except psycopg.Error as exc:
        pipeline.db.reset()
        raise database.translate(exc) from exc


def _run(
    pipeline: Pipeline,
    history: History,
    periods: dict[str, tuple[dt.datetime, dt.datetime]],
    stop: threading.Event,
    progress: Progress,
    always_refresh: bool,
    between: Callable[[], object] | None,
) -> BackfillSummary:
    summary = BackfillSummary()
    now = dt.datetime.now(dt.UTC)
    for symbol, (start, end) in periods.items():
        key = {"symbol": symbol, "source": history.name, "start": start, "end": end}
        row = pipeline.db.connection().execute(queries.get("backfill_done_until"), key).fetchone()
        resume = min(row[0], end) if row else start
        if resume > start:
            log.info("backfill_resumed", symbol=symbol, source=history.name, at=str(resume))
        stored = 0
        for done, total, (_, chunk_end), ticks in ticks_of(history, symbol, resume, end, now):
            summary.requests += 1
            summary.ticks += len(ticks)
            stored += pipeline.store_history(ticks).new
            pipeline.db.connection().execute(
                queries.get("backfill_stored_until"), {**key, "until": chunk_end}
            )
            progress.show(symbol, done, total, stored)
            if between is not None:
                between()
            if stop.is_set():
                break
        progress.end()
        summary.symbols += 1
        summary.stored += stored
        log.info(
            "backfill_symbol",
            symbol=symbol,
            source=history.name,
            start=str(resume),
            end=str(end),
            stored=stored,
        )
        if stop.is_set():
            break
    if periods and (summary.stored or always_refresh):
        first = min(start for start, _ in periods.values())
        last = max(end for _, end in periods.values())
        summary.candles_refreshed = refresh_candles(pipeline.db.connection(), first, last)
    return summary


def refresh_candles(conn: database.Connection, start: dt.datetime, end: dt.datetime) -> bool:
    """TimescaleDB: refresh the candle aggregates over [start, end) widened to whole days;
    True if done. Plain PostgreSQL: the candle views are always current (True)."""
    if migrations.current_flavour(conn) != "timescaledb":
        return True
    day_start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    day_end = end.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    try:
        for view in CANDLE_VIEWS:
            conn.execute(
                queries.get("refresh_candles"), {"view": view, "start": day_start, "end": day_end}
            )
    except psycopg.errors.InsufficientPrivilege:
        log.warning(
            "candles_refresh_left_to_policies",
            start=str(day_start),
            end=str(day_end),
            reason="only the aggregates' owner may refresh them; "
            "the policies refresh the last 1/7/30 days (1m/1h/1d); for older periods "
            "run `cryptomonitor backfill` again as the database owner",
        )
        return False
    except psycopg.Error as exc:
        raise database.translate(exc) from exc
    return True


def check_retention(conn: database.Connection, retention: float | None, start: dt.datetime) -> None:
    """ConfigError if ticks from `start` on would be dropped by the retention policy at its
    next run (`policies.drops_before`)."""
    cutoff = policies.drops_before(conn, retention, dt.datetime.now(dt.UTC))
    if cutoff is not None and start < cutoff:
        raise ConfigError(
            f"--from: {times.format_time(start)} is older than CRYPTOMONITOR_TICKS_RETENTION "
            f"({(retention or 0) / 86400:g} days: the retention policy drops ticks before "
            f"{times.format_time(cutoff)} at its next run, and the backfilled ticks would "
            "vanish). Backfill from a later time, or set CRYPTOMONITOR_TICKS_RETENTION longer "
            "(or off) and start once as the database owner"
        )


def add_parser(commands: arguments.Subcommands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="fetch a past period from the source's history (no alerts)",
        description="Store the source's history of the coins over [--from, --to): CoinGecko "
        "market_chart/range (5-minutely within the last day, hourly up to 90 days, daily "
        "beyond), Binance 1-minute klines. Raises no alert; resumes after the newest tick an "
        "interrupted run stored; on TimescaleDB refreshes the candles of the period.",
    )
    parser.add_argument(
        "--from",
        dest="start",
        required=True,
        type=arguments.when,
        metavar="TIME",
        help="ISO 8601 (2025-06-01T00:00Z; without a zone: UTC)",
    )
    parser.add_argument(
        "--to",
        dest="end",
        type=arguments.when,
        default=None,
        metavar="TIME",
        help="ISO 8601; default: now",
    )
    return parser


def main(settings: Settings, args: argparse.Namespace) -> int:
    end = args.end or dt.datetime.now(dt.UTC)
    if args.start >= end:
        raise ConfigError("--from: must be before --to (default: now)")
    symbols = values.named_coins(settings.coins)
    if not symbols:
        raise ConfigError("CRYPTOMONITOR_COINS: name the coins to backfill (not * or top:N)")
    summary = backfill_period(settings, startup.stop_on_signals(), args.start, end, symbols)
    print(
        f"backfill: {summary.stored} ticks stored ({summary.ticks} fetched in "
        f"{summary.requests} requests) for {', '.join(symbols)}",
        file=sys.stderr,
    )
    return 0


def backfill_period(
    settings: Settings,
    stop: threading.Event,
    start: dt.datetime,
    end: dt.datetime,
    symbols: list[str],
) -> BackfillSummary:
    """`cryptomonitor backfill`: the source's history of `symbols` in [start, end).
    ConfigError first if `start` is older than the retention policy keeps ticks."""
    pipeline = startup.start(settings, stop, alerts=False).pipeline
    try:
        check_retention(pipeline.db.connection(), settings.ticks_retention, start)
        history = registry.history_of(settings, startup.make_source(settings))
        summary = run(
            pipeline, history, dict.fromkeys(symbols, (start, end)), stop, always_refresh=True
        )
    finally:
        pipeline.close()
    log.info("backfill_done", source=history.name, **dataclasses.asdict(summary))
    return summary
