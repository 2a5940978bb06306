-- 0006: least-privilege group roles (NOLOGIN). Give them to login roles:
--   CREATE ROLE cryptomonitor_app LOGIN PASSWORD '...' IN ROLE cryptomonitor_writer;
--   CREATE ROLE analyst LOGIN PASSWORD '...' IN ROLE cryptomonitor_reader;
-- cryptomonitor_reader: SELECT on every relation (analysts, the REST API).
-- cryptomonitor_writer: what `cryptomonitor run` and `replay` need and nothing more: read, add
-- ticks, add alerts and mark them written, keep alert state. No DELETE, TRUNCATE or DDL: the
-- schema is changed by `cryptomonitor migrate` as the database owner.
-- Roles are cluster-wide: a second CryptoMonitor database on the same server reuses them.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cryptomonitor_reader') THEN
        CREATE ROLE cryptomonitor_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cryptomonitor_writer') THEN
        CREATE ROLE cryptomonitor_writer NOLOGIN;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'cannot create the roles cryptomonitor_reader and cryptomonitor_writer: '
            'the migrating role % lacks CREATEROLE', current_user
            USING HINT = 'Have an administrator run: CREATE ROLE cryptomonitor_reader NOLOGIN; '
                         'CREATE ROLE cryptomonitor_writer NOLOGIN; then migrate again.';
    WHEN unique_violation OR duplicate_object THEN
        NULL;  -- created at this moment by a migration of another database on this server
END
$$;

GRANT USAGE ON SCHEMA public TO cryptomonitor_reader, cryptomonitor_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO cryptomonitor_reader, cryptomonitor_writer;
-- Relations later migrations create (as this same owner) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT ON TABLES TO cryptomonitor_reader, cryptomonitor_writer;

GRANT INSERT ON ticks TO cryptomonitor_writer;
GRANT INSERT ON cryptomonitor_meta TO cryptomonitor_writer;
GRANT INSERT, UPDATE ON alert_state TO cryptomonitor_writer;
GRANT INSERT, UPDATE (written_at) ON alerts TO cryptomonitor_writer;
