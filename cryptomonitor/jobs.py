"""Batch jobs through the live pipeline: the demo's day of real data, replays of files, and
backfills from a source's history.

Their input is durable (a file, the package's demo data, the source's history), so they
buffer in memory and stop when the database goes away: running them again continues,
storing nothing twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import pathlib
import threading
import time

import structlog

from cryptomonitor import backfill, database, demo, replay
from cryptomonitor.config import Settings
from cryptomonitor.exceptions import DatabaseUnavailable
from cryptomonitor.pipeline import Pipeline
from cryptomonitor.runner import make_source, start_pipeline
from cryptomonitor.sources import registry

log = structlog.get_logger(__name__)


@dataclasses.dataclass
class ReplaySummary:
    ticks: int = 0
    stored: int = 0
    duplicates: int = 0
    alerts: int = 0
    seconds: float = 0.0

    def flush(self, pipeline: Pipeline, lost: str) -> None:
        """Store what `pipeline` holds and count it; DatabaseUnavailable(`lost`) when the
        database went away (a batch job stops there, unlike `run`, which buffers)."""
        result = pipeline.flush()
        if not result.database_ok:
            raise DatabaseUnavailable(lost)
        self.stored += result.new
        self.duplicates += result.duplicates
        self.alerts += result.events


def run_demo(settings: Settings, stop: threading.Event, *, hours: float = 24.0,
             follow: bool = False, batch_size: int = 2000) -> ReplaySummary:
    """Write the demo's ticks (see `cryptomonitor.demo`) up to now; with `follow`, go on in
    real time (a tick per symbol every 15 s) until `stop` is set."""
    pipeline = start_pipeline(settings, stop)
    summary = ReplaySummary()
    started = time.monotonic()

    def flush() -> None:
        summary.flush(pipeline, "database went away during the demo; run it again: it "
                                "continues where it stopped")

    def write(start: dict[str, dt.datetime], end: dt.datetime) -> None:
        stream = heapq.merge(*(demo.ticks(s, start[s], end) for s in demo.FILES),
                             key=lambda t: t.time)
        for tick in stream:
            pipeline.submit([tick])
            summary.ticks += 1
            if pipeline.buffered >= batch_size:
                flush()
        flush()

    try:
        now = dt.datetime.now(dt.UTC)
        conn = pipeline.db.connection()
        start = {}
        for symbol in demo.FILES:
            newest = database.newest_tick(conn, symbol)
            start[symbol] = now - dt.timedelta(hours=hours)
            if newest is not None:
                start[symbol] = max(start[symbol], newest + dt.timedelta(microseconds=1))
        write(start, now)
        log.info("demo_history", symbols=list(demo.FILES), ticks=summary.ticks,
                 stored=summary.stored, alerts=summary.alerts,
                 seconds=round(time.monotonic() - started, 1))
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


def replay_file(settings: Settings, path: pathlib.Path, symbol: str, stop: threading.Event, *,
                speed: float | None = None, skip: int = 0, limit: int | None = None,
                batch_size: int = 2000) -> ReplaySummary:
    """Feed the bars of `path` through the pipeline as `symbol`; stop early when `stop` is set."""
    pipeline = start_pipeline(settings, stop)
    summary = ReplaySummary()
    started = time.monotonic()

    def flush() -> None:
        summary.flush(pipeline, "database went away during the replay; run it again: stored "
                                "ticks are skipped")

    try:
        stream = replay.paced(replay.ticks(replay.read_bars(path, skip, limit), symbol), speed)
        for tick in stream:
            pipeline.submit([tick])
            summary.ticks += 1
            if speed is not None or pipeline.buffered >= batch_size:
                flush()
            if stop.is_set():
                break
        flush()
    finally:
        pipeline.close()
    summary.seconds = time.monotonic() - started
    log.info("replay_done", path=str(path), symbol=symbol, **dataclasses.asdict(summary))
    return summary


def backfill_period(settings: Settings, stop: threading.Event, start: dt.datetime,
                    end: dt.datetime, symbols: list[str]) -> backfill.BackfillSummary:
    """`cryptomonitor backfill`: the source's history of `symbols` in [start, end)."""
    pipeline = start_pipeline(settings, stop)
    try:
        history = registry.history_of(settings, make_source(settings))
        summary = backfill.run(pipeline, history, dict.fromkeys(symbols, (start, end)), stop,
                               always_refresh=True)
    finally:
        pipeline.close()
    log.info("backfill_done", source=history.name, **dataclasses.asdict(summary))
    return summary
