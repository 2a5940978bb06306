"""TimescaleDB storage policies from the settings: compression and raw-tick retention.

Checked at every start-up and changed, under the migration lock, only when they differ from
the settings: a changed setting takes effect on the next start (by a role that may change
them: the owner), and an unchanged one needs no privilege. Retention drops whole chunks of
raw ticks only; the candles (continuous aggregates) keep their rows, because retention must
exceed the longest refresh window (30 days, ohlcv_1d), outside which the aggregates are never
recomputed (values.MIN_TICKS_RETENTION enforces it).
On plain PostgreSQL there are no chunks to compress or drop, so neither policy applies there:
both are skipped with a log line (ticks are kept until deleted; the candles follow them).
"""

from __future__ import annotations

import datetime as dt

import psycopg
import structlog

from cryptomonitor.db import database, migrations, queries
from cryptomonitor.exceptions import MigrationError

log = structlog.get_logger(__name__)


def apply(conn: database.Connection, compress_after: float | None, retention: float | None) -> None:
    """Install (or replace, or remove) the compression and retention policies of ``ticks``."""
    if migrations.current_flavour(conn) != "timescaledb":
        if compress_after or retention:
            log.info(
                "storage_policies_skipped",
                reason="plain PostgreSQL has no chunks to "
                "compress or drop; ticks are kept until deleted",
            )
        return
    row = conn.execute(
        queries.get("ticks_policies_match"),
        {"compress_after": compress_after, "retention": retention},
    ).fetchone()
    if row is not None and all(row):
        log.info(
            "storage_policies",
            compress_after_s=compress_after,
            retention_s=retention,
            changed=False,
        )
        return
    conn.execute(queries.get("lock_migrations"), {"key": migrations.MIGRATION_LOCK})
    try:
        _replace(conn, compress_after, retention)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise MigrationError(
            "CRYPTOMONITOR_COMPRESS_AFTER / CRYPTOMONITOR_TICKS_RETENTION differ from the "
            f"policies in the database, and role {conn.info.user!r} may not change them "
            f"({exc}): run `cryptomonitor migrate` with these settings as the database owner"
        ) from exc
    finally:
        conn.execute(queries.get("unlock_migrations"), {"key": migrations.MIGRATION_LOCK})
    log.info(
        "storage_policies", compress_after_s=compress_after, retention_s=retention, changed=True
    )


def _replace(
    conn: database.Connection, compress_after: float | None, retention: float | None
) -> None:
    with conn.transaction():
        conn.execute(queries.get("remove_compression_policy"))
        if compress_after is not None:
            conn.execute(queries.get("add_compression_policy"), {"seconds": compress_after})
        conn.execute(queries.get("remove_retention_policy"))
        if retention is not None:
            conn.execute(queries.get("add_retention_policy"), {"seconds": retention})


def drops_before(
    conn: database.Connection, retention: float | None, now: dt.datetime
) -> dt.datetime | None:
    """The time before which the retention policy (as `apply` installs it from `retention`)
    drops raw ticks, seen from `now`; None where none is dropped (no retention, or plain
    PostgreSQL). Ticks stored older than that vanish at the policy's next run."""
    if retention is None or migrations.current_flavour(conn) != "timescaledb":
        return None
    return now - dt.timedelta(seconds=retention)
