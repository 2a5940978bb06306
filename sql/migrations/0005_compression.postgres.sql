-- 0005 on plain PostgreSQL: nothing to do (compression is a TimescaleDB feature); the version
-- is recorded so both flavours share one numbering.
SELECT 1;
