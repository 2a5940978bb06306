"""Versioned schema migrations from ``sql/migrations/``, applied in order, once each.

File names are ``NNNN_name.sql`` for both flavours, or ``NNNN_name.postgres.sql`` and
``NNNN_name.timescaledb.sql`` where plain PostgreSQL and TimescaleDB differ. The flavour is
chosen at the first migration and recorded in ``cryptomonitor_meta``; later runs keep it.

A file that starts with ``-- cryptomonitor: no-transaction`` is run statement by statement in
autocommit mode (TimescaleDB refuses continuous-aggregate DDL inside a transaction) and must
be idempotent; every other file runs in one transaction with the record of its version.
Concurrent runs are serialised by a session advisory lock, so two processes can migrate at once.
"""

from __future__ import annotations

import dataclasses
import re

import psycopg
import structlog

from cryptomonitor.db import database, queries
from cryptomonitor.exceptions import MigrationError

log = structlog.get_logger(__name__)

MIGRATION_LOCK = 0x434D_4D49_4752  # "CMMIGR": one id for all CryptoMonitor migrations
NO_TRANSACTION = "-- cryptomonitor: no-transaction"
_FILE = re.compile(r"^(\d{4})_(\w+?)(?:\.(postgres|timescaledb))?\.sql$")


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def transactional(self) -> bool:
        return not self.sql.lstrip().startswith(NO_TRANSACTION)


def available(flavour: str) -> list[Migration]:
    """The migrations of `flavour`, in version order; each version exactly once."""
    found: dict[int, Migration] = {}
    directory = queries.sql_root() / "migrations"
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        match = _FILE.match(entry.name)
        if not match:
            continue
        version, name, variant = int(match[1]), match[2], match[3]
        if variant not in (None, flavour):
            continue
        if version in found:
            raise MigrationError(f"two migrations for version {version}: {entry.name}")
        found[version] = Migration(version, name, entry.read_text(encoding="utf-8"))
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"migration versions must run 1..N without gaps, got {versions}")
    return [found[v] for v in versions]


def split_statements(sql: str) -> list[str]:
    """Split SQL text on top-level semicolons, respecting quotes, dollar quotes and comments."""
    statements: list[str] = []
    start = i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            i = _index_after(sql, "\n", i)
        elif sql.startswith("/*", i):
            i = _index_after(sql, "*/", i + 2)
        elif c in ("'", '"'):
            i = _index_after(sql, c, i + 1)
        elif c == "$" and (tag := re.match(r"\$[A-Za-z_]*\$", sql[i:])):
            i = _index_after(sql, tag.group(), i + len(tag.group()))
        elif c == ";":
            statements.append(sql[start:i])
            i = start = i + 1
        else:
            i += 1
    statements.append(sql[start:])
    return [s.strip() for s in statements if _has_code(s)]


def _index_after(text: str, token: str, start: int) -> int:
    end = text.find(token, start)
    return len(text) if end < 0 else end + len(token)


def _has_code(statement: str) -> bool:
    without_comments = re.sub(r"--[^\n]*|/\*.*?\*/", "", statement, flags=re.DOTALL)
    return bool(without_comments.strip())


def migrate(conn: database.Connection, timescaledb: str = "auto") -> list[int]:
    """Bring the database to the newest schema; return the versions applied now.

    `conn` must be in autocommit mode. `timescaledb` is ``auto`` (use it when the server can
    load it), ``on`` (fail without it) or ``off``; it only matters for a new database.
    """
    if not conn.autocommit:
        raise MigrationError("migrations need an autocommit connection")
    conn.execute(queries.get("lock_migrations"), {"key": MIGRATION_LOCK})
    pending: list[Migration] = []
    try:
        # Only DDL when there is something to do: a role that may not change the schema
        # (cryptomonitor_writer, cryptomonitor_reader) can start on a current database.
        if _scalar(conn, "schema_migrations_missing"):
            conn.execute(queries.get("create_schema_migrations"))
        flavour = _flavour(conn, timescaledb)
        done = {row[0] for row in conn.execute(queries.get("applied_migrations"))}
        pending = [m for m in available(flavour) if m.version not in done]
        for migration in pending:
            _apply(conn, migration, flavour)
        if pending:
            log.info("migrations_applied", versions=[m.version for m in pending], flavour=flavour)
        return [m.version for m in pending]
    except psycopg.errors.InsufficientPrivilege as exc:
        raise MigrationError(_privilege_message(conn, pending, exc)) from exc
    except psycopg.Error as exc:
        raise MigrationError(f"migration failed: {exc}") from exc
    finally:
        conn.execute(queries.get("unlock_migrations"), {"key": MIGRATION_LOCK})


