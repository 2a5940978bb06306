"""``cryptomonitor run``: poll a source until stopped.

After the shared start-up (`startup.start`, with the spool: its leftovers are stored first),
a `Poller` fills the gap since each coin's newest tick from the source's history, starts one
delivery thread per receiver and the metrics server, and polls on a fixed schedule; only the
replica holding the job's leader lock polls, the others stand by.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import signal
import threading
import time
from collections.abc import Sequence

import psycopg
import structlog

from cryptomonitor import metrics, models
from cryptomonitor.alerting import delivery, rules
from cryptomonitor.commands import arguments, backfill, startup
from cryptomonitor.config import Settings, values
from cryptomonitor.db import leader
from cryptomonitor.exceptions import (
    ConfigError,
    DatabaseError,
    SourceError,
)
from cryptomonitor.sources import registry

log = structlog.get_logger(__name__)

NAME = "run"


def add_parser(commands: arguments.Subcommands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="poll the price source and store ticks until stopped",
        description="Migrate, then poll the source every poll interval, "
        "store new ticks and append alert lines. Stops cleanly on SIGTERM.",
    )
    parser.add_argument("--once", action="store_true", help="poll once, then exit")
    return parser


def main(settings: Settings, args: argparse.Namespace) -> int:
    summary = run(settings, startup.stop_on_signals(), max_polls=1 if args.once else None)
    if summary.failed:
        log.error("run_failed", why=summary.failed)
        return 1
    return 0


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
            # The hint first: the HTTP library's text runs to hundreds of characters.
            return (
                "the source answered no poll; offline, `cryptomonitor demo` writes three real "
                f"days of data instead. Last error: {_shortened(self.last_error)}"
            )
        return None


#: Characters of the source's last error that `RunSummary.failed` shows.
MAX_ERROR_SHOWN = 300


def _shortened(error: str | None) -> str:
    text = error or "none recorded"
    return text if len(text) <= MAX_ERROR_SHOWN else text[: MAX_ERROR_SHOWN - 3] + "..."


def run(settings: Settings, stop: threading.Event, max_polls: int | None = None) -> RunSummary:
    """Poll until `stop` is set (SIGTERM) or `max_polls` polls are done, then flush and return.

    Only the replica holding the job's lock polls (see cryptomonitor/db/leader.py); the others
    wait, trying again every poll interval. With `max_polls`, a standby returns at once.
    A coin the source's first answer has no price for is a configuration error (a typo in
    CRYPTOMONITOR_COINS); one missing later is logged at every poll (delisted, or no price).

    Polls start on a fixed schedule every ``poll_interval``; a poll that overruns its slot
    skips the missed ones rather than bursting. A failing source or database is logged and
    the loop goes on; ticks wait in the pipeline's buffer for the database.
    """
    return Poller(settings, stop, max_polls).run()


class Poller:
    """One `run`, used once: the constructor serves the metrics, starts the pipeline and builds
    the source and the leader lock; `run` polls until stopped, then shuts everything down.

    Each turn of the loop either stands by (another replica holds the lock) or polls the
    source, stores the fresh ticks and wakes the receivers' threads for the events raised,
    then waits for its slot of the schedule."""

    def __init__(self, settings: Settings, stop: threading.Event, max_polls: int | None) -> None:
        # First, before anything starts: an address it cannot bind stops it (exit 2).
        metrics.serve(settings.metrics_addr)
        self.settings = settings
        self.stop = stop
        self.max_polls = max_polls
        self.deliveries: list[delivery.Delivery] = []  # started by `run`
        self.deliveries_stop = threading.Event()  # set at the end, however the loop ends
        # Live: a poll's alert lines and deliveries go first, not after the whole poll is stored.
        started = startup.start(
            settings, stop, with_spool=True, lines_first=True, on_events=self.deliver
        )
        self.pipeline = started.pipeline
        self.receivers = started.receivers
        self.source = startup.make_source(settings)
        self.leadership = leader.Leadership(
            settings.conninfo,
            leader.lock_name(self.source.name, settings.vs_currency, settings.coins),
            # Longer than the slowest poll slot (the HTTP deadline), plus a margin of polls.
            idle_timeout=startup.http_deadline(settings) + 3 * settings.poll_interval,
        )
        self.last_seen: dict[str, dt.datetime] = {}  # each symbol's newest tick time
        self.polls = self.answered = 0
        self.last_error: str | None = None  # the source's
        self.stood_by = False  # a bounded run found another replica polling
        self.leading = False  # as of the last turn
        self.gap_filled = False
        self.next_at = time.monotonic()  # the next poll's slot
        self.reload = threading.Event()  # set by SIGHUP: reload the rules file between polls

    def run(self) -> RunSummary:
        self._log_start()
        self.deliveries = delivery.start(
            self.receivers, self.settings.conninfo, self.deliveries_stop
        )
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGHUP, self._hang_up)
        try:
            self._loop()
        finally:
            if previous is not None:
                signal.signal(signal.SIGHUP, previous)
            unstored = self._shut_down()
        return RunSummary(
            self.polls,
            self.answered,
            unstored,
            self.pipeline.spool is not None,
            self.stood_by,
            self.max_polls is not None,
            self.last_error,
        )

    def _hang_up(self, _signum: int, _frame: object) -> None:
        log.info("rules_reload_requested", signal="SIGHUP")
        self.reload.set()  # applied before the next poll

    def _reload_rules(self) -> None:
        """Between polls: the rules file again. A file with an error keeps the rules in force
        (and says so); a database error tries again at the next turn."""
        path = self.settings.rules_file
        if path is None:
            self.reload.clear()
            log.warning("rules_not_reloaded", reason="no CRYPTOMONITOR_RULES_FILE: the defaults")
            return
        try:
            new = rules.load(path)
        except ConfigError as exc:
            self.reload.clear()
            log.error("rules_not_reloaded", error=str(exc), kept="the rules in force")
            return
        try:
            reset = self.pipeline.writer.reload(self.pipeline.db.connection(), new)
        except DatabaseError as exc:
            log.warning("rules_reload_deferred", error=str(exc), retry="at the next poll")
            return
        self.reload.clear()
        log.info("rules_reloaded", path=str(path), rules=len(new), started_afresh=reset)

    def _loop(self) -> None:
        while not self.stop.is_set():
            if self.reload.is_set():
                self._reload_rules()
            started = time.monotonic()
            leading = self.leadership.poll_allowed()
            metrics.LEADER.set(leading)
            if not leading:
                self._stand_by()
                if self.max_polls is not None:
                    self.stood_by = True
                    return
                self.next_at = started + self.settings.poll_interval
                self.stop.wait(self.settings.poll_interval)
                continue
            self._lead()
            self._store(self._poll(), started)
            if self.max_polls is not None and self.polls >= self.max_polls:
                return
            self._wait_for_slot()

    def _log_start(self) -> None:
        settings, source = self.settings, self.source
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

    def _stand_by(self) -> None:
        """Another replica polls: close the source if this one just lost the lock (a
        stream's buffer would fill while nobody fetches; the next fetch as leader opens it
        again), and store what was fetched while leading."""
        metrics.POLLS.labels("standby").inc()
        if self.leading:
            self.leading = False
            last = self.source.close()
            log.warning(
                "standby",
                source=self.source.name,
                last_ticks=len(last.ticks),
                fresh=len(self._submit(last.ticks)),
            )
        if self.pipeline.buffered:
            self.pipeline.flush()

    def _lead(self) -> None:
        """This replica polls: the first time, it fills the gap since the job last polled."""
        self.leading = True
        if not self.gap_filled:
            self.gap_filled = True
            self._fill_gap()

    def _fill_gap(self) -> None:
        """Backfill each symbol's gap since its newest stored tick, back to at most
        CRYPTOMONITOR_BACKFILL_HORIZON; a failure is logged and polling goes on. The leader
        lock is kept alive between requests (a long backfill must not lose it)."""
        settings, pipeline = self.settings, self.pipeline
        symbols = values.named_coins(settings.coins)
        if settings.backfill_horizon is None or not symbols:
            return
        past = registry.history_of(settings, self.source)
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
                summary = backfill.run(
                    pipeline, past, periods, self.stop, between=self.leadership.poll_allowed
                )
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

    def _poll(self) -> dict[str, int]:
        """Fetch the source's answer and submit its fresh ticks; the poll's figures."""
        try:
            with metrics.SOURCE_SECONDS.time():
                result = self.source.fetch()
        except SourceError as exc:
            metrics.POLLS.labels("failed").inc()
            self.last_error = str(exc)
            log.warning("poll_failed", source=self.source.name, error=self.last_error)
            return {"fetched": 0, "unchanged": 0, "rejected": 0, "missing": 0}
        if self.answered == 0 and result.missing:
            raise ConfigError(
                f"CRYPTOMONITOR_COINS: {self.source.name} has no {self.settings.vs_currency} "
                f"price for {', '.join(map(repr, result.missing))}: "
                f"{self.source.unknown_hint}"
            )
        self.answered += 1
        metrics.POLLS.labels("answered").inc()
        fresh = self._submit(result.ticks)
        return {
            "fetched": len(result.ticks),
            "unchanged": len(result.ticks) - len(fresh),
            "rejected": len(result.rejected),
            "missing": len(result.missing),
        }

    def _store(self, fields: dict[str, int], started: float) -> None:
        """Flush the pipeline (the poll's ticks, and any the database could not take before),
        wake the receivers for its events, and record the poll (`fields`, since `started`)."""
        flushed = self.pipeline.flush()
        self.polls += 1
        if flushed.events:
            self.deliver()
        metrics.record_poll(fields, flushed, time.monotonic() - started, self.pipeline.dropped)
        log.info(
            "poll",
            **fields,
            stored=flushed.new,
            duplicates=flushed.duplicates,
            alerts=flushed.events,
            lines_written=flushed.lines_written,
            buffered=flushed.buffered,
            dropped_total=self.pipeline.dropped,
            database_ok=flushed.database_ok,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )

    def deliver(self) -> None:
        """New events are committed: the receivers' threads look now (the pipeline calls it
        too, as soon as a batch's first events are)."""
        delivery.wake(self.deliveries)

    def _wait_for_slot(self) -> None:
        """Until the next slot of the schedule; a poll that overran its own skips the missed
        ones."""
        interval = self.settings.poll_interval
        self.next_at += interval
        now = time.monotonic()
        if self.next_at < now:
            self.next_at = now + (self.next_at - now) % interval
        self.stop.wait(self.next_at - now)

    def _submit(self, ticks: Sequence[models.Tick]) -> list[models.Tick]:
        """The ticks not seen before, handed to the pipeline (dropped, counted and logged if
        the spool's disk refuses them)."""
        fresh = [t for t in ticks if self.last_seen.get(t.symbol) != t.time]
        self.last_seen.update((t.symbol, t.time) for t in fresh)
        metrics.saw_ticks(fresh)
        try:
            self.pipeline.submit(fresh)
        except OSError as exc:  # the spool's disk refused them (full, read-only)
            self.pipeline.drop(
                fresh,
                "spool_write_failed",
                error=str(exc),
                directory=str(self.settings.spool_dir),
            )
        return fresh

    def _shut_down(self) -> int:
        """Let everything go; return how many fetched ticks are left unstored.

        Each step runs whatever the ones before raised (an ExitStack runs them all, last
        registered first): the source is closed and its last ticks stored, then the pipeline
        closed, the lock let go, the deliveries stopped."""
        with contextlib.ExitStack() as cleanup:
            cleanup.callback(log.info, "run_stop", polls=self.polls, answered=self.answered)
            cleanup.callback(self._stop_deliveries)
            cleanup.callback(self.leadership.close)
            cleanup.callback(self.pipeline.close)
            self._store_last_ticks()
            unstored = self.pipeline.buffered
            if unstored:
                log.error(
                    "stopped_with_unstored_ticks",
                    ticks=unstored,
                    kept_in=str(self.settings.spool_dir)
                    if self.pipeline.spool is not None
                    else "memory: lost",
                )
            return unstored

    def _store_last_ticks(self) -> None:
        """The source first: a stream's threads stop, and what they received since the last
        poll is stored with the rest rather than dropped."""
        last = self.source.close()
        if last.ticks:
            log.info(
                "source_last_ticks",
                source=self.source.name,
                ticks=len(last.ticks),
                fresh=len(self._submit(last.ticks)),
            )
        if self.pipeline.buffered:
            self.pipeline.flush()

    def _stop_deliveries(self) -> None:
        self.deliveries_stop.set()  # each finishes its current send (receiver timeouts bound it)
        deadline = time.monotonic() + 10
        for thread in self.deliveries:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
