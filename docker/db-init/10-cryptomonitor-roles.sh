#!/bin/bash
# Login roles for docker compose, run by the timescale/timescaledb image on the FIRST start of
# an empty data volume (docker-entrypoint-initdb.d), as POSTGRES_USER. Safe to run again by
# hand: existing roles get their passwords reset.
#   cryptomonitor_app  the fetcher (cryptomonitor run): member of cryptomonitor_writer
#   cryptomonitor_api  the REST API: member of cryptomonitor_reader
#   analyst            analysts' SQL clients: member of cryptomonitor_reader
# `cryptomonitor migrate` (as POSTGRES_USER) grants the group roles their privileges.
set -euo pipefail
: "${APP_DB_PASSWORD:?set APP_DB_PASSWORD}" "${API_DB_PASSWORD:?set API_DB_PASSWORD}"
: "${ANALYST_DB_PASSWORD:?set ANALYST_DB_PASSWORD}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_password="$APP_DB_PASSWORD" -v api_password="$API_DB_PASSWORD" \
    -v analyst_password="$ANALYST_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I NOLOGIN', name)
FROM (VALUES ('cryptomonitor_reader'), ('cryptomonitor_writer')) AS v(name)
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name)
\gexec
SELECT format('CREATE ROLE %I LOGIN', name)
FROM (VALUES ('cryptomonitor_app'), ('cryptomonitor_api'), ('analyst')) AS v(name)
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name)
\gexec
ALTER ROLE cryptomonitor_app PASSWORD :'app_password';
ALTER ROLE cryptomonitor_api PASSWORD :'api_password';
ALTER ROLE analyst PASSWORD :'analyst_password';
GRANT cryptomonitor_writer TO cryptomonitor_app;
GRANT cryptomonitor_reader TO cryptomonitor_api, analyst;
SQL
