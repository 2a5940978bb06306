"""binance-ws against a local WebSocket server replaying Binance's combined-stream frames."""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import json
import threading
import time
from typing import Any

import pytest

from cryptomonitor.models import Tick
from cryptomonitor.sources.http import JsonClient
from cryptomonitor.sources.streams import binance as binance_ws
from cryptomonitor.sources.streams.connection import Timing
from cryptomonitor.sources.streams.source import StreamSource
from tests.support.fakews import FakeStream, Peer, binance_kline, recorded_frames, wait_for

FAST = Timing(
    silent_after=0.6,
    open_timeout=2.0,
    ping_interval=1.0,
    ping_timeout=1.0,
    send_interval=0.05,
    backoff_initial=0.05,
    backoff_max=0.2,
)
#: A whole minute half an hour ago: klines must be plausible (not in the future).
BASE = (int(time.time()) // 60 - 30) * 60_000


def minute(n: int) -> int:
    return BASE + n * 60_000


def at(ms: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)


def times(n: int) -> list[dt.datetime]:
    """A kline's four tick times: its open time t, t + 15 s, t + 30 s, its close time T."""
    return [at(minute(n) + ms) for ms in (0, 15_000, 30_000, 59_999)]


def flat(n: int, price: float, volume: float) -> list[tuple[dt.datetime, float, float | None]]:
    """(time, price, volume) of the ticks of minute n's kline with o = h = l = c = `price`."""
    return [(t, price, volume if i == 3 else None) for i, t in enumerate(times(n))]


def closes(ticks: list[Tick]) -> list[Tick]:
    """The klines' close ticks: the only ones carrying the minute's volume."""
    return [t for t in ticks if t.volume is not None]


def source(url: str, symbols: list[str], **kwargs: Any) -> StreamSource:
    options: dict[str, Any] = {
        "per_connection": binance_ws.MAX_STREAMS,
        "timing": FAST,
        "client": JsonClient(timeout=2, attempts=1, deadline=5),
    }
    options.update(kwargs)
    return StreamSource(
        name=binance_ws.NAME,
        unknown_hint=binance_ws.UNKNOWN_HINT,
        url=url,
        symbols=symbols,
        exchange=binance_ws.BinanceKlines,
        **options,
    )


def collect(src: StreamSource, n: int, timeout: float = 5.0) -> list[Tick]:
    ticks: list[Tick] = []
    wait_for(lambda: ticks.extend(src.fetch().ticks) or len(ticks) >= n, timeout)
    return ticks


def serves(*frames: Any) -> Any:
    """A script: acknowledge the subscription, send `frames`, then stay connected."""

    def script(peer: Peer) -> None:
        request = peer.recv()
        peer.send({"result": None, "id": request["id"]})
        for frame in frames:
            peer.send(frame)
        peer.silent()

    return script


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


def test_closed_klines_become_four_ticks_with_the_minutes_base_volume_on_the_close(
    logs: list[dict[str, Any]],
) -> None:
    recorded = recorded_frames("BINANCE.kline.excerpt.ws")  # real frames of open minutes
    closed = [
        binance_kline(
            "nknusdt",
            minute(0),
            "0.355",
            "100.5",
            taker="1.25",  # rising
            open_="0.350",
            high="0.359",
            low="0.348",
        ),
        binance_kline(
            "nknusdt",
            minute(1),
            "0.362",
            "101.5",
            taker="1.25",  # not a candle
            open_="0.360",
            high="0.361",
            low="0.358",
        ),
        binance_kline(
            "nknusdt",
            minute(2),
            "0.352",
            "102.5",
            taker="1.25",  # falling
            open_="0.360",
            high="0.365",
            low="0.351",
        ),
        binance_kline(
            "nknusdt",
            minute(3),
            "0.370",
            "103.5",
            taker="1.25",  # close = open
            open_="0.370",
            high="0.372",
            low="0.369",
        ),
    ]
    with (
        FakeStream(serves(*recorded, *closed)).running() as fake,
        source(fake.url, ["nknusdt"]) as src,
    ):
        ticks = collect(src, 12)
    assert fake.received[0] == [{"method": "SUBSCRIBE", "params": ["nknusdt@kline_1m"], "id": 1}]
    assert {(t.symbol, t.volume_24h, t.source) for t in ticks} == {("nknusdt", None, "binance-ws")}
    # open at t, the extremes at t + 15 s and t + 30 s (low first when close >= open, high
    # first when it falls), the close at T with v (the minute's base volume, not V, its
    # taker-buy part); minute 1's high is below its close: no tick of it at all.
    assert [(t.time, t.price, t.volume) for t in ticks] == [
        *zip(times(0), [0.350, 0.348, 0.359, 0.355], [None, None, None, 100.5], strict=True),
        *zip(times(2), [0.360, 0.365, 0.351, 0.352], [None, None, None, 102.5], strict=True),
        *zip(times(3), [0.370, 0.369, 0.372, 0.370], [None, None, None, 103.5], strict=True),
    ]
    assert [
        (e["source"], e["symbol"], e["field"], e["value"], e["reason"])
        for e in events(logs, "value_rejected")
    ] == [
        (
            "binance-ws",
            "nknusdt",
            "kline",
            repr(["0.360", "0.361", "0.358", "0.362", "101.5"]),
            "high and low do not bracket open and close",
        )
    ]


def test_symbols_beyond_a_connections_limit_open_more_connections() -> None:
    symbols = ["aaausdt", "bbbusdt", "cccusdt", "dddusdt", "eeeusdt"]
    with FakeStream(serves()).running() as fake, source(fake.url, symbols, per_connection=2) as src:
        src.start()
        wait_for(lambda: sum(len(r) for r in fake.received) == 3)
    assert sorted(len(r[0]["params"]) for r in fake.received) == [1, 2, 2]
    assert sorted(p for r in fake.received for p in r[0]["params"]) == [
        f"{s}@kline_1m" for s in symbols
    ]


def test_subscribe_requests_are_paced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binance_ws, "PER_REQUEST", 2)
    arrivals: list[float] = []

    def script(peer: Peer) -> None:
        for _ in range(3):
            peer.recv()
            arrivals.append(time.monotonic())
        peer.silent()

    timing = Timing(**{**FAST.__dict__, "send_interval": 0.2})
    with (
        FakeStream(script).running() as fake,
        source(fake.url, ["a1", "b1", "c1", "d1", "e1"], timing=timing) as src,
    ):
        src.start()
        wait_for(lambda: len(arrivals) == 3)
    assert [len(m["params"]) for m in fake.received[0]] == [2, 2, 1]
    assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 0.15


