"""Missed 1-minute klines (four ticks each): detected by the time between a symbol's
consecutive ticks, repaired through REST klines."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from cryptomonitor.exceptions import SourceUnavailable
from cryptomonitor.models import Tick
from cryptomonitor.sources import binance
from cryptomonitor.sources.http import JsonClient
from cryptomonitor.sources.streams import binance as binance_ws
from cryptomonitor.sources.streams.connection import Timing
from cryptomonitor.sources.streams.gaps import KlineGaps
from cryptomonitor.sources.streams.source import StreamSource
from tests.support.fakeapi import Answer, FakeCoinGecko
from tests.support.fakews import FakeStream, Peer, binance_kline, wait_for

BASE = (int(time.time()) // 60 - 30) * 60_000
T0 = dt.datetime.fromtimestamp(BASE / 1000, dt.UTC)


def minute(n: int) -> int:
    return BASE + n * 60_000


def candle(n: int) -> tuple[str, str, str, str]:
    """Minute n's o, h, l, c: rising on even minutes, falling on odd ones."""
    if n % 2 == 0:
        return f"{n}.25", f"{n}.75", f"{n}.125", f"{n}.5"
    return f"{n}.5", f"{n}.75", f"{n}.125", f"{n}.25"


def rest_kline(n: int, volume: str) -> list[Any]:
    """A /api/v3/klines row: [open, o, h, l, c, v, close time, q, trades, V, Q, ignore]."""
    return [minute(n), *candle(n), volume, minute(n) + 59_999, "1.0", 3, "0.1", "0.1", "0"]


def stream_kline(n: int, volume: str) -> dict[str, Any]:
    o, h, lo, c = candle(n)
    return binance_kline("btcusdt", minute(n), c, volume, open_=o, high=h, low=lo)


def four_ticks(n: int, volume: float, source: str) -> list[tuple[int, float, float | None, str]]:
    """(ms, price, volume, source) of minute n's ticks: o at t, the extremes at t + 15 s and
    t + 30 s (low first on a rising kline), c at T with the volume."""
    o, h, lo, c = map(float, candle(n))
    prices = [o, lo, h, c] if n % 2 == 0 else [o, h, lo, c]
    return [
        (minute(n) + ms, price, volume if ms == 59_999 else None, source)
        for ms, price in zip((0, 15_000, 30_000, 59_999), prices, strict=True)
    ]


def test_a_missed_minute_is_fetched_from_rest_before_the_newer_klines(
    logs: list[dict[str, Any]],
) -> None:
    rest = FakeCoinGecko()
    rows = [rest_kline(n, f"{n}0") for n in range(6)]

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
            peer.send(stream_kline(n, f"{n}0"))
        peer.silent()

    client = JsonClient(timeout=2, attempts=1, deadline=5)
    with (
        rest.running(),
        FakeStream(script).running() as fake,
        StreamSource(
            name=binance_ws.NAME,
            unknown_hint="",
            url=fake.url,
            symbols=["btcusdt"],
            exchange=binance_ws.BinanceKlines,
            per_connection=1024,
            client=client,
            timing=Timing(silent_after=5, send_interval=0.05),
            gaps=KlineGaps(binance.BinanceHistory(rest.url.removesuffix("/api/v3"), client)),
        ) as src,
    ):
        ticks: list[Tick] = []
        wait_for(lambda: ticks.extend(src.fetch().ticks) or len(ticks) >= 5 * 4)
    # Minutes 2 and 3 from REST between the stream's minutes 1 and 4, each four ticks.
    assert [(round(t.time.timestamp() * 1000), t.price, t.volume, t.source) for t in ticks] == [
        tick
        for n in range(5)
        for tick in four_ticks(n, n * 10.0, "binance-history" if n in (2, 3) else "binance-ws")
    ]
    assert [r.path for r in rest.requests] == ["/api/v3/klines"]
    assert rest.requests[0].query["interval"] == "1m"
    repaired = [e for e in logs if e["event"] == "kline_gap_repaired"]
    assert [(e["symbol"], e["missing_minutes"], e["repaired"]) for e in repaired] == [
        ("btcusdt", 2, 2)
    ]


class FlakyHistory:
    """A History whose REST fails `failures` times, then answers the missing minutes."""

    name = "binance-history"
    resolution = 60.0

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def chunks(
        self, start: dt.datetime, end: dt.datetime, now: dt.datetime
    ) -> list[tuple[dt.datetime, dt.datetime]]:
        return [(start, end)]

    def fetch(
        self, symbol: str, chunk: tuple[dt.datetime, dt.datetime], now: dt.datetime
    ) -> list[Tick]:
        self.calls += 1
        if self.calls <= self.failures:
            raise SourceUnavailable("HTTP 503 after 1 attempt(s)")
        return kline(2, "binance-history")


