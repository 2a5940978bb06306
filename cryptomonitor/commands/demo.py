"""``cryptomonitor demo``: the package's three real days of market data (`sources.demo`),
written through the live pipeline so that they end now; ``--follow`` goes on in real time.
Its input is durable: a second run stores nothing twice and continues where the last stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import heapq
import sys
import threading
import time

import structlog

from cryptomonitor.commands import arguments, replay, startup
from cryptomonitor.config import Settings
from cryptomonitor.db import database
from cryptomonitor.sources import demo

log = structlog.get_logger(__name__)

NAME = "demo"
HOURS = demo.PERIOD / 60


def add_parser(commands: arguments.Subcommands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="fill the database with three real days of market data that end now (offline)",
        description="Write the ticks of three real days of BTC, ETH and DOGE 1-minute candles "
        "(shipped with the package, repeated round and round) as demo-btc, demo-eth and "
        "demo-doge, ending now, through the live pipeline: alerts, candles, the API and the "
        "example queries all show figures. Running it again continues where it stopped.",
    )
    parser.add_argument(
        "--hours",
        type=arguments.positive_float,
        default=HOURS,
        help=f"how much history to write, ending now (default {HOURS:g}: the three days once)",
    )
    parser.add_argument(
        "--follow",
        action="store_true",
        help="then go on in real time, a tick per symbol every 15 s, until stopped",
    )
    return parser


def main(settings: Settings, args: argparse.Namespace) -> int:
    summary = run_demo(settings, startup.stop_on_signals(), hours=args.hours, follow=args.follow)
    print(
        f"demo: {summary.stored} ticks stored for demo-btc, demo-eth, demo-doge "
        f"({summary.duplicates} already there), {summary.alerts} alerts "
        f"-> {settings.alerts_file}",
        file=sys.stderr,
    )
    return 0


def run_demo(
    settings: Settings,
    stop: threading.Event,
    *,
    hours: float = HOURS,
    follow: bool = False,
    batch_size: int = 2000,
    now: dt.datetime | None = None,
) -> replay.ReplaySummary:
    """Write the demo's ticks (see `cryptomonitor.sources.demo`) of the `hours` up to `now`
    (default: the clock's); with `follow`, go on in real time (a tick per symbol every 15 s)
    until `stop` is set."""
    pipeline = startup.start(settings, stop).pipeline
    summary = replay.ReplaySummary()
    started = time.monotonic()

    def flush() -> None:
        summary.flush(
            pipeline,
            "database went away during the demo; run it again: it continues where it stopped",
        )

    def write(start: dict[str, dt.datetime], end: dt.datetime) -> None:
        stream = heapq.merge(
            *(demo.ticks(s, start[s], end) for s in demo.FILES), key=lambda t: t.time
        )
        for tick in stream:
            pipeline.submit([tick])
            summary.ticks += 1
            if pipeline.buffered >= batch_size:
                flush()
        flush()

    try:
        now = now or dt.datetime.now(dt.UTC)
        conn = pipeline.db.connection()
        start = {}
        for symbol in demo.FILES:
            newest = database.newest_tick(conn, symbol)
            start[symbol] = now - dt.timedelta(hours=hours)
            if newest is not None:
                start[symbol] = max(start[symbol], newest + dt.timedelta(microseconds=1))
        write(start, now)
        log.info(
            "demo_history",
            symbols=list(demo.FILES),
            ticks=summary.ticks,
            stored=summary.stored,
            alerts=summary.alerts,
            seconds=round(time.monotonic() - started, 1),
        )
        while follow and not stop.is_set():
            stop.wait(15 - time.time() % 15 + 0.05)  # just after the next tick time
            later = dt.datetime.now(dt.UTC)
            write(dict.fromkeys(demo.FILES, now), later)
            now = later
    finally:
        pipeline.close()
    summary.seconds = time.monotonic() - started
    log.info("demo_done", symbols=list(demo.FILES), **dataclasses.asdict(summary))
    return summary
