"""What a source offers: the live `Source` protocol `run` polls, and the `History` protocol of
a source's past (`backfill`, and the gap a `run` fills at start), with `ticks_of` walking one.

Each exchange's module (`coingecko`, `binance`) holds both its live client and its history
client; the stream sources live in `streams/`; `registry` builds them by name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Protocol

from cryptomonitor import models
from cryptomonitor.models import Tick
from cryptomonitor.sources import http

Chunk = tuple[dt.datetime, dt.datetime]


class History(Protocol):
    """A source's past: the ticks of one symbol in [start, end), a request at a time."""

    name: str  # stored as ticks.source
    resolution: float  # seconds between its points at best: a shorter gap cannot be filled

    def chunks(self, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> list[Chunk]: ...

    def fetch(self, symbol: str, chunk: Chunk, now: dt.datetime) -> list[Tick]: ...


def ticks_of(
    history: History, symbol: str, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> Iterator[tuple[int, int, Chunk, list[Tick]]]:
    """(request number, requests, its period, its ticks) for [start, end), oldest first."""
    chunks = history.chunks(start, end, now)
    for i, chunk in enumerate(chunks, 1):
        yield i, len(chunks), chunk, history.fetch(symbol, chunk, now)


class Source(Protocol):
    """What the fetcher needs of a price source."""

    @property
    def name(self) -> str: ...  # stored as ticks.source

    @property
    def unknown_hint(self) -> str: ...  # why a configured symbol may have no price

    @property
    def requests_per_poll(self) -> int: ...

    @property
    def client(self) -> http.JsonClient: ...  # paced by the API's rate limit; its history shares it

    def fetch(self) -> models.ParseResult:
        """One poll: the ticks, the refused values and the symbols missing from the answer.

        Raises `SourceUnavailable` (not reached, after retries) or `ResponseError`.
        """
        ...

    def close(self) -> models.ParseResult:
        """Stop (a stream's socket threads) and return what arrived since the last `fetch()`,
        for a last store; asks nothing of the network. A poll source has nothing: a no-op."""
        ...
