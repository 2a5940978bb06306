"""``cryptomonitor replay``: recorded 1-minute bar files through the live pipeline.

Each file is read by `sources.barfiles` (four ticks a bar) and stored with its alerts exactly
as a live run would; several files run in processes of their own (a symbol's ticks and alerts
never depend on another's). The input is durable, so a replay buffers in memory and stops
when the database goes away: running it again continues, storing nothing twice.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import multiprocessing
import os
import pathlib
import queue
import signal
import threading
import time
from collections.abc import Sequence

import structlog

from cryptomonitor.commands import arguments, startup
from cryptomonitor.config import Settings
from cryptomonitor.exceptions import (
    ConfigError,
    CryptoMonitorError,
    DatabaseUnavailable,
    ReplayError,
)
from cryptomonitor.ingest.pipeline import Pipeline
from cryptomonitor.sources import barfiles

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
    replay_files(
        settings,
        list(zip(args.files, args.symbols, strict=True)),
        startup.stop_on_signals(),
        workers=workers,
        speed=args.speed,
        skip=args.skip,
        limit=args.limit,
        batch_size=args.batch,
    )
    return 0


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
) -> ReplaySummary:
    """Feed the bars of `path` through the pipeline as `symbol`; stop early when `stop` is set."""
    pipeline = startup.start(settings, stop).pipeline
    summary = ReplaySummary()
    started = time.monotonic()

    def flush() -> None:
        summary.flush(
            pipeline, "database went away during the replay; run it again: stored ticks are skipped"
        )

    try:
        stream = barfiles.paced(
            barfiles.ticks(barfiles.read_bars(path, skip, limit), symbol), speed
        )
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
    log.info("replay_done", path=str(path), symbol=symbol, **dataclasses.asdict(summary))
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
) -> ReplaySummary:
    """Replay each (file, symbol); up to `workers` files at once, each in a process of its own
    (a symbol's ticks and alerts never depend on another's, and one Python process keeps one
    core busy). A file that fails does not stop the others; ReplayError names each failure
    once all have ended. `stop` ends them all cleanly (each stores what it read)."""
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
                    )
                )
    else:
        options: dict[str, object] = {
            "speed": speed,
            "skip": skip,
            "limit": limit,
            "batch_size": batch_size,
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
