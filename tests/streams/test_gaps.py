"""Missed 1-minute klines: detected by their close times, repaired through REST klines."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from cryptomonitor.exceptions import SourceUnavailable
from cryptomonitor.models import Tick
from cryptomonitor.sources import history
from cryptomonitor.sources.http import JsonClient
from cryptomonitor.sources.streams import binance as binance_ws
from cryptomonitor.sources.streams.connection import Timing
from cryptomonitor.sources.streams.gaps import KlineGaps
from cryptomonitor.sources.streams.source import StreamSource
from tests.fakeapi import Answer, FakeCoinGecko
from tests.fakews import FakeStream, Peer, binance_kline, wait_for

BASE = (int(time.time()) // 60 - 30) * 60_000
T0 = dt.datetime.fromtimestamp(BASE / 1000, dt.UTC)


def minute(n: int) -> int:
    return BASE + n * 60_000


def rest_kline(n: int, close: str, volume: str) -> list[Any]:
    """A /api/v3/klines row: [open, o, h, l, c, v, close time, q, trades, V, Q, ignore]."""
    return [minute(n), close, close, close, close, volume, minute(n) + 59_999, "1.0", 3,
            "0.1", "0.1", "0"]


def test_a_missed_minute_is_fetched_from_rest_before_the_newer_klines(
        logs: list[dict[str, Any]]) -> None:
    rest = FakeCoinGecko()
    rows = [rest_kline(n, f"{n}.5", f"{n}0") for n in range(6)]

    def klines(path: str, query: dict[str, str]) -> Answer:
        if path != "/api/v3/klines" or query.get("symbol") != "BTCUSDT":
            return Answer(400, {"code": -1121, "msg": "Invalid symbol."})
        start, end = int(query["startTime"]), int(query["endTime"])
        return Answer(200, [r for r in rows if start <= r[0] <= end])

    rest.responder = klines

    def script(peer: Peer) -> None:
        request = peer.recv()
        peer.send({"result": None, "id": request["id"]})
        for n in (0, 1, 4):  # minutes 2 and 3 never come
            peer.send(binance_kline("btcusdt", minute(n), f"{n}.5", f"{n}0"))
        peer.silent()

    client = JsonClient(timeout=2, attempts=1, deadline=5)
    with rest.running(), \
            FakeStream(script).running() as fake, \
            StreamSource(name=binance_ws.NAME, unknown_hint="", url=fake.url,
                         symbols=["btcusdt"], exchange=binance_ws.BinanceKlines,
                         per_connection=1024, client=client,
                         timing=Timing(silent_after=5, send_interval=0.05),
                         gaps=KlineGaps(history.BinanceHistory(
                             rest.url.removesuffix("/api/v3"), client))) as src:
        ticks: list[Tick] = []
        wait_for(lambda: ticks.extend(src.fetch().ticks) or len(ticks) >= 5)
    assert [(t.time.timestamp() * 1000, t.price, t.volume, t.source) for t in ticks] == [
        (minute(n) + 59_999, n + 0.5, n * 10.0, "binance-history" if n in (2, 3)
         else "binance-ws") for n in range(5)]
    assert [r.path for r in rest.requests] == ["/api/v3/klines"]
    assert rest.requests[0].query["interval"] == "1m"
    repaired = [e for e in logs if e["event"] == "kline_gap_repaired"]
    assert [(e["symbol"], e["missing_minutes"], e["repaired"]) for e in repaired] == [
        ("btcusdt", 2, 2)]


class FlakyHistory:
    """A History whose REST fails `failures` times, then answers the missing minutes."""

    name = "binance-history"
    resolution = 60.0

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def chunks(self, start: dt.datetime, end: dt.datetime,
               now: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
        return [(start, end)]

    def fetch(self, symbol: str, chunk: tuple[dt.datetime, dt.datetime],
              now: dt.datetime) -> list[Tick]:
        self.calls += 1
        if self.calls <= self.failures:
            raise SourceUnavailable("HTTP 503 after 1 attempt(s)")
        return [kline(2, "binance-history")]


def kline(n: int, source: str = "binance-ws", symbol: str = "btcusdt") -> Tick:
    return Tick(T0 + dt.timedelta(minutes=n, seconds=59.999), symbol, 1.0 + n, None, source,
                float(n))


def test_klines_wait_behind_a_failed_repair_and_go_out_once_repaired() -> None:
    gaps = KlineGaps(FlakyHistory(failures=1), attempts=3)
    first = gaps.complete([kline(0), kline(1), kline(3), kline(0, symbol="ethusdt"),
                           kline(4)])
    assert [(t.symbol, t.price) for t in first] == [("btcusdt", 1.0), ("btcusdt", 2.0),
                                                    ("ethusdt", 1.0)]
    assert gaps.held == 2
    second = gaps.complete([kline(5), kline(4)])  # and a repeat of minute 4
    assert [(t.price, t.source) for t in second] == [
        (3.0, "binance-history"), (4.0, "binance-ws"), (5.0, "binance-ws"),
        (6.0, "binance-ws")]
    assert gaps.held == 0 and gaps.duplicates == 1 and gaps.repaired == 1


def test_an_unrepairable_gap_is_logged_and_the_klines_released(logs: list[dict[str, Any]]) -> None:
    gaps = KlineGaps(FlakyHistory(failures=99), attempts=2)
    assert [t.price for t in gaps.complete([kline(0), kline(3)])] == [1.0]
    assert [t.price for t in gaps.complete([])] == [4.0]
    assert [e["event"] for e in logs if e["event"] != "kline_gaps_progress"] == [
        "kline_gap_repair_failed", "kline_gap_unrepaired"]
    assert [e["missing_minutes"] for e in logs if e["event"] == "kline_gap_unrepaired"] == [2]


def test_hundreds_of_gaps_at_once_are_repaired_over_several_paced_calls_within_a_budget(
        logs: list[dict[str, Any]]) -> None:
    symbols = [f"s{i:03d}usdt" for i in range(300)]
    rest = FakeCoinGecko()

    def klines(path: str, query: dict[str, str]) -> Answer:
        start, end = int(query["startTime"]), int(query["endTime"])
        return Answer(200, [rest_kline(n, "2.5", "1") for n in (1, 2)
                            if start <= minute(n) <= end])

    rest.responder = klines
    budget, interval = 0.25, 0.005
    client = JsonClient(timeout=2, attempts=1, deadline=5, min_interval=interval)
    with rest.running():
        gaps = KlineGaps(history.BinanceHistory(rest.url.removesuffix("/api/v3"), client),
                         budget=budget)
        out = gaps.complete([kline(0, symbol=s) for s in symbols])
        arrived = [kline(3, symbol=s) for s in symbols]  # a reconnect: all of them gapped
        calls = 0
        while gaps.held or arrived:
            started = time.monotonic()
            out += gaps.complete(arrived)
            assert time.monotonic() - started < budget + 0.2  # + the request in flight
            arrived, calls = [], calls + 1
            assert calls < 100
    assert calls > 2
    for s in symbols:
        assert [(t.time, t.source) for t in out if t.symbol == s] == [
            (T0 + dt.timedelta(minutes=n, seconds=59.999),
             "binance-history" if n in (1, 2) else "binance-ws") for n in range(4)]
    assert len(rest.requests) == len(symbols) and gaps.repaired == 2 * len(symbols)
    starts = [r.at for r in rest.requests]  # paced: at least `interval` apart on average
    assert starts[-1] - starts[0] >= (len(starts) - 1) * interval * 0.95
    progress = [e for e in logs if e["event"] == "kline_gaps_progress"]
    assert len(progress) == calls and progress[-1]["symbols_waiting"] == 0
    assert progress[0]["symbols_waiting"] > 0
