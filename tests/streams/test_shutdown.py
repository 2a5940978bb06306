"""Shutdown: the source stops first, what it received is stored, what it discards is logged."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from cryptomonitor import config
from cryptomonitor.commands import run, startup
from cryptomonitor.db import leader
from cryptomonitor.ingest.pipeline import FlushResult
from cryptomonitor.models import ParseResult, Tick
from cryptomonitor.sources.http import JsonClient
from cryptomonitor.sources.streams import binance as binance_ws
from cryptomonitor.sources.streams import gaps as stream_gaps
from cryptomonitor.sources.streams import kraken as kraken_ws
from cryptomonitor.sources.streams.connection import Handled, Timing
from cryptomonitor.sources.streams.source import StreamSource
from tests.support.fakews import FakeStream, Peer, binance_kline, kraken_trades, wait_for

FAST = Timing(
    silent_after=5, open_timeout=2.0, send_interval=0.05, backoff_initial=0.05, backoff_max=0.2
)
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def tick(n: int) -> Tick:
    return Tick(T0 + dt.timedelta(seconds=n), "xbt-usd", 100.0 + n, None, "kraken-ws", 1.0)


class FakePipeline:
    def __init__(self, fail_last_flush: bool = False) -> None:
        self.pending: list[Tick] = []
        self.stored: list[Tick] = []
        self.closed = False
        self.fail_last_flush = fail_last_flush
        self.spool = None
        self.dropped = 0
        self.refuse: OSError | None = None  # submit raises it (a spool's disk refusing)
        self.drops: list[tuple[int, str, dict[str, object]]] = []

    @property
    def buffered(self) -> int:
        return len(self.pending)

    def submit(self, ticks: Sequence[Tick]) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.pending.extend(ticks)

    def drop(self, ticks: Sequence[Tick], event: str, **context: object) -> None:
        self.dropped += len(ticks)
        self.drops.append((len(ticks), event, context))

    def flush(self) -> FlushResult:
        if self.fail_last_flush and self.stored:
            raise RuntimeError("the database went away")
        self.stored += self.pending
        new, self.pending = len(self.pending), []
        return FlushResult(new=new)

    def close(self) -> None:
        self.closed = True


class FakeLeadership:
    closed = False

    def __init__(self, *args: object, **kwargs: object) -> None:
        FakeLeadership.closed = False

    def poll_allowed(self) -> bool:
        return True

    def close(self) -> None:
        FakeLeadership.closed = True


class LateSource:
    """One tick at the poll; one more arrives after it, handed over by close()."""

    name = "kraken-ws"
    unknown_hint = ""
    requests_per_poll = 0
    client = JsonClient(timeout=1, attempts=1)

    def __init__(self) -> None:
        self.closed = 0

    def fetch(self) -> ParseResult:
        return ParseResult([tick(0)], [], [])

    def close(self) -> ParseResult:
        self.closed += 1
        return ParseResult([tick(1)], [], [])


def run_once(
    monkeypatch: pytest.MonkeyPatch, pipeline: FakePipeline, source: LateSource
) -> run.RunSummary:
    settings = config.load(
        {
            "CRYPTOMONITOR_SOURCE": "kraken-ws",
            "CRYPTOMONITOR_COINS": "xbt-usd",
            "CRYPTOMONITOR_BACKFILL_HORIZON": "off",
            "CRYPTOMONITOR_METRICS_ADDR": "off",
        }
    )
    monkeypatch.setattr(startup, "start", lambda *args, **kwargs: startup.Started(pipeline))
    monkeypatch.setattr(startup, "make_source", lambda settings: source)
    monkeypatch.setattr(leader, "Leadership", FakeLeadership)
    return run.run(settings, threading.Event(), max_polls=1)


def test_run_stores_what_the_source_received_after_its_last_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline, source = FakePipeline(), LateSource()
    summary = run_once(monkeypatch, pipeline, source)
    assert pipeline.stored == [tick(0), tick(1)] and summary.unstored == 0
    assert source.closed == 1 and pipeline.closed and FakeLeadership.closed


class Turns(FakeLeadership):
    """Leads, loses the lock, leads again, then the run is stopped."""

    turns: ClassVar[list[bool]] = []
    stop = threading.Event()

    def poll_allowed(self) -> bool:
        if not Turns.turns:
            Turns.stop.set()
            return False
        return Turns.turns.pop(0)


class Recorder(LateSource):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def fetch(self) -> ParseResult:
        self.calls.append("fetch")
        return ParseResult([tick(len(self.calls))], [], [])

    def close(self) -> ParseResult:
        self.calls.append("close")
        return ParseResult([tick(len(self.calls))], [], [])


def test_a_standby_closes_its_source_and_opens_it_when_leading_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = config.load(
        {
            "CRYPTOMONITOR_SOURCE": "kraken-ws",
            "CRYPTOMONITOR_COINS": "xbt-usd",
            "CRYPTOMONITOR_BACKFILL_HORIZON": "off",
            "CRYPTOMONITOR_METRICS_ADDR": "off",
            "CRYPTOMONITOR_POLL_INTERVAL": "10ms",
        }
    )
    pipeline, source = FakePipeline(), Recorder()
    monkeypatch.setattr(startup, "start", lambda *args, **kwargs: startup.Started(pipeline))
    monkeypatch.setattr(startup, "make_source", lambda settings: source)
    monkeypatch.setattr(leader, "Leadership", Turns)
    Turns.turns, Turns.stop = [True, False, False, True], threading.Event()
    run.run(settings, Turns.stop)
    # Closed at each loss of the lock, and at the end.
    assert source.calls == ["fetch", "close", "fetch", "close", "close"]
    assert pipeline.stored == [tick(n) for n in range(1, 6)]  # the standby's last ones too


def test_ticks_the_spool_refuses_are_counted_and_logged_as_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline, source = FakePipeline(), LateSource()
    pipeline.refuse = OSError(28, "No space left on device")
    summary = run_once(monkeypatch, pipeline, source)
    assert pipeline.dropped == 2 and pipeline.stored == []  # the poll's tick, then the last one
    assert [(n, event, sorted(context)) for n, event, context in pipeline.drops] == [
        (1, "spool_write_failed", ["directory", "error"]),
        (1, "spool_write_failed", ["directory", "error"]),
    ]
    assert "No space left" in str(pipeline.drops[0][2]["error"])
    assert summary.polls == summary.answered == 1 and source.closed == 1


def test_the_source_and_the_rest_are_closed_when_the_last_flush_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline, source = FakePipeline(fail_last_flush=True), LateSource()
    with pytest.raises(RuntimeError, match="went away"):
        run_once(monkeypatch, pipeline, source)
    assert source.closed == 1 and pipeline.closed and FakeLeadership.closed


def kraken(url: str, **kwargs: Any) -> StreamSource:
    options: dict[str, Any] = {"exchange": kraken_ws.KrakenTrades}
    options.update(kwargs)
    return StreamSource(
        name=kraken_ws.NAME,
        unknown_hint="",
        url=url,
        symbols=["xbt-usd"],
        per_connection=kraken_ws.MAX_PAIRS,
        timing=FAST,
        client=JsonClient(timeout=2, attempts=1),
        **options,
    )


def serves(*frames: Any) -> Any:
    def script(peer: Peer) -> None:
        peer.recv()
        for frame in frames:
            peer.send(frame)
        peer.silent()

    return script


def test_close_hands_over_the_buffer_and_logs_the_open_seconds_it_discards(
    logs: list[dict[str, Any]],
) -> None:
    now = float(int(time.time()))
    frames = [
        kraken_trades(42, "XBT/USD", [("100.0", "0.1", now - 1)]),
        kraken_trades(42, "XBT/USD", [("101.0", "0.2", now + 0.5)]),
    ]  # still open
    again = serves(kraken_trades(42, "XBT/USD", [("102.0", "0.3", now - 0.5)]))
    with FakeStream(serves(*frames), again).running() as fake:
        src = kraken(fake.url)
        try:
            src.start()
            wait_for(lambda: len(src.buffer) == 1)
            last = src.close()
            assert not [t for t in threading.enumerate() if t.name.startswith("stream-")]
            # Opened again (a standby replica leading again): the discarded second stays out.
            ticks: list[Tick] = []
            wait_for(lambda: ticks.extend(src.fetch().ticks) or ticks)
        finally:
            src.close()
        assert fake.connections == 2
    assert [t.price for t in last.ticks] == [100.0]
    assert [t.price for t in ticks] == [102.0]
    assert [
        (e["open_intervals"], e["held_klines"]) for e in logs if e["event"] == "stream_discarded"
    ] == [(1, 0)]
    assert not [t for t in threading.enumerate() if t.name.startswith("stream-")]


class NoRest:
    name = "binance-history"
    resolution = 60.0

    def chunks(
        self, start: dt.datetime, end: dt.datetime, now: dt.datetime
    ) -> list[tuple[dt.datetime, dt.datetime]]:
        raise AssertionError("no REST at shutdown")

    def fetch(
        self, symbol: str, chunk: tuple[dt.datetime, dt.datetime], now: dt.datetime
    ) -> list[Tick]:
        raise AssertionError("no REST at shutdown")


def test_close_asks_no_rest_and_logs_the_klines_it_holds_behind_a_gap(
    logs: list[dict[str, Any]],
) -> None:
    base = (int(time.time()) // 60 - 30) * 60_000
    frames = [
        binance_kline("btcusdt", base, "1", "1"),
        binance_kline("btcusdt", base + 180_000, "4", "1"),
    ]  # minutes 1, 2 missing

    def script(peer: Peer) -> None:
        request = peer.recv()
        peer.send({"result": None, "id": request["id"]})
        for frame in frames:
            peer.send(frame)
        peer.silent()

    with FakeStream(script).running() as fake:
        src = StreamSource(
            name=binance_ws.NAME,
            unknown_hint="",
            url=fake.url,
            symbols=["btcusdt"],
            exchange=binance_ws.BinanceKlines,
            per_connection=binance_ws.MAX_STREAMS,
            timing=FAST,
            client=JsonClient(timeout=2, attempts=1),
            gaps=stream_gaps.KlineGaps(NoRest()),
        )
        try:
            src.start()
            wait_for(lambda: len(src.buffer) == 2 * 4)  # two klines, four ticks each
        finally:
            last = src.close()
    # Minute 0's four ticks go out; minute 3's are held behind the gap, counted as one kline.
    assert [(round(t.time.timestamp() * 1000) - base, t.price, t.volume) for t in last.ticks] == [
        (0, 1.0, None),
        (15_000, 1.0, None),
        (30_000, 1.0, None),
        (59_999, 1.0, 1.0),
    ]
    assert [
        (e["open_intervals"], e["held_klines"]) for e in logs if e["event"] == "stream_discarded"
    ] == [(0, 1)]


class Stuck(kraken_ws.KrakenTrades):
    """A parser stuck on its first frame until released."""

    release = threading.Event()

    def handle(self, message: object) -> Handled:
        Stuck.release.wait(5)
        return super().handle(message)


def test_a_thread_that_outlives_its_join_is_logged(logs: list[dict[str, Any]]) -> None:
    with FakeStream(serves({"event": "heartbeat"})).running() as fake:
        src = kraken(fake.url, exchange=Stuck)
        try:
            src.start()
            wait_for(lambda: fake.received and fake.received[0])
            time.sleep(0.1)  # the heartbeat reaches the parser
            src.close(timeout=0.2)
            assert [
                e["connection"] for e in logs if e["event"] == "stream_thread_still_running"
            ] == ["kraken-ws#1"]
        finally:
            Stuck.release.set()
            for connection in src.connections:
                connection.close()
