"""TimescaleDB storage policies from the settings: compression and raw-tick retention.

Applied at every start-up, under the migration lock, so a changed setting takes effect on the
next start. Retention drops whole chunks of raw ticks only; the candles (continuous aggregates)
keep their rows, because retention must exceed the longest refresh window (30 days, ohlcv_1d),
outside which the aggregates are never recomputed (config.MIN_TICKS_RETENTION enforces it).
On plain PostgreSQL the candles are views over ticks, so neither policy applies there: both are
skipped with a log line.
"""

from __future__ import annotations

import structlog

from cryptomonitor import migrations, store

log = structlog.get_logger(__name__)

def apply(conn: store.Connection, compress_after: float | None,
          retention: float | None) -> None:
    """Install (or replace, or remove) the compression and retention policies of ``ticks``."""
    if migrations.current_flavour(conn) != "timescaledb":
        if compress_after or retention:
            log.info("storage_policies_skipped", reason="plain PostgreSQL has no chunks to "
                     "compress or drop; the candles are views over ticks")
        return
    conn.execute("SELECT pg_advisory_lock(%s)", (migrations.MIGRATION_LOCK,))
    try:
        with conn.transaction():
            conn.execute("SELECT remove_compression_policy('ticks', if_exists => true)")
            if compress_after is not None:
                conn.execute("SELECT add_compression_policy('ticks',"
                             " compress_after => justify_hours(make_interval(secs => %s)))",
                             (compress_after,))
            conn.execute("SELECT remove_retention_policy('ticks', if_exists => true)")
            if retention is not None:
                conn.execute("SELECT add_retention_policy('ticks',"
                             " drop_after => justify_hours(make_interval(secs => %s)))",
                             (retention,))
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (migrations.MIGRATION_LOCK,))
    log.info("storage_policies", compress_after_s=compress_after, retention_s=retention)