def busy(refuse: Any, seconds: float = 4.0) -> Any:
    """A script that pushes an open-minute kline every 5 ms while it answers each SUBSCRIBE
    with `refuse(params)` (an error object, or None to accept and send a closed kline for each
    stream): a client that stops reading while it retries fills its queue and misses pongs."""

    def script(peer: Peer) -> None:
        deadline = time.monotonic() + seconds
        while not peer.stop.is_set() and time.monotonic() < deadline:
            peer.send(binance_kline("btcusdt", minute(0), "1.5", "2", closed=False))
            try:
                request = json.loads(peer.ws.recv(timeout=0.005))
            except TimeoutError:
                continue
            peer.received.append(request)
            error = refuse(request["params"])
            if error is not None:
                peer.send({"error": error, "id": request["id"]})
                continue
            peer.send({"result": None, "id": request["id"]})
            for stream in request["params"]:
                peer.send(binance_kline(stream.split("@")[0], minute(0), "1.5", "2"))

    return script


def test_a_refused_pair_in_a_batch_is_found_while_the_frames_go_on_being_read(
    logs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(binance_ws, "PER_REQUEST", 64)
    symbols = [f"p{i:02d}usdt" for i in range(64)]
    symbols[37] = "badpair"

    def refuse(params: list[str]) -> dict[str, Any] | None:  # names no stream
        return (
            {"code": 2, "msg": "Invalid request: bad stream name"}
            if "badpair@kline_1m" in params
            else None
        )

    timing = Timing(
        **{
            **FAST.__dict__,
            "silent_after": 5.0,
            "send_interval": 0.1,
            "ping_interval": 0.3,
            "ping_timeout": 0.5,
        }
    )
    with (
        FakeStream(busy(refuse)).running() as fake,
        source(fake.url, symbols, timing=timing) as src,
    ):
        ticks = collect(src, 4 * 63)
        wait_for(lambda: src.failed() == ["badpair"])
        assert src.fetch().missing == ["badpair"]
        assert fake.connections == 1  # never dropped by a missed pong
    # Each accepted pair's closed kline, once and whole: four ticks, the close at T.
    assert collections.Counter(t.symbol for t in ticks) == {s: 4 for s in symbols if s != "badpair"}
    assert sorted(t.symbol for t in closes(ticks)) == sorted(s for s in symbols if s != "badpair")
    assert {t.time for t in closes(ticks)} == {times(0)[3]}
    assert len(fake.received[0]) <= 1 + 2 * 6  # the batch, then two halves a level
    assert [(e["symbol"], e["error"]) for e in events(logs, "stream_subscribe_failed")] == [
        ("badpair", "Invalid request: bad stream name")
    ]
    assert not events(logs, "stream_disconnected")


def test_pairs_an_error_names_fail_and_the_others_are_asked_again_at_once(
    logs: list[dict[str, Any]],
) -> None:
    def refuse(params: list[str]) -> dict[str, Any] | None:
        if "badpair@kline_1m" in params:
            return {"code": 2, "msg": "Invalid request: invalid stream 'badpair@kline_1m'"}
        return None

    with (
        FakeStream(busy(refuse)).running() as fake,
        source(fake.url, ["btcusdt", "badpair", "ethusdt"]) as src,
    ):
        ticks = collect(src, 2 * 4)
        wait_for(lambda: src.failed() == ["badpair"])
    assert sorted(t.symbol for t in ticks) == ["btcusdt"] * 4 + ["ethusdt"] * 4
    assert sorted((t.symbol, t.time, t.volume) for t in closes(ticks)) == [
        ("btcusdt", times(0)[3], 2.0),
        ("ethusdt", times(0)[3], 2.0),
    ]
    assert [r["params"] for r in fake.received[0]] == [
        ["btcusdt@kline_1m", "badpair@kline_1m", "ethusdt@kline_1m"],
        ["btcusdt@kline_1m", "ethusdt@kline_1m"],
    ]


def test_a_refusal_naming_no_stream_reconnects_with_backoff_and_fails_no_pair(
    logs: list[dict[str, Any]],
) -> None:
    def rate_limited(peer: Peer) -> None:
        request = peer.recv()
        peer.send({"error": {"code": -1003, "msg": "Too many requests"}, "id": request["id"]})
        peer.silent()

    with (
        FakeStream(
            rate_limited, rate_limited, serves(binance_kline("btcusdt", minute(0), "10", "1"))
        ).running() as fake,
        source(fake.url, ["btcusdt", "ethusdt"]) as src,
    ):
        ticks = collect(src, 4)
        assert src.failed() == []
    assert [t.symbol for t in ticks] == ["btcusdt"] * 4 and fake.connections == 3
    assert [(t.time, t.price, t.volume) for t in ticks] == flat(0, 10.0, 1.0)
    assert [e["error"].split(": ", 1) for e in events(logs, "stream_subscription_refused")] == [
        [f"request {n} (2 streams)", "Too many requests"] for n in (1, 2)
    ]
    assert [e["attempt"] for e in events(logs, "stream_reconnect_wait")] == [1, 2]
    assert not events(logs, "stream_subscribe_failed")


def test_malformed_frames_are_counted_and_the_stream_goes_on(logs: list[dict[str, Any]]) -> None:
    frames = [
        binance_kline("btcusdt", minute(0), "10", "1"),
        '{"stream": "btcusdt@kl',
        '["not", "an", "object"]',
        binance_kline("btcusdt", minute(1), "11", "1"),
    ]
    with FakeStream(serves(*frames)).running() as fake, source(fake.url, ["btcusdt"]) as src:
        ticks = collect(src, 2 * 4)
        assert src.malformed == 2
    assert [(t.time, t.price, t.volume) for t in ticks] == flat(0, 10.0, 1.0) + flat(1, 11.0, 1.0)
    assert [e["malformed_total"] for e in events(logs, "stream_malformed_frame")] == [1, 2]


def test_a_connection_cut_mid_frame_is_replaced_and_resubscribed(
    logs: list[dict[str, Any]],
) -> None:
    def first(peer: Peer) -> None:
        request = peer.recv()
        peer.send({"result": None, "id": request["id"]})
        peer.send(binance_kline("btcusdt", minute(0), "10", "1"))
        time.sleep(0.1)
        peer.cut_mid_frame(json.dumps(binance_kline("btcusdt", minute(1), "11", "1")))

    second = serves(
        binance_kline("btcusdt", minute(1), "11", "1"),
        binance_kline("btcusdt", minute(2), "12", "1"),
    )
    with FakeStream(first, second).running() as fake, source(fake.url, ["btcusdt"]) as src:
        ticks = collect(src, 3 * 4)
        assert src.connects == 2
    assert [(t.time, t.price, t.volume) for t in ticks] == [
        *flat(0, 10.0, 1.0),
        *flat(1, 11.0, 1.0),
        *flat(2, 12.0, 1.0),
    ]
    assert [r[0]["params"] for r in fake.received] == [["btcusdt@kline_1m"]] * 2
    assert events(logs, "stream_disconnected") and events(logs, "stream_reconnect_wait")
    assert len(events(logs, "stream_gap")) == 1


def test_a_silent_server_is_replaced(logs: list[dict[str, Any]]) -> None:
    def mute(peer: Peer) -> None:
        peer.recv()
        peer.silent()  # no acknowledgement, no data: only the library's pongs

    with (
        FakeStream(mute, serves(binance_kline("btcusdt", minute(0), "10", "1"))).running() as fake,
        source(fake.url, ["btcusdt"]) as src,
    ):
        ticks = collect(src, 4)
    assert [(t.time, t.price, t.volume) for t in ticks] == flat(0, 10.0, 1.0)
    assert fake.connections == 2
    assert [e["error"] for e in events(logs, "stream_silent")] == ["no frame for 0.6 s"]


def test_close_stops_every_thread() -> None:
    with FakeStream(serves()).running() as fake:
        src = source(fake.url, ["a1", "b1", "c1"], per_connection=1)
        try:
            src.fetch()
            wait_for(lambda: fake.connections == 3)
        finally:
            src.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("stream-binance-ws")]
