"""Time conversions, one home for them: epoch microseconds, ISO 8601 in and out.

Every time in CryptoMonitor is an aware UTC `datetime`; these are the exact conversions the
windows, the spool, the binary COPY and the alert lines share.
"""

from __future__ import annotations

import datetime as dt

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: PostgreSQL's timestamps count from here (the binary COPY format).
POSTGRES_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
MICROSECOND = dt.timedelta(microseconds=1)
MICROS_PER_SECOND = 1_000_000
#: The first and last times a `datetime` can hold, in UTC.
EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)
LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)


def micros(time: dt.datetime) -> int:
    """Exact integer microseconds since the Unix epoch."""
    return (time - EPOCH) // MICROSECOND


def from_micros(us: int) -> dt.datetime:
    """The UTC time `us` microseconds after the Unix epoch (exact)."""
    return EPOCH + dt.timedelta(microseconds=us)


def read_iso(text: str) -> dt.datetime:
    """The time an ISO 8601 text names (``Z`` allowed) as written: naive if it names no zone,
    for a caller that refuses such a time. ValueError if it is none."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_iso(text: str) -> dt.datetime:
    """An ISO 8601 time (``Z`` allowed, blanks around it ignored); one without a zone is UTC.
    ValueError if it is none."""
    value = read_iso(text.strip())
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def to_utc(time: dt.datetime) -> dt.datetime:
    """An aware `time` in UTC; one whose UTC is beyond what a `datetime` holds (the year 1 at
    +01:00, 9999-12-31T23:30 at -01:00) is `EARLIEST` or `LATEST`."""
    try:
        return time.astimezone(dt.UTC)
    except OverflowError:
        return EARLIEST if time.year == 1 else LATEST


def shift(time: dt.datetime, delta: dt.timedelta) -> dt.datetime:
    """`time` + `delta`, held within `EARLIEST` and `LATEST` (never an OverflowError)."""
    try:
        return time + delta
    except OverflowError:
        return EARLIEST if delta < dt.timedelta(0) else LATEST


def format_time(time: dt.datetime) -> str:
    """ISO 8601 UTC with a ``Z``; fractions of a second only when there are some."""
    # isoformat, not strftime: glibc's %Y writes the year 1 as "1", not "0001".
    return time.astimezone(dt.UTC).replace(tzinfo=None).isoformat() + "Z"
