-- Schema, storage policies and the leader lock (migrations.py, policies.py, leader.py).
-- Named queries (`-- name: x`), loaded by cryptomonitor/queries.py; names are unique across
-- the files of sql/app/.

-- name: ticks_policies_match
-- TimescaleDB only: whether the compression and retention policies of ticks are already the
-- configured ones (NULL seconds: no policy). Lets a role that may not change them start.
SELECT
    (SELECT (config ->> 'compress_after')::interval FROM timescaledb_information.jobs
     WHERE hypertable_name = 'ticks' AND proc_name = 'policy_compression')
        IS NOT DISTINCT FROM justify_hours(make_interval(secs => %(compress_after)s::float8)),
    (SELECT (config ->> 'drop_after')::interval FROM timescaledb_information.jobs
     WHERE hypertable_name = 'ticks' AND proc_name = 'policy_retention')
        IS NOT DISTINCT FROM justify_hours(make_interval(secs => %(retention)s::float8));

-- name: lock_migrations
-- One migration (or policy change) at a time, whichever process runs it.
SELECT pg_advisory_lock(%(key)s);

-- name: unlock_migrations
SELECT pg_advisory_unlock(%(key)s);

-- name: create_schema_migrations
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    flavour    text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: schema_migrations_missing
SELECT to_regclass('schema_migrations') IS NULL;

-- name: applied_migrations
SELECT version FROM schema_migrations;

-- name: record_migration
INSERT INTO schema_migrations (version, name, flavour) VALUES (%(version)s, %(name)s, %(flavour)s);

-- name: schema_flavour
SELECT flavour FROM schema_migrations ORDER BY version LIMIT 1;

-- name: database_owner
SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database();

-- name: timescaledb_loadable
-- Created here already; or installed and preloaded: TimescaleDB's loader has then defined its
-- settings (timescaledb.disable_load). Not shared_preload_libraries itself: only superusers and
-- pg_read_all_settings may read it.
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'),
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),
       current_setting('timescaledb.disable_load', true) IS NOT NULL;

-- name: create_timescaledb
CREATE EXTENSION IF NOT EXISTS timescaledb;

-- name: remove_compression_policy
SELECT remove_compression_policy('ticks', if_exists => true);

-- name: add_compression_policy
SELECT add_compression_policy('ticks', compress_after => justify_hours(make_interval(secs => %(seconds)s)));

-- name: remove_retention_policy
SELECT remove_retention_policy('ticks', if_exists => true);

-- name: add_retention_policy
SELECT add_retention_policy('ticks', drop_after => justify_hours(make_interval(secs => %(seconds)s)));

-- name: leader_session_timeout
-- A holder cut off from the database (partition, frozen host) stops touching its session: the
-- server ends the session, and frees the lock, after this.
SELECT set_config('idle_session_timeout', %(ms)s, false);

-- name: leader_alive
SELECT 1;

-- name: leader_try_lock
SELECT pg_try_advisory_lock(hashtextextended(%(name)s, 0));
