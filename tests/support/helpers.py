from __future__ import annotations

import datetime as dt
import itertools
import pathlib
from collections.abc import Callable

from cryptomonitor.alerting import alertfile
from cryptomonitor.alerting.rules import DEFAULT_RULES, Rule
from cryptomonitor.db import database
from cryptomonitor.ingest import writer
from cryptomonitor.ingest.pipeline import Pipeline
from cryptomonitor.models import Tick
from cryptomonitor.sources import barfiles

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: Lines for the end of the pytest report (figures a test measured, e.g. compose timings).
SUMMARY: list[str] = []


def tick(
    minute: float,
    price: float,
    volume: float | None = 1000.0,
    symbol: str = "bitcoin",
    source: str = "test",
) -> Tick:
    return Tick(T0 + dt.timedelta(minutes=minute), symbol, price, volume, source)


_open: list[Pipeline] = []


def pipeline(
    url: str,
    path: pathlib.Path | None,
    rules: tuple[Rule, ...] = DEFAULT_RULES,
    repeat: float = 3600.0,
    buffer_max: int = 100_000,
    lines_first: bool = False,
    on_events: Callable[[], object] | None = None,
) -> Pipeline:
    """A pipeline closed at the end of the test (see tests/plugins/isolation.py); without
    `path`, it has no alerts file (as a backfill's)."""
    p = Pipeline(
        database.Database(url),
        writer.BatchWriter(rules, repeat),
        alertfile.AlertFile(path) if path is not None else None,
        buffer_max_ticks=buffer_max,
        lines_first=lines_first,
        on_events=on_events,
    )
    _open.append(p)
    return p


def close_pipelines() -> None:
    while _open:
        _open.pop().db.close()


def lines(path: pathlib.Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def growing_volume_ticks(path: pathlib.Path, bars: int) -> list[Tick]:
    """The replay ticks of the first `bars` bars of `path`, with ``volume_24h`` the running sum
    of the volumes read so far where a replay stores None (its first day): a rising series
    that makes the volume rules fire, for the tests of the windows' and writers' mechanics."""
    bars_read = list(barfiles.read_bars(path, 0, bars))
    running = list(itertools.accumulate(b.volume for b in bars_read))
    return [
        t if t.volume_24h is not None else t._replace(volume_24h=running[k // 4])
        for k, t in enumerate(barfiles.ticks(bars_read, "btc"))
    ]
