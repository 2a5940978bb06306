"""Ticks in, rows and alert lines out: a bounded buffer in front of the database.

Sources hand ticks to `Pipeline.submit`; `Pipeline.flush` writes the buffer in batches, then
appends the resulting alert lines to the alerts file. While the database is unreachable the
ticks wait in memory, up to ``buffer_max_ticks``; past it the OLDEST are dropped, counted and
logged. Nothing is dropped silently.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
from collections.abc import Iterable, Sequence

import structlog

from cryptomonitor import alertfile, database
from cryptomonitor.exceptions import DatabaseError, DatabaseUnavailable
from cryptomonitor.models import Tick
from cryptomonitor.rules import Rule
from cryptomonitor.writer import BatchWriter

log = structlog.get_logger(__name__)


@dataclasses.dataclass
class FlushResult:
    new: int = 0
    duplicates: int = 0
    events: int = 0
    fast_batches: int = 0  # batches that took the fast path (see cryptomonitor.writer)
    lines_written: int = 0
    buffered: int = 0
    database_ok: bool = True


class Pipeline:
    def __init__(self, db: database.Database, alert_file: alertfile.AlertFile,
                 rules: Sequence[Rule], repeat_interval: float,
                 buffer_max_ticks: int = 100_000, batch_size: int = 5000) -> None:
        self.db = db
        self.alert_file = alert_file
        self.writer = BatchWriter(rules, repeat_interval)
        self.buffer_max_ticks = buffer_max_ticks
        self.batch_size = batch_size
        self._buffer: collections.deque[Tick] = collections.deque()
        self.dropped = 0
        self.rejected_by_database = 0
        # Alerts may wait in the outbox: at start (a crash, another process), after a failed
        # delivery. Otherwise only this pipeline's own new events need delivering.
        self._undelivered = True

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def submit(self, ticks: Iterable[Tick]) -> None:
        """Queue ticks for the next flush; drop (and count) the oldest beyond the bound."""
        self._buffer.extend(ticks)
        overflow = len(self._buffer) - self.buffer_max_ticks
        if overflow > 0:
            for _ in range(overflow):
                self._buffer.popleft()
            self.dropped += overflow
            log.error("buffer_overflow_dropped_oldest", dropped=overflow,
                      dropped_total=self.dropped, bound=self.buffer_max_ticks)

    def flush(self) -> FlushResult:
        """Write the buffer and deliver alert lines. A database outage leaves the rest buffered."""
        result = FlushResult()
        try:
            conn = self.db.connection()
            while self._buffer:
                batch = list(itertools.islice(self._buffer, self.batch_size))
                try:
                    written = self.writer.write(conn, batch)
                except DatabaseUnavailable:
                    raise
                except DatabaseError as exc:
                    # Validation keeps bad values out, so this is a bug or a schema mismatch:
                    # keep going with the next batch rather than retry a poison batch forever.
                    self.rejected_by_database += len(batch)
                    log.error("batch_rejected_by_database", ticks=len(batch), error=str(exc),
                              first=str(batch[0]))
                else:
                    result.new += written.new
                    result.duplicates += written.duplicates
                    result.events += written.events
                    result.fast_batches += written.fast_path
                for _ in batch:
                    self._buffer.popleft()
            if result.events or self._undelivered:  # else the outbox query finds nothing
                self._undelivered = True
                result.lines_written = alertfile.deliver(conn, self.alert_file)
                self._undelivered = False
        except DatabaseUnavailable as exc:
            self.db.reset()
            result.database_ok = False
            log.warning("database_unavailable", error=str(exc), buffered=len(self._buffer))
        except OSError as exc:
            # The events stay unwritten in the alerts table and are delivered on a later flush.
            log.error("alerts_file_write_failed", path=str(self.alert_file.path), error=str(exc))
        result.buffered = len(self._buffer)
        return result
