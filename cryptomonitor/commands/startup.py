"""How every command starts: signals, the database, and for those that store ticks (`run`,
`replay`, `demo`, `backfill`) the pipeline.

`database`: the settings a command connects with; without a configured database, the
embedded server's (`db.embedded`), used for as long as the command runs. `start`: the alerts
file must be appendable, the rules and receivers must load, the database is
waited for (up to ``db_wait``: under compose it may start after us), migrated, its currency
checked, and the alerts file reconciled with the outbox after a possible crash; then the
pipeline is built whole. A backfill raises no alert (``alerts=False``): it neither checks nor
writes the alerts file, reads no rules or receivers file, and leaves the outbox to the commands
that own the file. `make_source` builds the configured source with the poll's HTTP deadline;
`stop_on_signals` turns SIGTERM and SIGINT into a clean stop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping

import structlog
import tenacity

from cryptomonitor.alerting import alertfile, delivery, rules
from cryptomonitor.alerting.receivers import base as receivers_base
from cryptomonitor.alerting.receivers import settings as receiver_settings
from cryptomonitor.config import Settings
from cryptomonitor.db import database, embedded, migrations, policies
from cryptomonitor.exceptions import (
    DatabaseRefused,
    DatabaseUnavailable,
)
from cryptomonitor.ingest import spool, writer
from cryptomonitor.ingest.pipeline import Pipeline
from cryptomonitor.sources import base, registry

log = structlog.get_logger(__name__)


@contextlib.contextmanager
def database_settings(
    settings: Settings, environ: Mapping[str, str] = os.environ
) -> Iterator[Settings]:
    """`settings` as they are when they name a database (``DATABASE_URL``, or a libpq
    ``PGHOST``, ``PGPORT``, ...); else with the URL of the embedded server, started for the
    block if need be and stopped after it if no other process uses it."""
    if not embedded.wanted(settings.database_url, environ):
        yield settings
        return
    with embedded.session(settings.data_dir, settings.postgres_bindir) as url:
        yield dataclasses.replace(settings, database_url=url)


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
            lambda exc: (
                isinstance(exc, DatabaseUnavailable)
                and not isinstance(exc, DatabaseRefused)
                and not stop.is_set()
            )
        ),
        before_sleep=lambda s: log.warning(
            "database_wait",
            attempt=s.attempt_number,
            waiting_up_to_s=settings.db_wait,
            error=str(s.outcome.exception()) if s.outcome else None,
        ),
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
            f"server running, and does {where} point at it?"
        ) from exc


@dataclasses.dataclass(frozen=True)
class Started:
    """What `start` readied: the pipeline, and the receivers it made known to the database
    (every event raised from now on, by any command, is theirs; only `run` delivers them)."""

    pipeline: Pipeline
    receivers: tuple[receivers_base.Receiver, ...] = ()


def start(
    settings: Settings,
    stop: threading.Event,
    *,
    alerts: bool = True,
    with_spool: bool = False,
    lines_first: bool = False,
    on_events: Callable[[], object] | None = None,
) -> Started:
    """Everything a command that stores ticks needs before the first; raises a
    CryptoMonitorError.

    `alerts` False (``backfill``): no alerts file, rules or receivers (see the module's
    docstring). `with_spool` (``run``): ticks wait on disk in ``settings.spool_dir`` (unless
    off), and what a previous process left there is stored first. `lines_first` and
    `on_events`: see `Pipeline`."""
    alert_file = alertfile.AlertFile(settings.alerts_file) if alerts else None
    if alert_file is not None:
        alert_file.check_writable()
    buffer = None
    if with_spool and settings.spool_dir is not None:
        buffer = spool.Spool(
            settings.spool_dir, settings.spool_max_bytes, memory_ticks=settings.buffer_max_ticks
        )
    try:
        # A backfill judges nothing, but its writer needs an active engine (any rules make one):
        # it announces what it stores, so that a running `run` reloads those symbols.
        active_rules = rules.load(settings.rules_file) if alerts else rules.DEFAULT_RULES
        receivers: tuple[receivers_base.Receiver, ...] = ()
        if alerts:
            receivers = tuple(
                receiver_settings.load(settings.receivers_file, settings.alert_repeat_interval)
            )
        _prepare_database(settings, stop, alert_file, receivers)
    except BaseException:
        if buffer is not None:
            buffer.close()  # its ticks stay on disk for the next start
        raise
    log.info(
        "ready",
        rules=[r.name for r in active_rules] if alerts else [],
        alerts_file=str(settings.alerts_file) if alerts else None,
    )
    pipeline = Pipeline(
        database.Database(settings.conninfo),
        writer.BatchWriter(active_rules, settings.alert_repeat_interval),
        alert_file,
        buffer_max_ticks=settings.buffer_max_ticks,
        spool=buffer,
        lines_first=lines_first,
        on_events=on_events,
    )
    return Started(pipeline, receivers)


def _prepare_database(
    settings: Settings,
    stop: threading.Event,
    alert_file: alertfile.AlertFile | None,
    receivers: tuple[receivers_base.Receiver, ...],
) -> None:
    """Wait for the database, migrate it, check its currency; then reconcile the alerts file
    with the outbox and register the receivers (the events raised from here reach them)."""
    conn = wait_for_database(settings, stop)
    try:
        migrations.migrate(conn, settings.timescaledb)
        policies.apply(conn, settings.compress_after, settings.ticks_retention)
        database.check_currency(conn, settings.vs_currency)
        if alert_file is not None:
            alertfile.recover(conn, alert_file)
        delivery.register(conn, receivers)
    finally:
        conn.close()


def stop_on_signals() -> threading.Event:
    """An event set by the first SIGTERM or SIGINT (logged): the command stops cleanly."""
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        log.info("stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def http_deadline(settings: Settings) -> float:
    """How long one poll may spend on the source, retries included."""
    return max(settings.poll_interval, 30.0)


def make_source(settings: Settings) -> base.Source:
    """The configured source, its HTTP calls bounded by `http_deadline`."""
    return registry.build(settings, http_deadline(settings))
