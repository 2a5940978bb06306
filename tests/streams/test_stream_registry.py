"""The stream sources are registered and configured like the poll sources."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from cryptomonitor import config
from cryptomonitor.exceptions import ConfigError
from cryptomonitor.sources import registry
from cryptomonitor.sources.streams import gaps
from cryptomonitor.sources.streams.source import StreamSource
from tests.support.fakews import FakeStream, Peer, binance_kline, wait_for


def test_binance_ws_runs_from_the_settings_and_stops_its_threads() -> None:
    open_ms = (int(time.time()) // 60 - 5) * 60_000

    def script(peer: Peer) -> None:
        request = peer.recv()
        peer.send({"result": None, "id": request["id"]})
        peer.send(binance_kline("btcusdt", open_ms, "64000.5", "12.25"))
        peer.silent()

    with FakeStream(script).running() as fake:
        settings = config.load(
            {
                "CRYPTOMONITOR_SOURCE": "binance-ws",
                "CRYPTOMONITOR_COINS": "BTCUSDT",
                "CRYPTOMONITOR_BINANCE_WS_URL": fake.url,
                "CRYPTOMONITOR_STREAM_SILENT_AFTER": "2s",
            }
        )
        source = registry.build(settings, 5.0)
        assert isinstance(source, StreamSource) and source.timing.silent_after == 2.0
        assert registry.shortest_poll(settings, source) == 0
        # Its REST klines (gap repair, start-up backfill) are paced for Binance's weight limit.
        assert source.client.min_interval == gaps.REST_INTERVAL > 0
        assert source.gaps is not None and source.gaps.budget == 15.0  # half the 30 s poll
        ticks = []
        try:
            wait_for(lambda: ticks.extend(source.fetch().ticks) or len(ticks) >= 4)
        finally:
            source.close()
    # The kline's four ticks (a flat one: o = h = l = c), the minute's volume on its close.
    assert [
        (round(t.time.timestamp() * 1000) - open_ms, t.symbol, t.price, t.volume, t.source)
        for t in ticks
    ] == [
        (ms, "btcusdt", 64000.5, 12.25 if ms == 59_999 else None, "binance-ws")
        for ms in (0, 15_000, 30_000, 59_999)
    ]
    assert not [t for t in threading.enumerate() if t.name.startswith("stream-")]


def test_kraken_ws_is_registered_without_a_history_to_backfill() -> None:
    settings = config.load(
        {"CRYPTOMONITOR_SOURCE": "kraken-ws", "CRYPTOMONITOR_COINS": "xbt-usd,eth-eur"}
    )
    source = registry.build(settings, 5.0)
    assert isinstance(source, StreamSource) and source.url == "wss://ws.kraken.com"
    now = dt.datetime.now(dt.UTC)
    assert registry.history_of(settings, source).chunks(now - dt.timedelta(days=1), now, now) == []
    assert source.connections == []  # nothing opened before the first fetch


def test_a_stream_url_must_be_a_websocket_url() -> None:
    with pytest.raises(ConfigError, match=r"CRYPTOMONITOR_KRAKEN_WS_URL: .* not a WebSocket"):
        config.load({"CRYPTOMONITOR_KRAKEN_WS_URL": "https://ws.kraken.com"})
