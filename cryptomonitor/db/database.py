"""Connections to the database, and what its errors mean.

Driver errors are translated here: `DatabaseUnavailable` for what may succeed later
(connection lost, server shutting down), `DatabaseRefused` for a connection refused for a
reason waiting does not fix (with the fix), `DatabaseError` for the rest. Also the two facts
the fetcher reads at start: the quote currency (`check_currency`) and a symbol's newest tick.
The SQL of a batch of ticks is in `cryptomonitor.ingest.repository`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import psycopg
import structlog

from cryptomonitor.db import queries
from cryptomonitor.exceptions import (
    ConfigError,
    DatabaseError,
    DatabaseRefused,
    DatabaseUnavailable,
)

log = structlog.get_logger(__name__)

Connection = psycopg.Connection[tuple[Any, ...]]


#: Connection failures that waiting does not fix: (what the server says, what to do).
_REFUSALS = (
    (
        re.compile(r'database "(?P<name>[^"]+)" does not exist'),
        "create it (as a role that may: `createdb {name}`, or CREATE DATABASE), then run "
        "`cryptomonitor migrate`",
    ),
    (
        re.compile(r'role "(?P<name>[^"]+)" does not exist'),
        "create the role (`createuser {name}`) or connect as another one (DATABASE_URL, PGUSER)",
    ),
    (
        re.compile(r'password authentication failed for user "(?P<name>[^"]+)"'),
        "check the password (PGPASSWORD, DATABASE_URL, ~/.pgpass). Under docker compose, the "
        "passwords in .env are given to the roles when the data volume is created: changing one "
        "later has no effect until ALTER ROLE {name} PASSWORD '...' (or `down -v`, losing the "
        "data)",
    ),
    (
        re.compile(r"no pg_hba\.conf entry"),
        "the server's pg_hba.conf does not let this host/role/database in: add a line for it",
    ),
    (
        re.compile(r"no password supplied|(?:Peer|Ident) authentication failed"),
        "give the password (PGPASSWORD, DATABASE_URL, ~/.pgpass), or connect over the local "
        "socket as your own role (peer authentication; Debian's socket: "
        "DATABASE_URL='postgresql:///cryptomonitor?host=/var/run/postgresql')",
    ),
)


def translate(exc: psycopg.Error) -> DatabaseError:
    """The CryptoMonitor error for a driver error: retryable or not."""
    if isinstance(exc, psycopg.OperationalError | psycopg.errors.AdminShutdown):
        text = str(exc).strip()
        for pattern, fix in _REFUSALS:
            found = pattern.search(text)
            if found:
                return DatabaseRefused(
                    f"database refused the connection: {text}\n"
                    f"fix: {fix.format(**found.groupdict())}"
                )
        return DatabaseUnavailable(f"database unavailable: {text}")
    return DatabaseError(f"database error: {exc}".strip())


#: A server that vanished without closing the connection (network partition, host crash) is
#: noticed in about a minute instead of TCP's ~15: keepalive probes on an idle connection, and
#: a 30 s limit on unacknowledged data while a query is sent.
KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def connect(conninfo: str, connect_timeout: float = 10) -> Connection:
    """An autocommit connection (transactions are explicit); DatabaseUnavailable on failure."""
    params: dict[str, Any] = {
        **KEEPALIVES,
        "connect_timeout": max(1, int(connect_timeout)),
        "application_name": "cryptomonitor",
    }
    try:
        params.update(psycopg.conninfo.conninfo_to_dict(conninfo))  # the user's values win
        return psycopg.connect(psycopg.conninfo.make_conninfo("", **params), autocommit=True)
    except psycopg.Error as exc:
        raise translate(exc) from exc


def newest_tick(conn: Connection, symbol: str) -> dt.datetime | None:
    """The time of the newest stored tick of `symbol`."""
    try:
        row = conn.execute(queries.get("newest_tick"), {"symbol": symbol}).fetchone()
    except psycopg.Error as exc:
        raise translate(exc) from exc
    return None if row is None else row[0]


class Database:
    """One connection, opened on first use and dropped after a failure: the next use reconnects."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: Connection | None = None

    def connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._conninfo)
        return self._conn

    def reset(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    close = reset


def check_currency(conn: Connection, vs_currency: str) -> None:
    """Record the quote currency on first use; refuse to mix currencies in one database."""
    try:
        with conn.transaction():
            conn.execute(
                queries.get("set_meta_if_absent"), {"key": "vs_currency", "value": vs_currency}
            )
            row = conn.execute(queries.get("get_meta"), {"key": "vs_currency"}).fetchone()
    except psycopg.Error as exc:
        raise translate(exc) from exc
    stored = str(row[0]) if row else vs_currency
    if stored != vs_currency:
        raise ConfigError(
            f"CRYPTOMONITOR_VS_CURRENCY={vs_currency} but this database holds prices in "
            f"{stored}; use {stored} or a new database"
        )
