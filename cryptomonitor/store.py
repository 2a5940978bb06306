"""The database side of ingestion: connections, idempotent tick inserts, alert evaluation.

`write_ticks` stores a batch and evaluates the alert rules for its new ticks in ONE
transaction: either the ticks and the alert events they raise are committed together, or
neither is. Driver errors are translated here: `DatabaseUnavailable` for what may succeed
later (connection lost, server shutting down), `DatabaseError` for what will not.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

import psycopg
import structlog

from cryptomonitor import alerts, failpoints, queries
from cryptomonitor.exceptions import ConfigError, DatabaseError, DatabaseUnavailable
from cryptomonitor.models import Tick
from cryptomonitor.rules import Rule

log = structlog.get_logger(__name__)

Connection = psycopg.Connection[tuple[Any, ...]]


def translate(exc: psycopg.Error) -> DatabaseError:
    """The CryptoMonitor error for a driver error: retryable or not."""
    if isinstance(exc, psycopg.OperationalError | psycopg.errors.AdminShutdown):
        return DatabaseUnavailable(f"database unavailable: {exc}".strip())
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


def write_ticks(conn: Connection, ticks: Sequence[Tick], rules: Sequence[Rule],
                repeat_interval: float) -> WriteResult:
    """Store `ticks` (skipping those already stored) and raise the alert events of the new ones."""
    if not ticks:
        return WriteResult(0, 0, 0)
    try:
        with conn.transaction():
            inserted = conn.execute(queries.get("insert_ticks"), {
                "times": [t.time for t in ticks],
                "symbols": [t.symbol for t in ticks],
                "prices": [t.price for t in ticks],
                "volumes": [t.volume_24h for t in ticks],
                "sources": [t.source for t in ticks],
            }).fetchall()
            failpoints.hit("batch_inserted")
            keys = {(str(symbol), time) for symbol, time in inserted}
            new = []
            for t in ticks:  # a batch may hold one (symbol, time) twice: the first one counts
                if (t.symbol, t.time) in keys:
                    keys.discard((t.symbol, t.time))
                    new.append(t)
            new.sort(key=lambda t: (t.time, t.symbol))
            events = evaluate(conn, new, rules, repeat_interval) if rules else []
    except psycopg.Error as exc:
        raise translate(exc) from exc
    failpoints.hit("batch_committed")
    return WriteResult(len(new), len(ticks) - len(new), len(events))


def evaluate(conn: Connection, ticks: Sequence[Tick], rules: Sequence[Rule],
             repeat_interval: float) -> list[alerts.Event]:
    """Run every rule over `ticks` (stored already, oldest first); store states and events."""
    if not ticks:
        return []
    windows = sorted({r.window for r in rules})
    stats = {
        (str(symbol), time, float(seconds)): (p_avg, int(p_n), v_avg, int(v_n))
        for symbol, time, seconds, p_avg, p_n, v_avg, v_n in conn.execute(
            queries.get("window_stats"),
            {"symbols": [t.symbol for t in ticks], "times": [t.time for t in ticks],
             "windows": windows},
        )
    }
    states: dict[tuple[str, str], alerts.State | None] = {
        (str(rule), str(symbol)): alerts.State(bool(firing), episode, notified, evaluated)
        for rule, symbol, firing, episode, notified, evaluated in conn.execute(
            queries.get("lock_alert_states"), {"symbols": sorted({t.symbol for t in ticks})}
        )
    }
    events: list[alerts.Event] = []
    changed: set[tuple[str, str]] = set()
    for tick, rule in itertools.product(ticks, rules):
        p_avg, p_n, v_avg, v_n = stats[(tick.symbol, tick.time, rule.window)]
        value, avg, samples = (
            (tick.price, p_avg, p_n) if rule.metric == "price" else (tick.volume_24h, v_avg, v_n)
        )
        key = (rule.name, tick.symbol)
        before = states.get(key)
        after, event = alerts.step(rule, tick.symbol, tick.time, value, avg, samples, before,
                                   repeat_interval)
        if after is not before:
            states[key] = after
            changed.add(key)
        if event is not None:
            events.append(event)
    with conn.cursor() as cur:
        cur.executemany(queries.get("save_alert_state"), [
            {"rule": r, "symbol": s, "firing": st.firing, "episode_id": st.episode_id,
             "last_notified": st.last_notified, "last_evaluated": st.last_evaluated}
            for (r, s), st in ((k, states[k]) for k in sorted(changed)) if st is not None
        ])
        if events:
            cur.executemany(queries.get("insert_alert"), [dataclasses.asdict(e) for e in events])
    return events


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
