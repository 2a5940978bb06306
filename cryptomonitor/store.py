"""The database side of ingestion: connections, idempotent tick inserts, alert evaluation.

`write_ticks` stores a batch and evaluates the alert rules for its new ticks (with an
`evaluator.Evaluator`) in ONE transaction: either the ticks and the alert events they raise
are committed together, or neither is. Driver errors are translated here:
`DatabaseUnavailable` for what may succeed later (connection lost, server shutting down),
`DatabaseError` for what will not.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
import structlog

from cryptomonitor import copybinary, failpoints, queries
from cryptomonitor.alerts import Event
from cryptomonitor.evaluator import Evaluator, StaleWindow
from cryptomonitor.exceptions import (
    ConfigError,
    DatabaseError,
    DatabaseRefused,
    DatabaseUnavailable,
)
from cryptomonitor.models import Tick

log = structlog.get_logger(__name__)

Connection = psycopg.Connection[tuple[Any, ...]]


#: Connection failures that waiting does not fix: (what the server says, what to do).
_REFUSALS = (
    (re.compile(r'database "(?P<name>[^"]+)" does not exist'),
     "create it (as a role that may: `createdb {name}`, or CREATE DATABASE), then run "
     "`cryptomonitor migrate`"),
    (re.compile(r'role "(?P<name>[^"]+)" does not exist'),
     "create the role (`createuser {name}`) or connect as another one (DATABASE_URL, PGUSER)"),
    (re.compile(r'password authentication failed for user "(?P<name>[^"]+)"'),
     "check the password (PGPASSWORD, DATABASE_URL, ~/.pgpass). Under docker compose, the "
     "passwords in .env are given to the roles when the data volume is created: changing one "
     "later has no effect until ALTER ROLE {name} PASSWORD '...' (or `down -v`, losing the data)"),
    (re.compile(r"no pg_hba\.conf entry"),
     "the server's pg_hba.conf does not let this host/role/database in: add a line for it"),
    (re.compile(r"no password supplied|(?:Peer|Ident) authentication failed"),
     "give the password (PGPASSWORD, DATABASE_URL, ~/.pgpass), or connect over the local "
     "socket as your own role (peer authentication; Debian's socket: "
     "DATABASE_URL='postgresql:///cryptomonitor?host=/var/run/postgresql')"),
)


def translate(exc: psycopg.Error) -> DatabaseError:
    """The CryptoMonitor error for a driver error: retryable or not."""
    if isinstance(exc, psycopg.OperationalError | psycopg.errors.AdminShutdown):
        text = str(exc).strip()
        for pattern, fix in _REFUSALS:
            found = pattern.search(text)
            if found:
                return DatabaseRefused(f"database refused the connection: {text}\n"
                                       f"fix: {fix.format(**found.groupdict())}")
        return DatabaseUnavailable(f"database unavailable: {text}")
    return DatabaseError(f"database error: {exc}".strip())


#: A server that vanished without closing the connection (network partition, host crash) is
#: noticed in about a minute instead of TCP's ~15: keepalive probes on an idle connection, and
#: a 30 s limit on unacknowledged data while a query is sent.
KEEPALIVES: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                              "keepalives_count": 3, "tcp_user_timeout": 30_000}


def connect(conninfo: str, connect_timeout: float = 10) -> Connection:
    """An autocommit connection (transactions are explicit); DatabaseUnavailable on failure."""
    params: dict[str, Any] = {
        **KEEPALIVES, "connect_timeout": max(1, int(connect_timeout)),
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


@dataclasses.dataclass(frozen=True)
class WriteResult:
    new: int
    duplicates: int
    events: int
    fast_path: bool = False  # the batch took the fast path (`_append`)


def write_ticks(conn: Connection, ticks: Sequence[Tick],
                evaluator: Evaluator | None = None) -> WriteResult:
    """Store `ticks` (skipping those already stored) and raise the alert events of the new ones.

    One transaction: the ticks, the alert states they change and the events they raise are
    committed together or not at all. If it fails, the evaluator forgets the batch's symbols
    (its cache must not hold what was rolled back).
    """
    if not ticks:
        return WriteResult(0, 0, 0)
    for attempt in (1, 2, 3):
        try:
            return _write(conn, ticks, evaluator)
        except StaleWindow as exc:  # another writer: reload its symbols and start again
            if evaluator is not None:
                evaluator.forget(exc.symbols)
            if attempt == 3:  # retryable: the pipeline keeps the batch for the next flush
                raise DatabaseUnavailable(
                    f"alert windows keep changing under this writer: {exc}") from exc
        except psycopg.Error as exc:
            if evaluator is not None:
                evaluator.forget(t.symbol for t in ticks)
            raise translate(exc) from exc
        except BaseException:
            if evaluator is not None:
                evaluator.forget(t.symbol for t in ticks)
            raise
    raise AssertionError("unreachable")


#: Connections on which the session's staging table exists (see queries: create_tick_batch).
_staged: weakref.WeakSet[Connection] = weakref.WeakSet()


def _write(conn: Connection, ticks: Sequence[Tick], evaluator: Evaluator | None) -> WriteResult:
    if conn not in _staged:  # outside the transaction: a rollback must not undo it
        conn.execute(queries.get("create_tick_batch"))
        _staged.add(conn)
    if evaluator is not None:
        evaluator.watch(conn)
    with conn.transaction():  # its BEGIN brings in other sessions' notifications
        if evaluator is not None and evaluator.appendable(ticks):
            new, events, fast = len(ticks), _append(conn, ticks, evaluator), True
        else:
            (new, events), fast = _insert(conn, ticks, evaluator), False
        if evaluator is not None and (payloads := evaluator.announcement(ticks)):
            conn.execute(queries.get("announce_ticks"), {"payloads": payloads})
    failpoints.hit("batch_committed")
    return WriteResult(new, len(ticks) - new, len(events), fast)


#: Ticks per block of the fast path's COPY (~16 KiB).
COPY_BLOCK = 250


def _append(conn: Connection, ticks: Sequence[Tick], evaluator: Evaluator) -> list[Event]:
    """The fast path, for a batch the evaluator's cache proves new: one binary COPY straight
    into ``ticks``, all sent first; the server inserts it while this process judges the
    batch (the two cores work at once); then the alert states and events are stored. A
    duplicate after all (another writer raced us) fails the COPY: `StaleWindow`, redone."""
    try:
        with conn.cursor() as cur, cur.copy(queries.get("copy_ticks")) as copy:
            for block in copybinary.blocks(ticks, COPY_BLOCK):
                copy.write(block)
            events, changed = evaluator.judge(ticks)
    except psycopg.errors.UniqueViolation as exc:
        raise StaleWindow({t.symbol for t in ticks}) from exc
    failpoints.hit("batch_inserted")
    return evaluator.save(conn, events, changed)


def _insert(conn: Connection, ticks: Sequence[Tick],
            evaluator: Evaluator | None) -> tuple[int, list[Event]]:
    """The general path: any batch (ticks stored already, unknown symbols, other writers).
    Staged in a temporary table, checked against the cache, inserted idempotently."""
    known = evaluator.newest_known(ticks) if evaluator is not None else None
    # COPY (binary, C-speed) into the session's temporary table, then one INSERT ... SELECT:
    # several times faster than binding Python lists as arrays.
    with conn.cursor() as cur, cur.copy(queries.get("copy_tick_batch")) as copy:
        for i, t in enumerate(ticks):
            copy.write_row((t.time, t.symbol, t.price, t.volume_24h, t.source,
                            known[i] if known is not None else None))
    if evaluator is not None:
        evaluator.sync(conn, ticks)
    inserted = conn.execute(queries.get("insert_tick_batch")).fetchall()
    failpoints.hit("batch_inserted")
    keys = {(str(symbol), time) for symbol, time in inserted}
    new, already = [], []
    seen = set()
    for t in ticks:  # a batch may hold one (symbol, time) twice: the first one counts
        key = (t.symbol, t.time)
        if key in keys and key not in seen:
            new.append(t)
        elif key not in keys:
            already.append(t)
        seen.add(key)
    new.sort(key=lambda t: (t.time, t.symbol))
    events = evaluator.evaluate(conn, new, already) if evaluator is not None else []
    return len(new), events


def check_currency(conn: Connection, vs_currency: str) -> None:
    """Record the quote currency on first use; refuse to mix currencies in one database."""
    try:
        with conn.transaction():
            conn.execute(queries.get("set_meta_if_absent"),
                         {"key": "vs_currency", "value": vs_currency})
            row = conn.execute(queries.get("get_meta"), {"key": "vs_currency"}).fetchone()
    except psycopg.Error as exc:
        raise translate(exc) from exc
    stored = str(row[0]) if row else vs_currency
    if stored != vs_currency:
        raise ConfigError(
            f"CRYPTOMONITOR_VS_CURRENCY={vs_currency} but this database holds prices in "
            f"{stored}; use {stored} or a new database"
        )
