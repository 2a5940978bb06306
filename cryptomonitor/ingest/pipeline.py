"""Ticks in, rows and alert lines out: a buffer in front of the database.

Sources hand ticks to `Pipeline.submit`; `Pipeline.flush` writes what is buffered in batches
(`cryptomonitor.ingest.writer`), then appends the resulting alert lines to the alerts file. Two
buffers:

- `cryptomonitor.ingest.spool.Spool` (``run``): every poll's ticks are on disk, fsynced, before
  `submit` returns, and leave the spool only once committed: a crash during an outage loses
  nothing; bounded in bytes, the oldest dropped, counted and logged past the bound;
- `MemoryBuffer` (replays, the demo, a run with the spool off): in memory, up to
  ``buffer_max_ticks``; past it the OLDEST are dropped, counted and logged.

Nothing is dropped silently: ticks a buffer could not take either (`Pipeline.drop`).

The pipeline is built whole by its caller (`cryptomonitor.commands.startup`): its database, its
`BatchWriter` (which holds the alert engine), its alerts file and buffer, and how it writes
lines. With `lines_first` (``run``), a batch's alert lines do not wait for the whole batch: the
writer commits the ticks that raised events first and the pipeline writes their lines (and
calls `on_events`, which wakes the receivers' threads) before the rest is written. Without an
alerts file (``backfill``, which raises no alert) the pipeline writes no line: events in the
outbox wait there for a process that owns the file.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import structlog

from cryptomonitor.alerting import alertfile
from cryptomonitor.db import database
from cryptomonitor.exceptions import DatabaseError, DatabaseUnavailable
from cryptomonitor.ingest.spool import Spool
from cryptomonitor.ingest.writer import BatchWriter
from cryptomonitor.models import Tick

log = structlog.get_logger(__name__)


class Buffer(Protocol):
    """Ticks waiting for the database, oldest first."""

    dropped: int  # ticks dropped past the bound, since start

    @property
    def pending(self) -> int: ...

    def append(self, ticks: Sequence[Tick]) -> None: ...

    def peek(self, max_ticks: int) -> tuple[list[Tick], int]: ...

    def commit(self, token: int) -> None: ...


class MemoryBuffer:
    """Ticks in memory, at most `max_ticks`: past it the oldest are dropped and counted."""

    def __init__(self, max_ticks: int) -> None:
        self.max_ticks = max_ticks
        self.dropped = 0
        self._ticks: collections.deque[Tick] = collections.deque()

    @property
    def pending(self) -> int:
        return len(self._ticks)

    def append(self, ticks: Sequence[Tick]) -> None:
        self._ticks.extend(ticks)
        overflow = len(self._ticks) - self.max_ticks
        if overflow > 0:
            for _ in range(overflow):
                self._ticks.popleft()
            self.dropped += overflow
            log.error(
                "buffer_overflow_dropped_oldest",
                dropped=overflow,
                dropped_total=self.dropped,
                bound=self.max_ticks,
            )

    def peek(self, max_ticks: int) -> tuple[list[Tick], int]:
        batch = list(itertools.islice(self._ticks, max_ticks))
        return batch, len(batch)

    def commit(self, token: int) -> None:
        for _ in range(token):
            self._ticks.popleft()


@dataclasses.dataclass
class FlushResult:
    new: int = 0
    duplicates: int = 0
    events: int = 0
    fast_batches: int = 0  # batches that took the fast path (see cryptomonitor.ingest.writer)
    lines_written: int = 0
    buffered: int = 0
    database_ok: bool = True


class Pipeline:
    """Ticks in through `submit`, stored (with their alerts raised and their lines written) by
    `flush`. Built whole: nothing is set after the constructor.

    `writer` writes the batches and judges them (its engine holds the rules); `alert_file`
    receives the alert lines (None: no line is written, see the module's docstring); `spool`
    buffers on disk, else a `MemoryBuffer` of `buffer_max_ticks`; `lines_first` writes a
    batch's lines as soon as the ticks that raised them are committed, and calls `on_events`
    then (without it, a flush's lines are written at its end)."""

    def __init__(
        self,
        db: database.Database,
        writer: BatchWriter,
        alert_file: alertfile.AlertFile | None,
        *,
        buffer_max_ticks: int = 100_000,
        batch_size: int = 5000,
        spool: Spool | None = None,
        lines_first: bool = False,
        on_events: Callable[[], object] | None = None,
    ) -> None:
        self.db = db
        self.writer = writer
        self.alert_file = alert_file
        self.batch_size = batch_size
        self.spool = spool
        self.buffer: Buffer = spool if spool is not None else MemoryBuffer(buffer_max_ticks)
        self.rejected_by_database = 0
        if lines_first and alert_file is None:
            raise ValueError("lines_first: the lines need an alerts file")
        self.lines_first = lines_first
        self.on_events = on_events
        self._lines_written = 0
        # Alerts may wait in the outbox: at start (a crash, another process), after a failed
        # delivery. Otherwise only this pipeline's own new events need delivering, unless
        # `_lines` already wrote them (`_delivered_early`, per batch).
        self._undelivered = True
        self._delivered_early = False

    @property
    def buffered(self) -> int:
        return self.buffer.pending

    @property
    def dropped(self) -> int:
        return self.buffer.dropped

    def submit(self, ticks: Iterable[Tick]) -> None:
        """Queue ticks for the next flush (with a spool: on disk when this returns; OSError
        if the disk refuses them, and they are not queued)."""
        batch = ticks if isinstance(ticks, list) else list(ticks)
        self.buffer.append(batch)

    def drop(self, ticks: Sequence[Tick], event: str, **context: object) -> None:
        """Count `ticks` as dropped, never to be stored (`dropped`, and the metrics from it),
        and log `event` with their number and `context`: ticks the buffer refused (a spool's
        disk full or read-only) are not lost silently either."""
        self.buffer.dropped += len(ticks)
        log.error(event, ticks_dropped=len(ticks), **context)

    def close(self) -> None:
        self.db.close()
        if self.spool is not None:
            self.spool.close()

    def store_history(self, ticks: Sequence[Tick]) -> FlushResult:
        """Store backfilled ticks after what is buffered, in batches, raising no alert; not
        spooled (their source keeps them). Raises DatabaseUnavailable on an outage."""
        if not self.flush().database_ok:
            raise DatabaseUnavailable("database unavailable during a backfill")
        result = FlushResult()  # the history's own figures
        conn = self.db.connection()
        for i in range(0, len(ticks), self.batch_size):
            try:
                written = self.writer.write(conn, ticks[i : i + self.batch_size], judge=False)
            except DatabaseUnavailable:
                self.db.reset()
                raise
            result.new += written.new
            result.duplicates += written.duplicates
        return result

    def flush(self) -> FlushResult:
        """Write the buffer and deliver alert lines. A database outage leaves the rest buffered."""
        result = FlushResult()
        try:
            conn = self.db.connection()
            while self.buffer.pending:
                batch, token = self.buffer.peek(self.batch_size)
                self._delivered_early = False
                try:
                    written = self.writer.write(
                        conn, batch, lines=self._lines if self.lines_first else None
                    )
                except DatabaseUnavailable:
                    raise
                except DatabaseError as exc:
                    # Validation keeps bad values out, so this is a bug or a schema mismatch:
                    # keep going with the next batch rather than retry a poison batch forever.
                    self.rejected_by_database += len(batch)
                    log.error(
                        "batch_rejected_by_database",
                        ticks=len(batch),
                        error=str(exc),
                        first=str(batch[0]),
                    )
                else:
                    result.new += written.new
                    result.duplicates += written.duplicates
                    result.events += written.events
                    result.fast_batches += written.fast_path
                    if written.events and not self._delivered_early:
                        self._undelivered = True
                self.buffer.commit(token)
            # Else the outbox query finds nothing; without a file, the lines wait for its owner.
            if self._undelivered and self.alert_file is not None:
                self._lines_written += alertfile.deliver(conn, self.alert_file)
                self._undelivered = False
        except DatabaseUnavailable as exc:
            self.db.reset()
            result.database_ok = False
            log.warning("database_unavailable", error=str(exc), buffered=self.buffer.pending)
        except OSError as exc:
            # The events stay unwritten in the alerts table and are delivered on a later flush.
            path = self.alert_file.path if self.alert_file is not None else None
            log.error("alerts_file_write_failed", path=str(path), error=str(exc))
        result.lines_written, self._lines_written = self._lines_written, 0
        result.buffered = self.buffer.pending
        return result

    def _lines(self) -> None:
        """A batch's first part, with events, is committed: write their lines now (the rest
        of the batch has none: the flush need not ask the outbox again). A file that refuses
        them is logged; the events wait in the outbox for the end of the flush."""
        assert self.alert_file is not None  # `lines_first` needs one
        self._undelivered = True  # until delivered (a database error leaves it so)
        if self.on_events is not None:
            self.on_events()
        try:
            self._lines_written += alertfile.deliver(self.db.connection(), self.alert_file)
        except OSError as exc:
            log.error("alerts_file_write_failed", path=str(self.alert_file.path), error=str(exc))
        else:
            self._undelivered = False  # deliver() writes every unwritten event, not only these
            self._delivered_early = True
