"""``cryptomonitor replay``: recorded 1-minute bar files through the live pipeline.

Each file is read by `sources.barfiles` (four ticks a bar) and stored with its alerts exactly
as a live run would; several files run in processes of their own (a symbol's ticks and alerts
never depend on another's). The input is durable, so a replay buffers in memory and stops
when the database goes away: running it again continues, storing nothing twice.

Ticks older than the TimescaleDB retention policy (CRYPTOMONITOR_TICKS_RETENTION) would be
dropped at its next run, so such a replay refuses to start (`check_retention`) unless moved:
``--shift-to-now`` moves every file's bars by one whole number of minutes, so that the latest
bar of all ends as the current minute begins (the files stay aligned with each other).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import itertools
import multiprocessing
import os
import pathlib
import queue
import signal
import sys
import threading
import time
from collections.abc import Sequence

import structlog

from cryptomonitor.commands import arguments, startup
from cryptomonitor.config import Settings
from cryptomonitor.db import migrations, policies
from cryptomonitor.exceptions import (
    ConfigError,
    CryptoMonitorError,
    DatabaseUnavailable,
    ReplayError,
)
from cryptomonitor.ingest.pipeline import Pipeline
from cryptomonitor.sources import barfiles
from cryptomonitor.util import times

log = structlog.get_logger(__name__)

NAME = "replay"


def add_parser(commands: arguments.Subcommands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="feed recorded 1-minute OHLCV CSVs to the pipeline",
        description="Store the bars of each FILE as ticks (4 per bar) and "
        "raise alerts exactly as a live run would. Several files (one "
        "--symbol each, in order) are replayed in parallel processes.",
    )
    parser.add_argument(
        "files",
        type=pathlib.Path,
        metavar="FILE.csv",
        nargs="+",
        help="CSV with timestamp,open,high,low,close,volume (bar open times, UTC)",
    )
    parser.add_argument(
        "--symbol",
        required=True,
        type=arguments.symbol,
        action="append",
        dest="symbols",
        help="symbol to store the ticks under, one of its own: btc, not bitcoin "
        "(live CoinGecko data is stored under its coin ids); once per FILE",
    )
    parser.add_argument(
        "--jobs",
        type=arguments.positive_int,
        default=None,
        metavar="N",
        help="files replayed at once, each in its own process (default: one per "
        "file, at most the number of CPUs plus one)",
    )
    parser.add_argument(
        "--speed",
        type=arguments.positive_float,
        default=None,
        help="times real time (60 = a minute per second); default: as fast as possible",
    )
    parser.add_argument(
        "--skip", type=arguments.natural, default=0, metavar="N", help="skip the first N bars"
    )
    parser.add_argument(
        "--limit",
        type=arguments.natural,
        default=None,
        metavar="N",
        help="replay at most N bars (1440 = one day)",
    )
    parser.add_argument(
        "--shift-to-now",
        action="store_true",
        help="move the bars of all files by one whole number of minutes so that the latest "
        "ends now (live-looking ticks and alerts; the only way to replay data older than "
        "CRYPTOMONITOR_TICKS_RETENTION on TimescaleDB)",
    )
    parser.add_argument(
        "--batch",
        type=arguments.positive_int,
        default=5000,
        metavar="N",
        help="ticks per database transaction (default 5000)",
    )
    return parser


def main(settings: Settings, args: argparse.Namespace) -> int:
    if len(args.symbols) != len(args.files):
        raise ConfigError(
            f"--symbol: give one per FILE, in order ({len(args.files)} files, "
            f"{len(args.symbols)} symbols)"
        )
    if len(set(args.symbols)) != len(args.symbols):
        raise ConfigError(
            "--symbol: each FILE needs a symbol of its own (two files of one "
            "symbol would race for its alert windows; replay them one by one)"
        )
    workers = args.jobs or min(len(args.files), (os.cpu_count() or 1) + 1)
    files = list(zip(args.files, args.symbols, strict=True))
    spans = file_spans(files, args.skip, args.limit)
    shift = dt.timedelta(0)
    if args.shift_to_now and spans:
        shift = barfiles.shift_to(max(last for _, last in spans.values()), dt.datetime.now(dt.UTC))
    summary = replay_files(
        settings,
        files,
        startup.stop_on_signals(),
        workers=workers,
        speed=args.speed,
        skip=args.skip,
        limit=args.limit,
        batch_size=args.batch,
        shift=shift,
        spans=spans,
    )
    print(report(summary, files, spans, shift, settings), file=sys.stderr)
    return 0


def file_spans(
    files: Sequence[tuple[pathlib.Path, str]], skip: int, limit: int | None
) -> dict[pathlib.Path, tuple[dt.datetime, dt.datetime]]:
    """The first and last bar time of each readable, non-empty file (one that cannot be read
    is left to its replay, which names the problem)."""
    spans = {}
    for path, _ in files:
        try:
            span = barfiles.span(path, skip, limit)
        except ReplayError:
            continue
        if span is not None:
            spans[path] = span
    return spans


def check_retention(
    spans: dict[pathlib.Path, tuple[dt.datetime, dt.datetime]],
    shift: dt.timedelta,
    cutoff: dt.datetime | None,
    retention: float | None,
) -> None:
    """ConfigError naming each file whose (shifted) bars start before `cutoff`, the time
    before which the retention policy drops ticks (None: nothing is dropped)."""
    if cutoff is None:
        return
    old = [
        f"{path} ({_period(first + shift, last + shift)})"
        for path, (first, last) in spans.items()
        if first + shift < cutoff
    ]
    if old:
        raise ConfigError(
            f"replay: {', '.join(old)}: older than CRYPTOMONITOR_TICKS_RETENTION "
            f"({(retention or 0) / 86400:g} days: the retention policy drops ticks before "
            f"{times.format_time(cutoff)} at its next run, and the replay's ticks would vanish "
            "while its alerts stayed). Replay with --shift-to-now (the bars moved to end now), "
            "or set CRYPTOMONITOR_TICKS_RETENTION longer (or off) and start once as the "
            "database owner"
        )


def retention_cutoff(settings: Settings, stop: threading.Event) -> dt.datetime | None:
    """The time before which the database's retention policy drops ticks (see
    `policies.drops_before`); the database migrated first, as every command does."""
    conn = startup.wait_for_database(settings, stop)
    try:
        migrations.migrate(conn, settings.timescaledb)
        return policies.drops_before(conn, settings.ticks_retention, dt.datetime.now(dt.UTC))
    finally:
        conn.close()


def report(
    summary: ReplaySummary,
    files: Sequence[tuple[pathlib.Path, str]],
    spans: dict[pathlib.Path, tuple[dt.datetime, dt.datetime]],
    shift: dt.timedelta,
    settings: Settings,
) -> str:
    """The summary printed at the end: what was stored, the shift, and where the alert lines
    went; past-dated lines (a replay not shifted) are said to be so."""
    symbols = ", ".join(symbol for _, symbol in files)
    text = (
        f"replay: {summary.stored} ticks stored for {symbols} ({summary.duplicates} already "
        f"there), {summary.alerts} alerts -> {settings.alerts_file}"
    )
    if not spans:
        return text
    first = min(f for f, _ in spans.values()) + shift
    last = max(la for _, la in spans.values()) + shift
    if shift:
        text += (
            f"\nreplay: bars shifted by {shift // barfiles.MINUTE:+d} minutes "
            f"(--shift-to-now): played as {_period(first, last)}"
        )
    elif summary.alerts and last < dt.datetime.now(dt.UTC) - dt.timedelta(hours=1):
        text += (
            f"\nreplay: the {summary.alerts} alert lines appended to {settings.alerts_file} "
            f"are dated {_period(first, last)}, the file's period, after any newer lines "
            "(the file is in the order alerts were raised; --shift-to-now dates them now)"
        )
    return text


def _period(first: dt.datetime, last: dt.datetime) -> str:
    return f"{times.format_time(first)} to {times.format_time(last + barfiles.MINUTE)}"


@dataclasses.dataclass
class ReplaySummary:
    ticks: int = 0
    stored: int = 0
    duplicates: int = 0
    alerts: int = 0
    seconds: float = 0.0

    def add(self, other: ReplaySummary) -> None:
        self.ticks += other.ticks
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.alerts += other.alerts

    def flush(self, pipeline: Pipeline, lost: str) -> None:
        """Store what `pipeline` holds and count it; DatabaseUnavailable(`lost`) when the
        database went away (a batch job stops there, unlike `run`, which buffers)."""
        result = pipeline.flush()
        if not result.database_ok:
            raise DatabaseUnavailable(lost)
        self.stored += result.new
        self.duplicates += result.duplicates
        self.alerts += result.events


def replay_file(
    settings: Settings,
    path: pathlib.Path,
    symbol: str,
    stop: threading.Event,
    *,
    speed: float | None = None,
    skip: int = 0,
    limit: int | None = None,
    batch_size: int = 5000,
    shift: dt.timedelta = dt.timedelta(0),
) -> ReplaySummary:
    """Feed the bars of `path`, each `shift` later, through the pipeline as `symbol`; stop
    early when `stop` is set."""
    pipeline = startup.start(settings, stop).pipeline
    summary = ReplaySummary()
    started = time.monotonic()

    def flush() -> None:
        summary.flush(
            pipeline, "database went away during the replay; run it again: stored ticks are skipped"
        )

    try:
        bars = barfiles.shifted(barfiles.read_bars(path, skip, limit), shift)
        stream = barfiles.paced(barfiles.ticks(bars, symbol), speed)
        # Paced: each tick when it is due. As fast as it goes: batches of `batch_size`.
        step = 1 if speed is not None else batch_size
        while not stop.is_set() and (chunk := list(itertools.islice(stream, step))):
            pipeline.submit(chunk)
            summary.ticks += len(chunk)
            flush()
        flush()
    finally:
        pipeline.close()
    summary.seconds = time.monotonic() - started
    log.info(
        "replay_done",
        path=str(path),
        symbol=symbol,
        shift_minutes=shift // barfiles.MINUTE,
        **dataclasses.asdict(summary),
    )
    return summary


def replay_files(
    settings: Settings,
    files: Sequence[tuple[pathlib.Path, str]],
    stop: threading.Event,
    *,
    workers: int = 1,
    speed: float | None = None,
    skip: int = 0,
    limit: int | None = None,
    batch_size: int = 5000,
    shift: dt.timedelta = dt.timedelta(0),
    spans: dict[pathlib.Path, tuple[dt.datetime, dt.datetime]] | None = None,
) -> ReplaySummary:
    """Replay each (file, symbol), its bars `shift` later; up to `workers` files at once, each
    in a process of its own (a symbol's ticks and alerts never depend on another's, and one
    Python process keeps one core busy). A file that fails does not stop the others;
    ReplayError names each failure once all have ended. `stop` ends them all cleanly (each
    stores what it read). First, ConfigError if a file's ticks are older than the retention
    policy keeps (`check_retention`; `spans` as `file_spans` gives, computed if None)."""
    if spans is None:
        spans = file_spans(files, skip, limit)
    check_retention(spans, shift, retention_cutoff(settings, stop), settings.ticks_retention)
    total = ReplaySummary()
    started = time.monotonic()
    if workers <= 1 or len(files) == 1:
        for path, symbol in files:
            if not stop.is_set():
                total.add(
                    replay_file(
                        settings,
                        path,
                        symbol,
                        stop,
                        speed=speed,
                        skip=skip,
                        limit=limit,
                        batch_size=batch_size,
                        shift=shift,
                    )
                )
    else:
        options: dict[str, object] = {
            "speed": speed,
            "skip": skip,
            "limit": limit,
            "batch_size": batch_size,
            "shift": shift,
        }
        _Processes(settings, files, workers, total, options).run(stop)
    total.seconds = time.monotonic() - started
    if len(files) > 1:
        log.info("replays_done", files=len(files), workers=workers, **dataclasses.asdict(total))
    return total


#: What a worker sends back: its job's name, and its summary or its error.
_Result = tuple[str, ReplaySummary | None, str | None]


class _Processes:
    """Replays in processes of their own, at most `workers` at once: their summaries are added
    to `total`; a job that failed (an error, or a process that ended without a result) is
    named in the ReplayError `run` raises once all have ended."""

    def __init__(
        self,
        settings: Settings,
        files: Sequence[tuple[pathlib.Path, str]],
        workers: int,
        total: ReplaySummary,
        options: dict[str, object],
    ) -> None:
        self.settings = settings
        self.workers = workers
        self.total = total
        self.options = options
        self.context = multiprocessing.get_context("fork")  # no connection is open yet to share
        self.results: multiprocessing.Queue[_Result] = self.context.Queue()
        self.waiting = list(files)
        # A job is named by its file and symbol (one file may be replayed as two symbols).
        self.running: list[tuple[multiprocessing.process.BaseProcess, str]] = []  # and its name
        self.failed: list[str] = []
        self.reported: set[str] = set()

    def run(self, stop: threading.Event) -> None:
        stopping = False
        while self.waiting or self.running:
            self._start_more(stop)
            if stop.is_set() and not stopping:  # SIGTERM to this process alone (docker stop)
                stopping = True
                self._terminate()
            self._collect(0.2)
            self._reap()
        while self._collect(None):
            pass
        if self.failed:
            raise ReplayError("; ".join(self.failed))

    def _start_more(self, stop: threading.Event) -> None:
        while self.waiting and len(self.running) < self.workers and not stop.is_set():
            file, symbol = self.waiting.pop(0)
            worker = self.context.Process(
                target=_replay_worker,
                name=f"replay-{symbol}",
                args=(self.settings, file, symbol, self.results, self.options),
            )
            worker.start()
            self.running.append((worker, f"{file} ({symbol})"))

    def _terminate(self) -> None:
        """No new job; each running one is sent SIGTERM: it stores what it read, then ends."""
        self.waiting.clear()
        for process, _ in self.running:
            process.terminate()

    def _collect(self, timeout: float | None) -> bool:
        """Take one result, waiting up to `timeout` s (None: not at all); False if none came."""
        try:
            path, summary, error = (
                self.results.get(timeout=timeout)
                if timeout is not None
                else self.results.get_nowait()
            )
        except queue.Empty:
            return False
        self.reported.add(path)
        if summary is not None:
            self.total.add(summary)
        else:
            self.failed.append(f"{path}: {error}")
        return True

    def _reap(self) -> None:
        """Join the processes that ended; one that ended without a result has failed."""
        for process, path in list(self.running):
            if process.is_alive():
                continue
            process.join()
            self.running.remove((process, path))
            if process.exitcode == 0:
                while path not in self.reported and self._collect(5.0):
                    pass  # its result was sent before it ended
            if path not in self.reported:
                self.reported.add(path)
                self.failed.append(f"{path}: worker ended with status {process.exitcode}")


def _replay_worker(
    settings: Settings,
    path: pathlib.Path,
    symbol: str,
    results: multiprocessing.Queue[_Result],
    options: dict[str, object],
) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        summary = replay_file(settings, path, symbol, stop, **options)  # type: ignore[arg-type]
    except CryptoMonitorError as exc:
        log.error("replay_failed", path=str(path), symbol=symbol, error=str(exc))
        results.put((f"{path} ({symbol})", None, str(exc)))
    else:
        results.put((f"{path} ({symbol})", summary, None))
