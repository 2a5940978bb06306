"""Delivery from the outbox to the receivers: at least once, per receiver, in order.

One thread per receiver, each with its own database connection, so a receiver that is down or
slow never holds up ingestion, the alerts file, or the other receivers. A thread takes the
events its receiver has not had (``sql/app/delivery.sql``: ``due_events``), oldest first;
those its route does not take are recorded ``skipped``; the rest are sent in batches and
recorded ``delivered``, or ``failing`` with the error, after which the thread waits (jittered
exponential backoff, 1 s doubling to `MAX_BACKOFF`) and tries the oldest again: a restart
resumes where delivery stopped, since the state is in the database. Every payload carries the
event's ``alert_id``, the idempotency key: a crash between a send and its record sends it
again. With replicas, one process delivers to each receiver at a time (an advisory lock), so
each event reaches each receiver once in the normal case. A receiver failing for longer than
`FAILING_AFTER` is logged as ``receiver_failing`` (and in /health and the metrics).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence

import psycopg
import structlog
from psycopg.rows import class_row

from cryptomonitor import metrics
from cryptomonitor.alerting import episodes, lineformat
from cryptomonitor.alerting.receivers.base import Receiver
from cryptomonitor.alerting.receivers.settings import describe
from cryptomonitor.db import database, queries
from cryptomonitor.exceptions import DatabaseError, DeliveryError

log = structlog.get_logger(__name__)

MAX_BACKOFF = 300.0
FAILING_AFTER = 300.0  # seconds of failures before `receiver_failing`
IDLE_WAIT = 1.0  # between looks at the outbox when nobody wakes the thread
DUE_LIMIT = 500
SETTLE_EVERY = 60.0  # seconds between moves of the receiver's starting point
SETTLE_AFTER = 300.0  # events younger than this are not passed over (open transactions)


class Delivery(threading.Thread):
    """Delivers the outbox to one receiver until `stop` is set."""

    def __init__(self, receiver: Receiver, conninfo: str, stop: threading.Event) -> None:
        super().__init__(name=f"delivery-{receiver.name}", daemon=True)
        self.receiver = receiver
        self.db = database.Database(conninfo)
        self.stop = stop
        self.wake = threading.Event()  # set when new events were committed
        self.failures = 0
        self.failing_since: float | None = None
        self.reported = False
        self.settled_at = 0.0

    def run(self) -> None:
        locked = False
        while not self.stop.is_set():
            try:
                if not locked:
                    locked = self._take_lock()
                    if not locked:
                        self._sleep(5.0)
                        continue
                if not self._deliver_due():
                    self._settle()
                    self._wait()
            except (psycopg.Error, DatabaseError) as exc:
                log.warning("delivery_database_error", receiver=self.receiver.name, error=str(exc))
                self.db.reset()
                locked = False
                self._sleep(2.0)
            except Exception:  # a bug, or a receiver's library failing its own way
                log.exception("delivery_crashed", receiver=self.receiver.name)
                self.db.reset()
                locked = False
                self._sleep(10.0)
        self.db.close()

    def _settle(self) -> None:
        """Now and then, move the receiver's starting point past what it has settled: its
        queries then walk only the recent outbox, however long the table grows."""
        if time.monotonic() - self.settled_at < SETTLE_EVERY:
            return
        self.db.connection().execute(
            queries.get("settle_receiver"), {"name": self.receiver.name, "settle": SETTLE_AFTER}
        )
        self.settled_at = time.monotonic()

    def _sleep(self, seconds: float) -> None:
        self.stop.wait(seconds)

    def _wait(self) -> None:
        """Until woken (new events) or IDLE_WAIT, whichever comes first."""
        self.wake.wait(IDLE_WAIT)
        self.wake.clear()

    def _take_lock(self) -> bool:
        conn = self.db.connection()
        register(conn, [self.receiver])
        row = conn.execute(queries.get("lock_receiver"), {"name": self.receiver.name}).fetchone()
        if row and row[0]:
            log.info("delivery_started", receiver=self.receiver.name, to=describe(self.receiver))
            return True
        return False

    def _due(self) -> list[episodes.Event]:
        conn = self.db.connection()
        with conn.cursor(row_factory=class_row(episodes.Event)) as cur:
            return cur.execute(
                queries.get("due_events"), {"name": self.receiver.name, "limit": DUE_LIMIT}
            ).fetchall()

    def _record(
        self,
        events: Sequence[episodes.Event],
        status: str,
        error: str | None = None,
        retry_in: float | None = None,
    ) -> None:
        if not events:
            return
        self.db.connection().execute(
            queries.get("record_deliveries"),
            {
                "name": self.receiver.name,
                "alert_ids": [e.alert_id for e in events],
                "status": status,
                "retry_in": retry_in,
                "error": error,
            },
        )
        metrics.DELIVERIES.labels(self.receiver.name, status).inc(len(events))

    def _deliver_due(self) -> bool:
        """Send what is due; True if there may be more right away."""
        due = self._due()
        if not due:
            metrics.RECEIVER_PENDING.labels(self.receiver.name).set(0)
            return False
        metrics.RECEIVER_PENDING.labels(self.receiver.name).set(len(due))
        route = self.receiver.route
        self._record([e for e in due if not route.takes(e)], "skipped")
        taken = [e for e in due if route.takes(e)]
        for i in range(0, len(taken), self.receiver.batch):
            batch = taken[i : i + self.receiver.batch]
            started = time.monotonic()
            try:
                self.receiver.send(batch)
            except DeliveryError as exc:
                self._record(batch[: exc.sent], "delivered")  # those it took before failing
                self._failed(batch[exc.sent :], str(exc))
                return False
            metrics.DELIVERY_SECONDS.labels(self.receiver.name).observe(time.monotonic() - started)
            self._record(batch, "delivered")
            log.info(
                "delivered",
                receiver=self.receiver.name,
                events=len(batch),
                first=lineformat.short_id(batch[0].alert_id),
            )
            if self.failures:
                log.info(
                    "receiver_recovered", receiver=self.receiver.name, after_failures=self.failures
                )
            self.failures, self.failing_since, self.reported = 0, None, False
        return len(due) == DUE_LIMIT

    def _failed(self, batch: Sequence[episodes.Event], error: str) -> None:
        self.failures += 1
        delay = min(MAX_BACKOFF, 2.0 ** (self.failures - 1)) * random.uniform(0.5, 1.5)
        self._record(batch, "failing", error[:500], retry_in=delay)
        self.failing_since = self.failing_since or time.monotonic()
        log.warning(
            "delivery_failed",
            receiver=self.receiver.name,
            events=len(batch),
            attempt=self.failures,
            retry_in_s=round(delay, 1),
            error=error[:300],
        )
        if not self.reported and time.monotonic() - self.failing_since > FAILING_AFTER:
            self.reported = True
            log.error(
                "receiver_failing",
                receiver=self.receiver.name,
                failing_for_s=round(time.monotonic() - self.failing_since),
                error=error[:300],
            )
        self._sleep(delay)


def register(conn: database.Connection, receivers: Sequence[Receiver]) -> None:
    """Make `receivers` known: each gets every event raised from now on (at its first
    registration; later ones change nothing), delivered by `run`."""
    for receiver in receivers:
        conn.execute(
            queries.get("register_receiver"), {"name": receiver.name, "kind": receiver.kind}
        )


def start(receivers: Sequence[Receiver], conninfo: str, stop: threading.Event) -> list[Delivery]:
    threads = [Delivery(r, conninfo, stop) for r in receivers]
    for t in threads:
        t.start()
    return threads


def wake(threads: Sequence[Delivery]) -> None:
    """New events are committed: look now rather than at the next idle tick."""
    for t in threads:
        t.wake.set()
