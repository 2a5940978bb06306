-- The embedded server's database (db/embedded.py), checked on the server's `postgres`
-- database after each start. Named queries (`-- name: x`), loaded by cryptomonitor/queries.py;
-- names are unique across the files of sql/app/.

-- name: embedded_database_exists
SELECT 1 FROM pg_database WHERE datname = 'cryptomonitor';

-- name: embedded_create_database
CREATE DATABASE cryptomonitor;
