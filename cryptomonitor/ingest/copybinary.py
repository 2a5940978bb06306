"""Ticks in PostgreSQL's binary COPY format.

The fast path (`repository.IngestRepository.append`) sends a batch with ``COPY ticks ...
FROM STDIN (FORMAT binary)`` in a few blocks written at once, so that the server inserts it
while this process judges the batch against the alert rules.

The format (PostgreSQL docs, "COPY", "Binary Format"): an 11-byte signature, two int32 header
fields (flags, extension length: 0, 0), then per row an int16 field count and per field an
int32 length (-1 for NULL) and the value in network byte order (timestamptz: int64
microseconds since 2000-01-01 UTC; float8: IEEE 754 double; text: UTF-8), then an int16 -1.
"""

from __future__ import annotations

import datetime as dt
import functools
import struct
from collections.abc import Iterator, Sequence

from cryptomonitor.models import Tick
from cryptomonitor.util import times

#: The columns of every row, in this order.
COLUMNS = ("time", "symbol", "price", "volume_24h", "source", "volume")

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)
_TIME = struct.Struct("!hiq")  # the field count, then the time field (length 8, value)
_FLOAT = struct.Struct("!id")
_NULL = struct.pack("!i", -1)


@functools.lru_cache(maxsize=1 << 16)
def _text(value: str) -> bytes:
    data = value.encode()
    return struct.pack("!i", len(data)) + data


def rows(ticks: Sequence[Tick]) -> bytes:
    """The rows of `ticks`, in order: what goes between `HEADER` and `TRAILER`."""
    parts: list[bytes] = []
    append = parts.append
    stamps: dict[dt.datetime, bytes] = {}  # a poll's ticks share a few timestamps
    pack_float = _FLOAT.pack
    for t in ticks:
        stamp = stamps.get(t.time)
        if stamp is None:
            since = (t.time - times.POSTGRES_EPOCH) // times.MICROSECOND
            stamp = stamps[t.time] = _TIME.pack(len(COLUMNS), 8, since)
        append(stamp)
        append(_text(t.symbol))
        append(pack_float(8, t.price))
        append(_NULL if t.volume_24h is None else pack_float(8, t.volume_24h))
        append(_text(t.source))
        append(_NULL if t.volume is None else pack_float(8, t.volume))
    return b"".join(parts)


def blocks(ticks: Sequence[Tick], size: int) -> Iterator[bytes]:
    """The whole COPY stream for `ticks`: `HEADER`, the rows `size` at a time, `TRAILER`.
    Written block by block, the server starts inserting on the first."""
    yield HEADER
    for i in range(0, len(ticks), size):
        yield rows(ticks[i : i + size])
    yield TRAILER
