"""``cryptomonitor run``: poll a source until stopped.

After the shared start-up (`startup.start_pipeline`, with the spool: its leftovers are stored
first), `run` fills the gap since each coin's newest tick from the source's history, starts
one delivery thread per receiver and the metrics server, and polls on a fixed schedule; only
the replica holding the job's leader lock polls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable

import psycopg
import structlog

from cryptomonitor import metrics, models
from cryptomonitor.alerting import delivery
from cryptomonitor.commands import backfill, startup
from cryptomonitor.config import Settings, values
from cryptomonitor.db import leader
from cryptomonitor.exceptions import (
    ConfigError,
    DatabaseError,
    SourceError,
)
from cryptomonitor.ingest.pipeline import Pipeline
from cryptomonitor.sources import base, registry

log = structlog.get_logger(__name__)


def fill_gap(
    settings: Settings,
    pipeline: Pipeline,
    source: base.Source,
    stop: threading.Event,
    keep_lock: Callable[[], object],
) -> None:
    """Backfill each symbol's gap since its newest stored tick, back to at most
    CRYPTOMONITOR_BACKFILL_HORIZON; a failure is logged and polling goes on. `keep_lock`
    runs between requests (a long backfill must not lose the job's leader lock)."""
    symbols = values.named_coins(settings.coins)
    if settings.backfill_horizon is None or not symbols:
        return
    past = registry.history_of(settings, source)
    pipeline.flush()  # what the spool holds from before is not a gap
    try:
        periods = backfill.gaps(
            pipeline.db.connection(),
            symbols,
            dt.datetime.now(dt.UTC),
            settings.backfill_horizon,
            min_gap=max(2 * settings.poll_interval, past.resolution),
        )
        for symbol in symbols:
            gap = periods.get(symbol)
            metrics.GAP_SECONDS.labels(symbol).set(
                (gap[1] - gap[0]).total_seconds() if gap else 0.0
            )
        if periods:
            summary = backfill.run(pipeline, past, periods, stop, between=keep_lock)
            metrics.BACKFILLED.inc(summary.stored)
            log.info(
                "gap_backfilled",
                symbols=sorted(periods),
                stored=summary.stored,
                requests=summary.requests,
            )
    except (SourceError, DatabaseError, psycopg.Error) as exc:
        log.warning(
            "gap_backfill_failed",
            error=str(exc),
            hint="`cryptomonitor backfill --from ... --to ...` fills it later",
        )


@dataclasses.dataclass(frozen=True)
class RunSummary:
    polls: int
    answered: int  # polls the source answered
    unstored: int  # ticks not stored at the end (the database was down)
    spooled: bool  # ... and they wait on disk for the next start
    standby: bool  # --once found another replica polling
    once: bool  # a bounded run (--once): nothing fetched is a failure
    last_error: str | None  # the source's last error

    @property
    def failed(self) -> str | None:
        """Why the run failed its purpose, or None: scripts (cron) see it in the exit status.

        A long-running `run` stopped by SIGTERM succeeded even if the source never answered
        (that was logged at every poll); `run --once` that fetched nothing did not."""
        if self.unstored:
            return f"{self.unstored} fetched ticks could not be stored (database unavailable)" + (
                "; they wait in the spool for the next start" if self.spooled else ""
            )
        if self.once and self.polls and not self.answered and not self.standby:
            return (
                f"the source answered no poll ({self.last_error}); offline, "
                "`cryptomonitor demo` writes a real day of data instead"
            )
        return None


def run(settings: Settings, stop: threading.Event, max_polls: int | None = None) -> RunSummary:  # noqa: C901 (a class, issue 23)
    """Poll until `stop` is set (SIGTERM) or `max_polls` polls are done, then flush and return.

    Only the replica holding the job's lock polls (see cryptomonitor/leader.py); the others
    wait, trying again every poll interval. With `max_polls`, a standby returns at once.
    A coin the source's first answer has no price for is a configuration error (a typo in
    CRYPTOMONITOR_COINS); one missing later is logged at every poll (delisted, or no price).

    Polls start on a fixed schedule every ``poll_interval``; a poll that overruns its slot
    skips the missed ones rather than bursting. A failing source or database is logged and
    the loop goes on; ticks wait in the pipeline's buffer for the database.
    """
    pipeline = startup.start_pipeline(settings, stop, with_spool=True)
    source = startup.make_source(settings)
    leadership = leader.Leadership(
        settings.conninfo,
        leader.lock_name(source.name, settings.vs_currency, settings.coins),
        # Longer than the slowest poll slot (the HTTP deadline), plus a margin of polls.
        idle_timeout=startup.http_deadline(settings) + 3 * settings.poll_interval,
    )
    last_seen: dict[str, dt.datetime] = {}
    polls = answered = 0
    standby = False
    last_error: str | None = None
    next_at = time.monotonic()
    effective = max(settings.poll_interval, registry.shortest_poll(settings, source))
    if effective > settings.poll_interval:
        log.warning(
            "poll_interval_bounded",
            asked_s=settings.poll_interval,
            effective_s=round(effective, 3),
            why=f"{source.name} may be asked every {effective / source.requests_per_poll:g}"
            f" s (CRYPTOMONITOR_COINGECKO_RATE for CoinGecko) and a poll takes "
            f"{source.requests_per_poll} request(s): raise the rate to your plan's "
            "limit, or poll less often",
        )
    log.info(
        "run_start",
        source=source.name,
        coins=list(settings.coins),
        poll_interval_s=settings.poll_interval,
        effective_poll_interval_s=round(effective, 3),
    )
    gap_filled = False
    was_leading = False
    metrics.serve(settings.metrics_addr)
    delivery_stop = threading.Event()  # set at the end, however the loop ends
    deliveries = delivery.start(pipeline.receivers, settings.conninfo, delivery_stop)
    # Live: a poll's alert lines and deliveries go first, not after the whole poll is stored.
    pipeline.lines_first = True
    pipeline.on_events = lambda: delivery.wake(deliveries)

    def submit(ticks: list[models.Tick]) -> list[models.Tick]:
        """The ticks not seen before, handed to the pipeline."""
        fresh = [t for t in ticks if last_seen.get(t.symbol) != t.time]
        last_seen.update((t.symbol, t.time) for t in fresh)
        metrics.saw_ticks(fresh)
        try:
            pipeline.submit(fresh)
        except OSError as exc:  # the spool's disk refused them (full, read-only)
            pipeline.buffer.dropped += len(fresh)
            log.error(
                "spool_write_failed",
                ticks_dropped=len(fresh),
                error=str(exc),
                directory=str(settings.spool_dir),
            )
        return fresh

    try:
        while not stop.is_set():
            started = time.monotonic()
            leading = leadership.poll_allowed()
            metrics.LEADER.set(leading)
            if not leading:
                metrics.POLLS.labels("standby").inc()
                if was_leading:  # a stream's buffer would fill while nobody fetches
                    was_leading = False
                    last = source.close()  # the next fetch() as leader opens it again
                    log.warning(
                        "standby",
                        source=source.name,
                        last_ticks=len(last.ticks),
                        fresh=len(submit(last.ticks)),
                    )
                if pipeline.buffered:  # ticks fetched while we were leader are still stored
                    pipeline.flush()
                if max_polls is not None:
                    standby = True
                    break
                next_at = started + settings.poll_interval
                stop.wait(settings.poll_interval)
                continue
            was_leading = True
            if not gap_filled:  # once, as the poller: the time this job was not polling
                gap_filled = True
                fill_gap(settings, pipeline, source, stop, leadership.poll_allowed)
            fields: dict[str, int] = {"fetched": 0, "unchanged": 0, "rejected": 0, "missing": 0}
            try:
                with metrics.SOURCE_SECONDS.time():
                    result = source.fetch()
            except SourceError as exc:
                metrics.POLLS.labels("failed").inc()
                last_error = str(exc)
                log.warning("poll_failed", source=source.name, error=last_error)
            else:
                if answered == 0 and result.missing:
                    raise ConfigError(
                        f"CRYPTOMONITOR_COINS: {source.name} has no {settings.vs_currency} "
                        f"price for {', '.join(map(repr, result.missing))}: "
                        f"{source.unknown_hint}"
                    )
                answered += 1
                metrics.POLLS.labels("answered").inc()
                fresh = submit(result.ticks)
                fields = {
                    "fetched": len(result.ticks),
                    "unchanged": len(result.ticks) - len(fresh),
                    "rejected": len(result.rejected),
                    "missing": len(result.missing),
                }
            flushed = pipeline.flush()
            polls += 1
            if flushed.events:
                delivery.wake(deliveries)
            metrics.record_poll(fields, flushed, time.monotonic() - started, pipeline.dropped)
            log.info(
                "poll",
                **fields,
                stored=flushed.new,
                duplicates=flushed.duplicates,
                alerts=flushed.events,
                lines_written=flushed.lines_written,
                buffered=flushed.buffered,
                dropped_total=pipeline.dropped,
                database_ok=flushed.database_ok,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )
            if max_polls is not None and polls >= max_polls:
                break
            next_at += settings.poll_interval
            now = time.monotonic()
            if next_at < now:  # overran: skip the missed slots
                next_at = now + (next_at - now) % settings.poll_interval
            stop.wait(next_at - now)
    finally:
        # Each step runs whatever the ones before raised (an ExitStack runs them all, last
        # registered first): the deliveries and the lock are let go, the pipeline closed.
        with contextlib.ExitStack() as cleanup:
            cleanup.callback(log.info, "run_stop", polls=polls, answered=answered)
            cleanup.callback(_stop_deliveries, delivery_stop, deliveries)
            cleanup.callback(leadership.close)
            cleanup.callback(pipeline.close)
            # The source first: a stream's threads stop, and what they received since the
            # last poll is stored with the rest rather than dropped.
            last = source.close()
            if last.ticks:
                log.info(
                    "source_last_ticks",
                    source=source.name,
                    ticks=len(last.ticks),
                    fresh=len(submit(last.ticks)),
                )
            if pipeline.buffered:
                pipeline.flush()
            unstored = pipeline.buffered
            spooled = pipeline.spool is not None
            if unstored:
                log.error(
                    "stopped_with_unstored_ticks",
                    ticks=unstored,
                    kept_in=str(settings.spool_dir) if spooled else "memory: lost",
                )
    return RunSummary(
        polls, answered, unstored, spooled, standby, max_polls is not None, last_error
    )


def _stop_deliveries(stop: threading.Event, deliveries: list[delivery.Delivery]) -> None:
    stop.set()  # each finishes its current send (receiver timeouts bound it)
    deadline = time.monotonic() + 10
    for thread in deliveries:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
