"""The long-running commands: ``run`` (poll a source forever) and ``replay`` (feed a CSV).

Both start the same way (`start_pipeline`): the alerts file must be appendable, the rules must load,
the database is waited for (up to ``db_wait``: under compose it may start after us), migrated,
and the alerts file reconciled with the outbox after a possible crash.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import pathlib
import threading
import time

import structlog
import tenacity

from cryptomonitor import (
    alertfile,
    database,
    demo,
    leader,
    migrations,
    policies,
    replay,
    rules,
)
from cryptomonitor.config import Settings
from cryptomonitor.exceptions import (
    ConfigError,
    DatabaseRefused,
    DatabaseUnavailable,
    SourceError,
)
from cryptomonitor.pipeline import Pipeline
from cryptomonitor.sources import registry

log = structlog.get_logger(__name__)


def wait_for_database(settings: Settings, stop: threading.Event) -> database.Connection:
    """Connect, retrying for up to ``settings.db_wait`` seconds; DatabaseUnavailable after.

    A refusal (no such database or role, wrong password) is not retried: DatabaseRefused.
    """
    def sleep(seconds: float) -> None:
        stop.wait(seconds)  # a stop request ends the wait at once

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(settings.db_wait),
        wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=5),
        retry=tenacity.retry_if_exception(
            lambda exc: isinstance(exc, DatabaseUnavailable)
            and not isinstance(exc, DatabaseRefused) and not stop.is_set()),
        before_sleep=lambda s: log.warning(
            "database_wait", attempt=s.attempt_number, waiting_up_to_s=settings.db_wait,
            error=str(s.outcome.exception()) if s.outcome else None),
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(database.connect, settings.conninfo)
    except DatabaseRefused:
        raise
    except DatabaseUnavailable as exc:
        where = "DATABASE_URL" if settings.database_url else "the PG* variables (PGHOST, PGPORT)"
        raise DatabaseUnavailable(
            f"{exc} -- gave up after {settings.db_wait:g} s (CRYPTOMONITOR_DB_WAIT): is the "
            f"server running, and does {where} point at it?") from exc


def start_pipeline(settings: Settings, stop: threading.Event) -> Pipeline:
    """Everything a run or replay needs before the first tick; raises a CryptoMonitorError."""
    alert_file = alertfile.AlertFile(settings.alerts_file)
    alert_file.check_writable()
    active_rules = rules.load(settings.rules_file)
    conn = wait_for_database(settings, stop)
    try:
        migrations.migrate(conn, settings.timescaledb)
        policies.apply(conn, settings.compress_after, settings.ticks_retention)
        database.check_currency(conn, settings.vs_currency)
        alertfile.recover(conn, alert_file)
    finally:
        conn.close()
    log.info("ready", rules=[r.name for r in active_rules], alerts_file=str(settings.alerts_file))
    return Pipeline(database.Database(settings.conninfo), alert_file, active_rules,
                    settings.alert_repeat_interval, settings.buffer_max_ticks)


def http_deadline(settings: Settings) -> float:
    """How long one poll may spend on the source, retries included."""
    return max(settings.poll_interval, 30.0)


def make_source(settings: Settings) -> registry.Source:
    return registry.build(settings, http_deadline(settings))


@dataclasses.dataclass(frozen=True)
class RunSummary:
    polls: int
    answered: int  # polls the source answered
    unstored: int  # ticks still in memory at the end (the database was down)
    standby: bool  # --once found another replica polling
    once: bool  # a bounded run (--once): nothing fetched is a failure
    last_error: str | None  # the source's last error

    @property
    def failed(self) -> str | None:
        """Why the run failed its purpose, or None: scripts (cron) see it in the exit status.

        A long-running `run` stopped by SIGTERM succeeded even if the source never answered
        (that was logged at every poll); `run --once` that fetched nothing did not."""
        if self.unstored:
            return f"{self.unstored} fetched ticks could not be stored (database unavailable)"
        if self.once and self.polls and not self.answered and not self.standby:
            return (f"the source answered no poll ({self.last_error}); offline, "
                    "`cryptomonitor demo` writes a real day of data instead")
        return None


def run(settings: Settings, stop: threading.Event, max_polls: int | None = None) -> RunSummary:
    """Poll until `stop` is set (SIGTERM) or `max_polls` polls are done, then flush and return.

    Only the replica holding the job's lock polls (see cryptomonitor/leader.py); the others
    wait, trying again every poll interval. With `max_polls`, a standby returns at once.
    A coin the source's first answer has no price for is a configuration error (a typo in
    CRYPTOMONITOR_COINS); one missing later is logged at every poll (delisted, or no price).

    Polls start on a fixed schedule every ``poll_interval``; a poll that overruns its slot
    skips the missed ones rather than bursting. A failing source or database is logged and
    the loop goes on; ticks wait in the pipeline's buffer for the database.
    """
    pipeline = start_pipeline(settings, stop)
    source = make_source(settings)
    leadership = leader.Leadership(
        settings.conninfo, leader.lock_name(source.name, settings.vs_currency, settings.coins),
        # Longer than the slowest poll slot (the HTTP deadline), plus a margin of polls.
        idle_timeout=http_deadline(settings) + 3 * settings.poll_interval)
    last_seen: dict[str, dt.datetime] = {}
    polls = answered = 0
    standby = False
    last_error: str | None = None
    next_at = time.monotonic()
    effective = max(settings.poll_interval, registry.shortest_poll(settings, source))
    if effective > settings.poll_interval:
        log.warning("poll_interval_bounded", asked_s=settings.poll_interval,
                    effective_s=round(effective, 3),
                    why=f"{source.name} may be asked every {effective / source.requests_per_poll:g}"
                    f" s (CRYPTOMONITOR_COINGECKO_RATE for CoinGecko) and a poll takes "
                    f"{source.requests_per_poll} request(s): raise the rate to your plan's "
                    "limit, or poll less often")
    log.info("run_start", source=source.name, coins=list(settings.coins),
             poll_interval_s=settings.poll_interval, effective_poll_interval_s=round(effective, 3))
    try:
        while not stop.is_set():
            started = time.monotonic()
            if not leadership.poll_allowed():
                if pipeline.buffered:  # ticks fetched while we were leader are still stored
                    pipeline.flush()
                if max_polls is not None:
                    standby = True
                    break
                next_at = started + settings.poll_interval
                stop.wait(settings.poll_interval)
                continue
            fields: dict[str, object] = {"fetched": 0, "unchanged": 0, "rejected": 0,
                                         "missing": 0}
            try:
                result = source.fetch()
            except SourceError as exc:
                last_error = str(exc)
                log.warning("poll_failed", source=source.name, error=last_error)
            else:
                if answered == 0 and result.missing:
                    raise ConfigError(
                        f"CRYPTOMONITOR_COINS: {source.name} has no {settings.vs_currency} "
                        f"price for {', '.join(map(repr, result.missing))}: "
                        f"{source.unknown_hint}")
                answered += 1
                fresh = [t for t in result.ticks if last_seen.get(t.symbol) != t.time]
                last_seen.update((t.symbol, t.time) for t in fresh)
                pipeline.submit(fresh)
                fields = {"fetched": len(result.ticks),
                          "unchanged": len(result.ticks) - len(fresh),
                          "rejected": len(result.rejected), "missing": len(result.missing)}
            flushed = pipeline.flush()
            polls += 1
            log.info("poll", **fields, stored=flushed.new, duplicates=flushed.duplicates,
                     alerts=flushed.events, lines_written=flushed.lines_written,
                     buffered=flushed.buffered, dropped_total=pipeline.dropped,
                     database_ok=flushed.database_ok,
                     duration_ms=round((time.monotonic() - started) * 1000, 1))
            if max_polls is not None and polls >= max_polls:
                break
            next_at += settings.poll_interval
            now = time.monotonic()
            if next_at < now:  # overran: skip the missed slots
                next_at = now + (next_at - now) % settings.poll_interval
            stop.wait(next_at - now)
    finally:
        if pipeline.buffered:
            pipeline.flush()
        unstored = pipeline.buffered
        if unstored:
            log.error("stopped_with_unstored_ticks", ticks=unstored)
        pipeline.db.close()
        leadership.close()
        log.info("run_stop", polls=polls, answered=answered)
    return RunSummary(polls, answered, unstored, standby, max_polls is not None, last_error)


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
        pipeline.db.close()
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
        pipeline.db.close()
    summary.seconds = time.monotonic() - started
    log.info("replay_done", path=str(path), symbol=symbol, **dataclasses.asdict(summary))
    return summary
