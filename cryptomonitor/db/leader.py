"""One poller per job: a PostgreSQL session advisory lock decides which replica polls.

Every ``cryptomonitor run`` with the same source, quote currency and coins competes for one
lock, named after them (`lock_name`). The holder polls; the others stand by and try again
every poll interval. The lock belongs to a database session of its own, so it is released
when the holder's process dies (``kill -9`` included: the server sees the socket close) and a
standby takes over at its next attempt. A holder that is alive but cut off from the database
stops touching its session, which the server ends after ``idle_timeout`` (PostgreSQL's
``idle_session_timeout``: the HTTP deadline plus 3 poll intervals), freeing the lock.

While the database is unreachable nobody can take the lock, so a holder that loses its lock
session keeps polling (and buffering) as ``provisional`` leader, and tries to take the lock
back as soon as the database answers; if another replica got it first, it stands down.
Replicas with different coin lists hold different locks: they are different jobs (sharding).
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
import structlog

from cryptomonitor.db import database, queries
from cryptomonitor.exceptions import DatabaseUnavailable

log = structlog.get_logger(__name__)


def lock_name(source: str, vs_currency: str, coins: Sequence[str]) -> str:
    return f"cryptomonitor.run:{source}:{vs_currency}:{','.join(sorted(coins))}"


class Leadership:
    """Whether this process should poll now; `poll_allowed` is called once per poll slot."""

    def __init__(self, conninfo: str, name: str, idle_timeout: float = 90.0) -> None:
        self.name = name
        self._conninfo = conninfo
        self._idle_timeout_ms = max(1000, int(idle_timeout * 1000))
        self._conn: database.Connection | None = None
        self.state = "standby"  # "leader", "provisional" (lock session lost) or "standby"
        self._announced = False

    def poll_allowed(self) -> bool:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = database.connect(self._conninfo, connect_timeout=5)
                # A holder cut off from the database (partition, frozen host) stops touching
                # its session: the server ends the session, and frees the lock, after this.
                self._conn.execute(
                    queries.get("leader_session_timeout"), {"ms": str(self._idle_timeout_ms)}
                )
            if self.state == "leader":
                # The session, and with it the lock, is alive.
                self._conn.execute(queries.get("leader_alive"))
                return True
            row = self._conn.execute(queries.get("leader_try_lock"), {"name": self.name}).fetchone()
        except (psycopg.Error, DatabaseUnavailable) as exc:
            self.close()
            if self.state == "leader":
                self.state = "provisional"
                log.warning(
                    "leader_lock_lost",
                    lock=self.name,
                    error=str(exc),
                    action="keep polling until the database answers",
                )
            return self.state == "provisional"
        if row is not None and row[0]:
            log.info("leader_acquired", lock=self.name, previous_state=self.state)
            self.state = "leader"
        elif self.state != "standby" or not self._announced:
            log.warning(
                "leader_standby",
                lock=self.name,
                previous_state=self.state,
                reason="another replica holds the lock",
            )
            self.state = "standby"
        self._announced = True
        return self.state == "leader"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