#: What `cryptomonitor migrate` needs, said in errors and in the README.
PRIVILEGES = (
    "the owner of the database (it creates tables in schema public and, on "
    "TimescaleDB, the extension), with CREATEROLE or the roles cryptomonitor_reader "
    "and cryptomonitor_writer made beforehand"
)


def _privilege_message(
    conn: database.Connection, pending: list[Migration], exc: psycopg.Error
) -> str:
    versions = ", ".join(str(m.version) for m in pending) or "all"
    user = conn.info.user
    try:
        owner = _scalar(conn, "database_owner")
    except psycopg.Error:
        owner = None
    if owner is not None and owner != user:
        return (
            f"the database needs migrations ({versions}) that role {user!r} may not "
            f"apply ({exc}): run `cryptomonitor migrate` as the database owner, "
            f"{owner!r}, first"
        )
    diag = exc.diag.message_hint if isinstance(exc, psycopg.Error) else None
    return (
        f"role {user!r} owns the database but may not apply migrations ({versions}): "
        f"{exc}{' (' + diag + ')' if diag else ''}. migrate needs {PRIVILEGES}"
    )


def _apply(conn: database.Connection, migration: Migration, flavour: str) -> None:
    record = (
        queries.get("record_migration"),
        {"version": migration.version, "name": migration.name, "flavour": flavour},
    )
    log.info("migration_start", version=migration.version, name=migration.name)
    if migration.transactional:
        with conn.transaction():
            conn.execute(migration.sql)
            conn.execute(*record)
    else:
        for statement in split_statements(migration.sql):
            conn.execute(statement)
        conn.execute(*record)


def _scalar(conn: database.Connection, name: str) -> object:
    row = conn.execute(queries.get(name)).fetchone()
    return None if row is None else row[0]


def _flavour(conn: database.Connection, wanted: str) -> str:
    recorded = current_flavour(conn)
    if recorded is not None:
        if wanted == "on" and recorded != "timescaledb":
            raise MigrationError(
                "CRYPTOMONITOR_TIMESCALEDB=on but this database was created on plain "
                "PostgreSQL; convert it by hand or use a new database"
            )
        return recorded
    if wanted == "off":
        return "postgres"
    if _timescaledb_loadable(conn):
        try:
            conn.execute(queries.get("create_timescaledb"))
        except psycopg.errors.InsufficientPrivilege as exc:
            database = conn.info.dbname
            raise MigrationError(
                f"role {conn.info.user!r} may not create the timescaledb extension ({exc}): "
                "that takes CREATE on the database (its owner has it) or, for an untrusted "
                f"build, a superuser: psql -d {database} -c 'CREATE EXTENSION timescaledb', "
                "then migrate again; or CRYPTOMONITOR_TIMESCALEDB=off for plain PostgreSQL"
            ) from exc
        return "timescaledb"
    if wanted == "on":
        raise MigrationError(
            "CRYPTOMONITOR_TIMESCALEDB=on but the server cannot load TimescaleDB "
            "(not installed, or not in shared_preload_libraries)"
        )
    log.info("timescaledb_unavailable", using="plain PostgreSQL")
    return "postgres"


def _timescaledb_loadable(conn: database.Connection) -> bool:
    row = conn.execute(queries.get("timescaledb_loadable")).fetchone()
    assert row is not None
    created, installed, preloaded = row
    return bool(created) or (bool(installed) and bool(preloaded))


def current_flavour(conn: database.Connection) -> str | None:
    """The flavour the database was migrated with, or None before the first migration."""
    try:
        row = conn.execute(queries.get("schema_flavour")).fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return None if row is None else str(row[0])
