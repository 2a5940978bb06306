"""The ingest repository: every SQL statement of a batch of ticks, and nothing else.

The batch writer (`cryptomonitor.ingest.writer`) decides what to run; this module knows how: the
statements are in ``sql/app/ingest.sql``, the binary COPY encoding in `copybinary`. Driver
errors pass through (the writer translates them); a duplicate that fails the fast path's COPY
is reported as `AlreadyStored`. Rows reach the alert cache by column name (``class_row``):
`cache.Recent` (a symbol's recent ticks) and `episodes.State` (a row of ``alert_state``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import TypeVar

import psycopg
from psycopg.rows import class_row

from cryptomonitor.alerting import cache, episodes
from cryptomonitor.db import queries
from cryptomonitor.db.database import Connection
from cryptomonitor.exceptions import AlreadyStored
from cryptomonitor.ingest import copybinary
from cryptomonitor.models import Tick

T = TypeVar("T")

#: Ticks per block of the fast path's COPY (~16 KiB).
COPY_BLOCK = 250

_EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(episodes.Event))

#: Connections on which the session's staging table exists (see queries: create_tick_batch).
_staged: weakref.WeakSet[Connection] = weakref.WeakSet()


class IngestRepository:
    """The statements of one batch, on one connection (inside the writer's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def prepare_session(self) -> None:
        """Create the session's staging table, outside any transaction (a rollback must not
        undo it); once per connection."""
        if self.conn not in _staged:
            self.conn.execute(queries.get("create_tick_batch"))
            _staged.add(self.conn)

    def append(self, ticks: Sequence[Tick], meanwhile: Callable[[], T]) -> T:
        """The fast path: one binary COPY straight into ``ticks``, all sent first; the server
        inserts it while this process runs `meanwhile` (the alert check: two cores at once).
        A duplicate fails the COPY: `AlreadyStored` (the transaction must be rolled back)."""
        try:
            with self.conn.cursor() as cur, cur.copy(queries.get("copy_ticks")) as copy:
                for block in copybinary.blocks(ticks, COPY_BLOCK):
                    copy.write(block)
                return meanwhile()
        except psycopg.errors.UniqueViolation as exc:
            raise AlreadyStored({t.symbol for t in ticks}) from exc

    def stage(self, ticks: Sequence[Tick], known: Sequence[dt.datetime | None] | None) -> None:
        """COPY the batch into the session's staging table with, per tick, the newest tick of
        its symbol the writer's cache holds (`known`). Binary COPY into a temporary table then
        one INSERT ... SELECT: several times faster than binding Python lists as arrays."""
        with self.conn.cursor() as cur, cur.copy(queries.get("copy_tick_batch")) as copy:
            for i, t in enumerate(ticks):
                copy.write_row(
                    (
                        t.time,
                        t.symbol,
                        t.price,
                        t.volume_24h,
                        t.source,
                        known[i] if known is not None else None,
                        t.volume,
                    )
                )

    def touched_by_others(self) -> set[str]:
        """Symbols of the staged batch with a tick stored after the newest the cache knows
        and before the batch's own: stored by another writer."""
        return {str(row[0]) for row in self.conn.execute(queries.get("ticks_between"))}

    def window_ticks(self, symbols: list[str], since: dt.datetime) -> Iterator[cache.Recent]:
        """The ticks since `since` of `symbols`, a row per symbol, for the alert windows."""
        with self.conn.cursor(row_factory=class_row(cache.Recent)) as cur:
            yield from cur.execute(
                queries.get("window_ticks"), {"symbols": symbols, "since": since}, binary=True
            )

    def window_closes(
        self, symbols: list[str], interval: int, count: int
    ) -> Iterator[cache.Closes]:
        """The closes of the last `count` stored candles of `interval` microseconds of
        `symbols`, a row per symbol, for the indicator rules."""
        with self.conn.cursor(row_factory=class_row(cache.Closes)) as cur:
            yield from cur.execute(
                queries.get("window_closes"),
                {"symbols": symbols, "interval": interval, "count": count},
                binary=True,
            )

    def alert_states(self, symbols: list[str]) -> list[episodes.State]:
        """The stored alert states of `symbols` (those that ever fired)."""
        with self.conn.cursor(row_factory=class_row(episodes.State)) as cur:
            return cur.execute(queries.get("alert_states"), {"symbols": symbols}).fetchall()

    def insert_staged(self) -> set[tuple[str, dt.datetime]]:
        """Insert the staged ticks not stored yet; their (symbol, time)."""
        rows = self.conn.execute(queries.get("insert_tick_batch")).fetchall()
        return {(str(symbol), time) for symbol, time in rows}

    def reset_alert_states(self, rules: list[str]) -> None:
        """Start the alert states of `rules` afresh (a reload of the rules file changed them)."""
        self.conn.execute(queries.get("reset_alert_states"), {"rules": rules})

    def save(self, states: Collection[episodes.State], events: Sequence[episodes.Event]) -> None:
        """Store the alert states that changed and the events raised."""
        if states:
            self.conn.execute(
                queries.get("save_alert_states"),
                {
                    "rules": [st.rule for st in states],
                    "symbols": [st.symbol for st in states],
                    "firing": [st.firing for st in states],
                    "episodes": [st.episode_id for st in states],
                    "notified": [st.last_notified for st in states],
                    "changed": [st.last_changed for st in states],
                    "pending": [st.pending_since for st in states],
                    "resolved": [st.resolved_at for st in states],
                    "done": [st.done for st in states],
                },
            )
        if events:
            columns = {f: [getattr(e, f) for e in events] for f in _EVENT_FIELDS}
            columns["figures"] = [json.dumps(dict(e.figures), allow_nan=False) for e in events]
            self.conn.execute(queries.get("insert_alerts"), columns)

    def announce(self, payloads: list[str]) -> None:
        """Tell other writers which symbols got ticks (sent at commit)."""
        if payloads:
            self.conn.execute(queries.get("announce_ticks_changed"), {"payloads": payloads})
