"""kraken-ws against a local WebSocket server replaying Kraken's v1 trade frames."""

from __future__ import annotations

import time
from typing import Any

from cryptomonitor.models import Tick
from cryptomonitor.sources.http import JsonClient
from cryptomonitor.sources.streams import kraken as kraken_ws
from cryptomonitor.sources.streams.connection import Timing
from cryptomonitor.sources.streams.source import StreamSource
from tests.support.fakews import FakeStream, Peer, kraken_trades, recorded_frames, wait_for

FAST = Timing(
    silent_after=0.6,
    open_timeout=2.0,
    ping_interval=1.0,
    ping_timeout=1.0,
    send_interval=0.05,
    backoff_initial=0.05,
    backoff_max=0.2,
)


def source(url: str, symbols: list[str], buffer_max: int = 1000) -> StreamSource:
    return StreamSource(
        name=kraken_ws.NAME,
        unknown_hint=kraken_ws.UNKNOWN_HINT,
        url=url,
        symbols=symbols,
        exchange=kraken_ws.KrakenTrades,
        per_connection=kraken_ws.MAX_PAIRS,
        timing=FAST,
        buffer_max=buffer_max,
        client=JsonClient(timeout=2, attempts=1, deadline=5),
    )


def collect(src: StreamSource, n: int, timeout: float = 5.0) -> list[Tick]:
    ticks: list[Tick] = []
    wait_for(lambda: ticks.extend(src.fetch().ticks) or len(ticks) >= n, timeout)
    return ticks


def serves(*frames: Any) -> Any:
    def script(peer: Peer) -> None:
        peer.recv()
        for frame in frames:
            peer.send(frame)
        peer.silent()

    return script


def test_recorded_trades_are_summed_per_symbol_per_second() -> None:
    frames = recorded_frames("KRAKEN.trade.excerpt.ws")
    with (
        FakeStream(serves(*frames)).running() as fake,
        source(fake.url, ["sc-eur", "xmr-usd"]) as src,
    ):
        ticks = collect(src, 5)
    assert fake.received[0] == [
        {"event": "subscribe", "pair": ["SC/EUR", "XMR/USD"], "subscription": {"name": "trade"}}
    ]
    assert sorted((t.symbol, t.time.timestamp(), t.price, t.volume, t.source) for t in ticks) == [
        ("sc-eur", 1618678145.920708, 0.04299, 15979.71727919, "kraken-ws"),
        ("sc-eur", 1618678155.720582, 0.043, 10883.16665529, "kraken-ws"),  # 2 trades
        ("sc-eur", 1618678157.946108, 0.04296, 6081.72663, "kraken-ws"),  # 2 trades
        ("sc-eur", 1618678158.135041, 0.04304, 20000.0, "kraken-ws"),
        ("xmr-usd", 1618678142.557535, 354.11, 0.89594024, "kraken-ws"),
    ]


def test_a_seconds_volume_is_the_exact_decimal_sum_of_its_trades() -> None:
    now = int(time.time()) - 30.0
    trades = [
        ("60000.0", "0.1", now + 0.1),
        ("60000.5", "0.2", now + 0.2),  # 0.1 + 0.2
        ("60001.0", "1", now + 1.5),
    ]  # a later second closes the first
    with (
        FakeStream(serves(kraken_trades(42, "XBT/USD", trades))).running() as fake,
        source(fake.url, ["xbt-usd"]) as src,
    ):
        ticks = collect(src, 1)
    assert 0.1 + 0.2 != 0.3  # the float sum is 0.30000000000000004
    assert [(t.price, t.volume) for t in ticks[:1]] == [(60000.5, 0.3)]


def test_a_refused_pair_is_named_and_the_others_stream(logs: list[dict[str, Any]]) -> None:
    now = time.time() - 30
    refusal = {
        "errorMessage": "Currency pair not supported XBT/FOO",
        "event": "subscriptionStatus",
        "pair": "XBT/FOO",
        "status": "error",
        "subscription": {"name": "trade"},
    }
    trades = kraken_trades(42, "XBT/USD", [("60000.1", "0.5", now)])
    with (
        FakeStream(serves(refusal, trades)).running() as fake,
        source(fake.url, ["xbt-usd", "xbt-foo"]) as src,
    ):
        ticks = collect(src, 1)
        assert src.fetch().missing == ["xbt-foo"]
    assert [(t.symbol, t.volume) for t in ticks] == [("xbt-usd", 0.5)]
    assert [(e["symbol"], e["error"]) for e in logs if e["event"] == "stream_subscribe_failed"] == [
        ("xbt-foo", "Currency pair not supported XBT/FOO")
    ]


def test_a_slow_consumer_loses_the_oldest_ticks_counted_and_logged(
    logs: list[dict[str, Any]],
) -> None:
    start = int(time.time()) - 100
    frames = [
        kraken_trades(42, "XBT/USD", [(f"{60000 + i}.0", "0.1", start + i + 0.5)])
        for i in range(30)
    ]
    with (
        FakeStream(serves(*frames)).running() as fake,
        source(fake.url, ["xbt-usd"], buffer_max=5) as src,
    ):
        src.start()  # nobody fetches while the 30 one-second ticks arrive
        wait_for(lambda: src.buffer.dropped == 25)
        ticks = src.fetch().ticks
    assert [t.price for t in ticks] == [60025.0 + i for i in range(5)]  # the newest five
    assert len([e for e in logs if e["event"] == "stream_buffer_full"]) == 1
    assert [e["dropped"] for e in logs if e["event"] == "stream_ticks_dropped"] == [25]
    assert fake.connections == 1


def test_a_reconnect_gap_is_measured_per_symbol_from_the_exchanges_times(
    logs: list[dict[str, Any]],
) -> None:
    now = int(time.time()) - 30.0

    def first(peer: Peer) -> None:
        peer.recv()
        peer.send(kraken_trades(42, "XBT/USD", [("60000.0", "0.1", now)]))
        peer.send(kraken_trades(43, "ETH/EUR", [("3000.0", "1", now + 0.5)]))
        peer.ws.socket.close()  # its seconds still open; no close frame: the TCP just ends

    def empty(peer: Peer) -> None:
        peer.recv()
        peer.silent(0.4)  # then closes: it delivered nothing, the backoff goes on growing

    third = serves(
        kraken_trades(42, "XBT/USD", [("60001.0", "0.2", now + 5)]),
        kraken_trades(43, "ETH/EUR", [("3001.0", "2", now + 7.25)]),
    )
    with (
        FakeStream(first, empty, third).running() as fake,
        source(fake.url, ["xbt-usd", "eth-eur"]) as src,
    ):
        ticks = collect(src, 4)
    assert [(t.symbol, t.price) for t in ticks] == [
        ("xbt-usd", 60000.0),
        ("eth-eur", 3000.0),
        ("xbt-usd", 60001.0),
        ("eth-eur", 3001.0),
    ]
    assert fake.connections == 3
    assert [e["attempt"] for e in logs if e["event"] == "stream_reconnect_wait"] == [1, 2]
    assert [(e["symbol"], e["seconds"]) for e in logs if e["event"] == "stream_gap"] == [
        ("xbt-usd", 5.0),
        ("eth-eur", 6.75),
    ]
