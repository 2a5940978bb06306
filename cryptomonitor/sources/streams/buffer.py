"""The bounded hand-over between the socket threads and `fetch()`.

When the consumer falls behind, the OLDEST ticks are dropped (a live monitor wants the newest
prices), counted, and logged: the first drop of an episode at once, and the count at each
drain. What one `put` brought (a kline's four ticks) is dropped whole, never in part: a
Binance kline is then a missing minute, a gap that `gaps` repairs from REST, not a candle
with a wrong open.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterable

import structlog

from cryptomonitor import models

log = structlog.get_logger(__name__)


class TickBuffer:
    """A thread-safe FIFO of at most `capacity` ticks; `put` never blocks the socket thread."""

    def __init__(self, capacity: int, source: str) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.source = source
        self._groups: collections.deque[list[models.Tick]] = collections.deque()
        self._size = 0
        self._lock = threading.Lock()
        self.dropped = 0  # since start
        self._dropped_unreported = 0

    def put(self, ticks: Iterable[models.Tick]) -> None:
        group = list(ticks)
        if not group:
            return
        with self._lock:
            self._groups.append(group)
            self._size += len(group)
            if self._size <= self.capacity:
                return
            excess = 0
            while self._size > self.capacity:
                dropped = len(self._groups.popleft())
                self._size -= dropped
                excess += dropped
            first = self._dropped_unreported == 0
            self.dropped += excess
            self._dropped_unreported += excess
        if first:  # outside the lock; later drops of this episode are summed at the drain
            log.warning(
                "stream_buffer_full",
                source=self.source,
                capacity=self.capacity,
                dropped=excess,
                hint="fetch() is not keeping up; oldest ticks dropped",
            )

    def drain(self) -> list[models.Tick]:
        """Everything buffered, oldest first; logs the drops since the last drain."""
        with self._lock:
            ticks = [t for group in self._groups for t in group]
            self._groups.clear()
            self._size = 0
            dropped, self._dropped_unreported = self._dropped_unreported, 0
        if dropped:
            log.warning(
                "stream_ticks_dropped",
                source=self.source,
                dropped=dropped,
                dropped_total=self.dropped,
                capacity=self.capacity,
            )
        return ticks

    def __len__(self) -> int:
        with self._lock:
            return self._size
