"""``cryptomonitor replay``: recorded 1-minute bar files through the live pipeline.

Each file is read by `sources.barfiles` (four ticks a bar) and stored with its alerts exactly
as a live run would; several files run in processes of their own (a symbol's ticks and alerts
never depend on another's). The input is durable, so a replay buffers in memory and stops
when the database goes away: running it again continues, storing nothing twice.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import pathlib
import queue
import signal
import threading
import time
from collections.abc import Sequence

import structlog

from cryptomonitor.commands.startup import start_pipeline
from cryptomonitor.config import Settings
from cryptomonitor.exceptions import CryptoMonitorError, DatabaseUnavailable, ReplayError
from cryptomonitor.ingest.pipeline import Pipeline
from cryptomonitor.sources import barfiles

log = structlog.get_logger(__name__)


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
    pipeline = start_pipeline(settings, stop)
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
        _in_processes(
            settings,
            files,
            stop,
            workers,
            total,
            {"speed": speed, "skip": skip, "limit": limit, "batch_size": batch_size},
        )
    total.seconds = time.monotonic() - started
    if len(files) > 1:
        log.info("replays_done", files=len(files), workers=workers, **dataclasses.asdict(total))
    return total


def _in_processes(  # noqa: C901 (split by the commands refactor, issue 23)
    settings: Settings,
    files: Sequence[tuple[pathlib.Path, str]],
    stop: threading.Event,
    workers: int,
    total: ReplaySummary,
    options: dict[str, object],
) -> None:
    context = multiprocessing.get_context("fork")  # no connection is open yet to share
    results: multiprocessing.Queue[tuple[str, ReplaySummary | None, str | None]] = context.Queue()
    waiting = list(files)
    # A job is named by its file and symbol (one file may be replayed as two symbols).
    running: list[tuple[multiprocessing.process.BaseProcess, str]] = []  # and its name
    failed: list[str] = []
    reported: set[str] = set()
    stopping = False

    def collect(timeout: float | None) -> bool:
        try:
            path, summary, error = (
                results.get(timeout=timeout) if timeout is not None else results.get_nowait()
            )
        except queue.Empty:
            return False
        reported.add(path)
        if summary is not None:
            total.add(summary)
        else:
            failed.append(f"{path}: {error}")
        return True

    while waiting or running:
        while waiting and len(running) < workers and not stop.is_set():
            file, symbol = waiting.pop(0)
            worker = context.Process(
                target=_replay_worker,
                name=f"replay-{symbol}",
                args=(settings, file, symbol, results, options),
            )
            worker.start()
            running.append((worker, f"{file} ({symbol})"))
        if stop.is_set() and not stopping:  # SIGTERM to this process alone (docker stop)
            stopping = True
            waiting.clear()
            for process, _ in running:
                process.terminate()  # SIGTERM: the worker stores what it read, then ends
        collect(0.2)
        for process, path in list(running):
            if process.is_alive():
                continue
            process.join()
            running.remove((process, path))
            if process.exitcode == 0:
                while path not in reported and collect(5.0):
                    pass  # its result was sent before it ended
            if path not in reported:
                reported.add(path)
                failed.append(f"{path}: worker ended with status {process.exitcode}")
    while collect(None):
        pass
    if failed:
        raise ReplayError("; ".join(failed))


def _replay_worker(
    settings: Settings,
    path: pathlib.Path,
    symbol: str,
    results: multiprocessing.Queue[tuple[str, ReplaySummary | None, str | None]],
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
