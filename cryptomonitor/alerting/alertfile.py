"""The alerts file: complete lines appended with O_APPEND, written from the ``alerts`` table.

The table is an outbox. An event is committed with the ticks that raised it, with
``written_at`` NULL; `deliver` appends the lines of unwritten events in order, fsyncs, then
marks them written. A crash between the append and the mark would write a line twice on the
next delivery, so `recover` (run at start-up) first marks as written every unwritten event
whose ``alert_id`` is already in the file, and cuts off a last line left incomplete (its event
is still unwritten and is appended again whole).

The file is opened for each delivery, so a rotation by rename (logrotate without
copytruncate) starts a new file at the configured path, which ``tail -F`` follows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import re
from collections.abc import Iterator

import psycopg
import structlog
from psycopg.rows import class_row

from cryptomonitor.alerting import episodes, lineformat
from cryptomonitor.db import database, queries
from cryptomonitor.exceptions import ConfigError

log = structlog.get_logger(__name__)

RECOVERY_SCAN_BYTES = 4 * 1024 * 1024
#: An event's id in a line: ``id=`` and 12 hex digits (format 2), or a whole UUID (format 1).
_ALERT_ID = re.compile(rb"\b(?:id=([0-9a-f]{12})|alert_id=([0-9a-f]{8})-([0-9a-f]{4})-)")


@dataclasses.dataclass(frozen=True)
class AlertFile:
    path: pathlib.Path

    def check_writable(self) -> None:
        """Create the file (and its directory) if needed; ConfigError if it cannot be appended.

        It must be a regular file: lines are fsynced, and read back after a crash to find those
        already written, which a pipe, a terminal or /proc cannot do.
        """
        if self.path.exists() and not self.path.is_file():
            raise ConfigError(
                f"CRYPTOMONITOR_ALERTS_FILE: {self.path} is not a regular file; alert lines "
                "go to a file that can be read back after a crash (follow it with tail -F)"
            )
        if self.path.is_file() and self.path.resolve().is_relative_to("/proc"):
            raise ConfigError(f"CRYPTOMONITOR_ALERTS_FILE: {self.path} is under /proc")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        except OSError as exc:
            raise ConfigError(
                f"CRYPTOMONITOR_ALERTS_FILE: cannot append to {self.path}: {exc.strerror} "
                f"(this process runs as uid {os.getuid()}, gid {os.getgid()}; under docker "
                "compose, ./alerts must be writable by HOST_UID:HOST_GID from .env)"
            ) from exc

    def append(self, lines: list[str]) -> None:
        """Append each line with one write(2) and fsync; OSError if any write falls short."""
        if not lines:
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for line in lines:
                data = (line + "\n").encode("utf-8")
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)

    def repair_tail(self) -> int:
        """Cut off an incomplete last line; return how many bytes were removed."""
        try:
            with open(self.path, "rb+") as f:
                size = f.seek(0, os.SEEK_END)
                if size == 0:
                    return 0
                start = max(0, size - RECOVERY_SCAN_BYTES)
                f.seek(start)
                tail = f.read()
                if tail.endswith(b"\n"):
                    return 0
                cut = tail.rfind(b"\n")
                keep = start + cut + 1 if cut >= 0 else start
                f.truncate(keep)
                return size - keep
        except FileNotFoundError:
            return 0

    def recent_ids(self) -> set[str]:
        """The (short) alert ids in the last few MiB of the file, see `lineformat.short_id`."""
        try:
            with open(self.path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - RECOVERY_SCAN_BYTES))
                return {b"".join(m).decode() for m in _ALERT_ID.findall(f.read())}
        except FileNotFoundError:
            return set()


def _unwritten(conn: database.Connection, limit: int) -> list[episodes.Event]:
    try:
        with conn.cursor(row_factory=class_row(episodes.Event)) as cur:
            return cur.execute(queries.get("unwritten_alerts"), {"limit": limit}).fetchall()
    except psycopg.Error as exc:
        raise database.translate(exc) from exc


def _mark_written(conn: database.Connection, events: list[episodes.Event]) -> None:
    try:
        with conn.transaction():
            conn.execute(
                queries.get("mark_alerts_written"), {"alert_ids": [e.alert_id for e in events]}
            )
    except psycopg.Error as exc:
        raise database.translate(exc) from exc


@contextlib.contextmanager
def _outbox_lock(conn: database.Connection) -> Iterator[None]:
    """Held while alerts move from the outbox to a file: another process delivering at the
    same moment (a `demo` beside a running `run`) would read the same unwritten events."""
    try:
        conn.execute(queries.get("lock_outbox"))
    except psycopg.Error as exc:
        raise database.translate(exc) from exc
    try:
        yield
    finally:
        with contextlib.suppress(psycopg.Error):  # a lost connection has released it
            conn.execute(queries.get("unlock_outbox"))


def recover(conn: database.Connection, alert_file: AlertFile) -> int:
    """Reconcile the file with the outbox after a crash; return the events found already written."""
    with _outbox_lock(conn):
        return _recover(conn, alert_file)


def _recover(conn: database.Connection, alert_file: AlertFile) -> int:
    removed = alert_file.repair_tail()
    if removed:
        log.warning("alerts_file_partial_line_removed", path=str(alert_file.path), bytes=removed)
    pending = _unwritten(conn, limit=100_000)
    if not pending:
        return 0
    present = alert_file.recent_ids()
    already = [e for e in pending if lineformat.short_id(e.alert_id) in present]
    if already:
        _mark_written(conn, already)
        log.info(
            "alerts_recovered", already_written=len(already), to_write=len(pending) - len(already)
        )
    return len(already)


def deliver(conn: database.Connection, alert_file: AlertFile, batch: int = 1000) -> int:
    """Append every unwritten event to the file, oldest first; return how many were written."""
    with _outbox_lock(conn):
        return _deliver(conn, alert_file, batch)


def _deliver(conn: database.Connection, alert_file: AlertFile, batch: int) -> int:
    total = 0
    while events := _unwritten(conn, limit=batch):
        alert_file.append([lineformat.format_line(e) for e in events])
        _mark_written(conn, events)
        total += len(events)
        for e in events:
            log.info(
                "alert",
                alert_event=e.event,
                rule=e.rule,
                symbol=e.symbol,
                value=e.value,
                avg=e.window_avg,
                alert_id=str(e.alert_id),
            )
    return total
