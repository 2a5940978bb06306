"""Prometheus metrics of the fetcher and the API (prometheus-client, the default registry).

Names follow Prometheus conventions: a ``cryptomonitor_`` prefix, units in the name
(``_seconds``), ``_total`` for counters, label sets bounded (outcome and stage names, receiver
names from the config, configured symbols). The fetcher serves them on
CRYPTOMONITOR_METRICS_ADDR (``/metrics``, `serve`); the API at ``/prometheus``.
"""

from __future__ import annotations

import errno
import functools
import time
from collections.abc import Iterable, Mapping
from typing import Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from cryptomonitor.exceptions import ConfigError
from cryptomonitor.models import Tick


class Flushed(Protocol):
    """What `record_poll` reads of a flush (`ingest.pipeline.FlushResult` has it)."""

    @property
    def new(self) -> int: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def buffered(self) -> int: ...
    @property
    def database_ok(self) -> bool: ...
    @property
    def events(self) -> int: ...
    @property
    def lines_written(self) -> int: ...


log = structlog.get_logger(__name__)

#: Totals the process has already counted into a counter (the pipeline's drops are a total).
_counted = {"dropped": 0}

POLLS = Counter(
    "cryptomonitor_polls_total",
    "Polls of the price source, by outcome (answered, failed, standby)",
    ["outcome"],
)
TICKS = Counter(
    "cryptomonitor_ticks_total",
    "Ticks by stage: fetched, unchanged (same time "
    "as the last), rejected (invalid), stored, duplicate (already stored)",
    ["stage"],
)
POLL_SECONDS = Histogram(
    "cryptomonitor_poll_duration_seconds",
    "One poll: fetch, store, alerts",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
SOURCE_SECONDS = Histogram(
    "cryptomonitor_source_request_duration_seconds",
    "Fetching one poll from the source, retries included",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
BUFFERED = Gauge("cryptomonitor_buffer_ticks", "Ticks waiting for the database (spool or memory)")
DROPPED = Counter(
    "cryptomonitor_buffer_dropped_ticks_total", "Ticks dropped past the buffer's bound"
)
DATABASE_ERRORS = Counter(
    "cryptomonitor_database_errors_total", "Flushes that found the database unavailable"
)
ALERT_EVENTS = Counter(
    "cryptomonitor_alert_events_total", "Alert events raised (ALERT and RESOLVED)"
)
ALERT_LINES = Counter("cryptomonitor_alert_lines_written_total", "Lines written to the alerts file")
DELIVERIES = Counter(
    "cryptomonitor_deliveries_total",
    "Alert events per receiver, by "
    "outcome: delivered, failing (an attempt failed), skipped (route)",
    ["receiver", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "cryptomonitor_delivery_duration_seconds", "One successful send to a receiver", ["receiver"]
)
RECEIVER_PENDING = Gauge(
    "cryptomonitor_receiver_pending_events",
    "Events a receiver has not had yet (as of its last look)",
    ["receiver"],
)
NEWEST_TICK_AGE = Gauge(
    "cryptomonitor_newest_tick_age_seconds",
    "Age of the newest tick fetched, per symbol",
    ["symbol"],
)
GAP_SECONDS = Gauge(
    "cryptomonitor_gap_seconds",
    "Per configured symbol, the gap found at start since its newest stored tick (0 when none)",
    ["symbol"],
)
BACKFILLED = Counter(
    "cryptomonitor_backfilled_ticks_total",
    "Ticks stored from the source's history (start-up gap fills)",
)
LEADER = Gauge("cryptomonitor_leader", "1 while this process is the job's poller")
#: The API's own registry: it does not serve the fetcher's series (they would read 0 there).
API_REGISTRY = CollectorRegistry()
HTTP_SECONDS = Histogram(
    "cryptomonitor_http_request_duration_seconds",
    "API requests, by route template, method and status",
    ["route", "method", "status"],
    registry=API_REGISTRY,
)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})

_newest: dict[str, float] = {}


def saw_ticks(ticks: Iterable[Tick]) -> None:
    """Note fetched ticks' times; each symbol's newest age is computed at each scrape."""
    for tick in ticks:
        symbol, unix_time = tick.symbol, tick.time.timestamp()
        if symbol not in _newest:
            NEWEST_TICK_AGE.labels(symbol).set_function(functools.partial(_age, symbol))
        _newest[symbol] = max(unix_time, _newest.get(symbol, unix_time))


def record_poll(
    fields: Mapping[str, int], flushed: Flushed, seconds: float, dropped_total: int
) -> None:
    """One poll's figures (the `poll` log line's) into the metrics."""
    for stage in ("fetched", "unchanged", "rejected"):
        TICKS.labels(stage).inc(fields.get(stage, 0))
    TICKS.labels("stored").inc(flushed.new)
    TICKS.labels("duplicate").inc(flushed.duplicates)
    POLL_SECONDS.observe(seconds)
    BUFFERED.set(flushed.buffered)
    if dropped_total > _counted["dropped"]:
        DROPPED.inc(dropped_total - _counted["dropped"])
        _counted["dropped"] = dropped_total
    if not flushed.database_ok:
        DATABASE_ERRORS.inc()
    ALERT_EVENTS.inc(flushed.events)
    ALERT_LINES.inc(flushed.lines_written)


def _age(symbol: str) -> float:
    return time.time() - _newest[symbol]


def serve(address: str | None) -> None:
    """Serve /metrics on ``host:port`` (None: not at all). ConfigError naming
    CRYPTOMONITOR_METRICS_ADDR if it cannot be bound (a port in use), as the API's port: a
    scraper would otherwise find no metrics, or another process's, with only a log line."""
    if address is None:
        return
    host, _, port = address.rpartition(":")
    try:
        start_http_server(int(port), addr=host or "127.0.0.1")
    except OSError as exc:
        busy = exc.errno == errno.EADDRINUSE
        raise ConfigError(
            f"CRYPTOMONITOR_METRICS_ADDR: cannot serve metrics on {address}: "
            + (
                "the port is already in use (another cryptomonitor run?): choose another "
                "address, or off"
                if busy
                else f"{exc.strerror or exc}"
            )
        ) from None
    log.info("metrics_served", url=f"http://{address}/metrics")
