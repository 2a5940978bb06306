"""The bounded hand-over between the socket threads and fetch(): drops counted, whole puts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptomonitor.models import Tick
from cryptomonitor.sources.streams.buffer import TickBuffer

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def kline(minute: int) -> list[Tick]:
    """Four ticks, as one closed kline puts them."""
    return [
        Tick(T0 + dt.timedelta(minutes=minute, seconds=s), "x", 1.0, None, "t")
        for s in (0, 15, 30, 59)
    ]


def test_past_its_bound_the_oldest_puts_are_dropped_whole_and_counted(
    logs: list[dict[str, Any]],
) -> None:
    buffer = TickBuffer(10, "test")
    for m in range(3):
        buffer.put(kline(m))
    assert len(buffer) == 8 and buffer.dropped == 4  # minute 0's four, not just two of them
    assert buffer.drain() == kline(1) + kline(2)
    assert [e["dropped"] for e in logs if e["event"] == "stream_buffer_full"] == [4]
    assert [e["dropped"] for e in logs if e["event"] == "stream_ticks_dropped"] == [4]
    assert len(buffer) == 0 and buffer.drain() == []
