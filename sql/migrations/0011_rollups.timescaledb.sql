-- 0011 on TimescaleDB: nothing to do; its continuous aggregates (0003) are its rollups. The
-- plain-PostgreSQL flavour (0011_rollups.postgres.sql) adds trigger-kept summary tables.
SELECT 1;
