"""Crash points for the crash-safety tests: ``kill -9`` of this process at a named place.

A test sets ``CMTEST_FAILPOINT=<name>`` (die at the first hit) or ``<name>:<n>`` (at the n-th
hit) in the environment of a ``cryptomonitor`` process; when the code reaches `hit` with that
name the process sends itself SIGKILL, exactly as an operator's ``kill -9`` or the kernel's OOM
killer would: no ``finally``, no flush, no atexit. Without the variable `hit` costs a
comparison. The names are the places where a crash could lose or duplicate something:

``batch_inserted``        ticks inserted, transaction not yet committed (during a batch)
``batch_committed``       ticks and alert events committed, no alert line written yet
``alert_line_partial``    half of an alert line written to the file
``alert_lines_appended``  alert lines written and fsynced, not yet marked written
"""

from __future__ import annotations

import os
import signal

ENV = "CMTEST_FAILPOINT"
NAMES = ("batch_inserted", "batch_committed", "alert_line_partial", "alert_lines_appended")


def _parse(value: str) -> tuple[str, int] | None:
    if not value:
        return None
    name, _, nth = value.partition(":")
    if name not in NAMES:
        raise ValueError(f"{ENV}={value}: unknown crash point {name!r}; known: {', '.join(NAMES)}")
    return name, int(nth) if nth else 1


_armed = _parse(os.environ.get(ENV, ""))
_hits = 0


def armed(name: str) -> bool:
    """True when this hit of `name` is the one to crash at (counts the hit)."""
    global _hits
    if _armed is None or _armed[0] != name:
        return False
    _hits += 1
    return _hits == _armed[1]


def crash() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def hit(name: str) -> None:
    """SIGKILL this process if `name` is the armed crash point (see the module docstring)."""
    if armed(name):
        crash()
