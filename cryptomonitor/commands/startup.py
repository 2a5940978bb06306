"""How every command that stores ticks starts (`run`, `replay`, `demo`, `backfill`).

`start_pipeline`: the alerts file must be appendable, the rules and receivers must load, the
database is waited for (up to ``db_wait``: under compose it may start after us), migrated, its
currency checked, and the alerts file reconciled with the outbox after a possible crash;
`make_source` builds the configured source with the poll's HTTP deadline.
"""

from __future__ import annotations

import threading

import structlog
import tenacity

from cryptomonitor.alerting import alertfile, delivery, rules
from cryptomonitor.alerting.receivers import settings as receiver_settings
from cryptomonitor.config import Settings
from cryptomonitor.db import database, migrations, policies
from cryptomonitor.exceptions import (
    DatabaseRefused,
    DatabaseUnavailable,
)
from cryptomonitor.ingest import spool
from cryptomonitor.ingest.pipeline import Pipeline
from cryptomonitor.sources import base, registry

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


def start_pipeline(settings: Settings, stop: threading.Event, with_spool: bool = False) -> Pipeline:
    """Everything a run or replay needs before the first tick; raises a CryptoMonitorError.

    `with_spool` (``run``): ticks wait on disk in ``settings.spool_dir`` (unless off), and
    what a previous process left there is stored first."""
    alert_file = alertfile.AlertFile(settings.alerts_file)
    alert_file.check_writable()
    buffer = None
    if with_spool and settings.spool_dir is not None:
        buffer = spool.Spool(
            settings.spool_dir, settings.spool_max_bytes, memory_ticks=settings.buffer_max_ticks
        )
    try:
        active_rules = rules.load(settings.rules_file)
        # Known from now on: the events raised from here (by any command) reach them, from
        # `run`'s delivery threads.
        receivers = receiver_settings.load(settings.receivers_file, settings.alert_repeat_interval)
        conn = wait_for_database(settings, stop)
        try:
            migrations.migrate(conn, settings.timescaledb)
            policies.apply(conn, settings.compress_after, settings.ticks_retention)
            database.check_currency(conn, settings.vs_currency)
            alertfile.recover(conn, alert_file)
            delivery.register(conn, receivers)
        finally:
            conn.close()
    except BaseException:
        if buffer is not None:
            buffer.close()  # its ticks stay on disk for the next start
        raise
    log.info("ready", rules=[r.name for r in active_rules], alerts_file=str(settings.alerts_file))
    pipeline = Pipeline(
        database.Database(settings.conninfo),
        alert_file,
        active_rules,
        settings.alert_repeat_interval,
        settings.buffer_max_ticks,
        spool=buffer,
    )
    pipeline.receivers = receivers
    return pipeline


def http_deadline(settings: Settings) -> float:
    """How long one poll may spend on the source, retries included."""
    return max(settings.poll_interval, 30.0)


def make_source(settings: Settings) -> base.Source:
    return registry.build(settings, http_deadline(settings))
