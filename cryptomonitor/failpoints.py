"""Crash points for the crash-safety tests: ``kill -9`` of this process at a named place.

A test sets ``CMTEST_FAILPOINT=<name>`` (die at the first hit) or ``<name>:<n>`` (at the n-th
hit) in the environment of a ``python -m cryptomonitor`` process. At start `install` wraps the
one method after which that point lies; when the wrapper is reached the process sends itself
SIGKILL, exactly as an operator's ``kill -9`` or the kernel's OOM killer would: no
``finally``, no flush, no atexit. The production code holds no trace of them, and without the
variable nothing is wrapped. The names are the places where a crash could lose or duplicate
something:

``batch_inserted``        ticks inserted, transaction not yet committed (during a batch)
``batch_committed``       ticks and alert events committed, no alert line written yet
``alert_line_partial``    half of an alert line written to the file
``alert_lines_appended``  alert lines written and fsynced, not yet marked written
"""

from __future__ import annotations

import functools
import itertools
import os
import signal
from collections.abc import Callable
from typing import Any

ENV = "CMTEST_FAILPOINT"
NAMES = ("batch_inserted", "batch_committed", "alert_line_partial", "alert_lines_appended")


def parse(value: str) -> tuple[str, int] | None:
    """(name, n) from the variable's value; None if empty."""
    if not value:
        return None
    name, _, nth = value.partition(":")
    if name not in NAMES:
        raise ValueError(f"{ENV}={value}: unknown crash point {name!r}; known: {', '.join(NAMES)}")
    return name, int(nth) if nth else 1


def crash() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(value: str | None = None) -> None:
    """Arm the crash point named by `value` (default: the environment's ``CMTEST_FAILPOINT``)."""
    armed = parse(os.environ.get(ENV, "") if value is None else value)
    if armed is None:
        return
    from cryptomonitor.alerting import alertfile
    from cryptomonitor.ingest import repository, writer

    name, nth = armed
    hits = itertools.count(1)

    def due() -> bool:
        return next(hits) == nth

    if name == "batch_inserted":  # both paths: inside the transaction, before the save
        _crash_after(repository.IngestRepository, "insert_staged", due)
        _crash_after(repository.IngestRepository, "append", due)
    elif name == "batch_committed":
        _crash_after(writer.BatchWriter, "write", due)
    elif name == "alert_lines_appended":  # appended and fsynced; the outbox not yet told
        _crash_after(alertfile.AlertFile, "append", due)
    else:  # alert_line_partial: every line is a hit
        whole = alertfile.AlertFile.append

        def append(self: alertfile.AlertFile, lines: list[str]) -> None:
            for i, line in enumerate(lines):
                if due():
                    whole(self, lines[:i])
                    data = (line + "\n").encode("utf-8")
                    with open(self.path, "ab") as f:
                        f.write(data[: len(data) // 2])
                    crash()
            whole(self, lines)

        alertfile.AlertFile.append = append  # type: ignore[method-assign]


def _crash_after(cls: type, method: str, due: Callable[[], bool]) -> None:
    original = getattr(cls, method)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if due():
            crash()
        return result

    setattr(cls, method, wrapper)