def kline(n: int, source: str = "binance-ws", symbol: str = "btcusdt") -> list[Tick]:
    """Minute n's four ticks as the stream makes them (a flat candle at 1 + n, volume n)."""
    return [
        Tick(
            T0 + dt.timedelta(minutes=n, milliseconds=ms),
            symbol,
            1.0 + n,
            None,
            source,
            float(n) if ms == 59_999 else None,
        )
        for ms in (0, 15_000, 30_000, 59_999)
    ]


def test_klines_wait_behind_a_failed_repair_and_go_out_once_repaired() -> None:
    gaps = KlineGaps(FlakyHistory(failures=1), attempts=3)
    first = gaps.complete([*kline(0), *kline(1), *kline(3), *kline(0, symbol="ethusdt"), *kline(4)])
    assert first == [*kline(0), *kline(1), *kline(0, symbol="ethusdt")]
    assert gaps.held == 2  # klines: minutes 3 and 4
    second = gaps.complete([*kline(5), *kline(4)])  # and a repeat of minute 4
    assert second == [*kline(2, "binance-history"), *kline(3), *kline(4), *kline(5)]
    assert gaps.held == 0 and gaps.repaired == 1
    assert gaps.duplicates == 4  # the repeated kline's four ticks


def test_an_unrepairable_gap_is_logged_and_the_klines_released(logs: list[dict[str, Any]]) -> None:
    gaps = KlineGaps(FlakyHistory(failures=99), attempts=2)
    assert gaps.complete([*kline(0), *kline(3)]) == kline(0)
    assert gaps.complete([]) == kline(3)
    assert [e["event"] for e in logs if e["event"] != "kline_gaps_progress"] == [
        "kline_gap_repair_failed",
        "kline_gap_unrepaired",
    ]
    assert [e["missing_minutes"] for e in logs if e["event"] == "kline_gap_unrepaired"] == [2]


class OneOfTwo(FlakyHistory):
    """REST that has minute 2's kline, not minute 1's."""

    def fetch(
        self, symbol: str, chunk: tuple[dt.datetime, dt.datetime], now: dt.datetime
    ) -> list[Tick]:
        return kline(2, "binance-history")


def test_a_gap_rest_fills_in_part_is_logged_with_its_minutes(logs: list[dict[str, Any]]) -> None:
    gaps = KlineGaps(OneOfTwo(failures=0))
    assert gaps.complete([*kline(0), *kline(3)]) == [
        *kline(0),
        *kline(2, "binance-history"),
        *kline(3),
    ]
    assert gaps.repaired == 1
    assert [
        (e["event"], e["missing_minutes"], e["repaired"])
        for e in logs
        if e["event"].startswith("kline_gap_")
    ] == [("kline_gap_repaired", 2, 1), ("kline_gap_partly_repaired", 2, 1)]


def test_hundreds_of_gaps_at_once_are_repaired_over_several_paced_calls_within_a_budget(
    logs: list[dict[str, Any]],
) -> None:
    symbols = [f"s{i:03d}usdt" for i in range(300)]
    rest = FakeCoinGecko()

    def klines(path: str, query: dict[str, str]) -> Answer:
        start, end = int(query["startTime"]), int(query["endTime"])
        return Answer(200, [rest_kline(n, "1") for n in (1, 2) if start <= minute(n) <= end])

    rest.responder = klines
    budget, interval = 0.25, 0.005
    client = JsonClient(timeout=2, attempts=1, deadline=5, min_interval=interval)
    with rest.running():
        gaps = KlineGaps(
            binance.BinanceHistory(rest.url.removesuffix("/api/v3"), client), budget=budget
        )
        out = gaps.complete([t for s in symbols for t in kline(0, symbol=s)])
        arrived = [t for s in symbols for t in kline(3, symbol=s)]  # a reconnect: all gapped
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
            (
                T0 + dt.timedelta(minutes=n, milliseconds=ms),
                "binance-history" if n in (1, 2) else "binance-ws",
            )
            for n in range(4)
            for ms in (0, 15_000, 30_000, 59_999)
        ]
    assert len(rest.requests) == len(symbols) and gaps.repaired == 2 * len(symbols)
    starts = [r.at for r in rest.requests]  # paced: at least `interval` apart on average
    assert starts[-1] - starts[0] >= (len(starts) - 1) * interval * 0.95
    progress = [e for e in logs if e["event"] == "kline_gaps_progress"]
    assert len(progress) == calls and progress[-1]["symbols_waiting"] == 0
    assert progress[0]["symbols_waiting"] > 0
