"""binance-ws into the database: closed klines from a local WebSocket server go through the
pipeline, and the candles' V is the exchange's traded volume, exact at every candle size."""

from __future__ import annotations

import decimal
import pathlib
import random
import time

import psycopg

from cryptomonitor.sources.http import JsonClient
from cryptomonitor.sources.streams import binance as binance_ws
from cryptomonitor.sources.streams.connection import Timing
from cryptomonitor.sources.streams.source import StreamSource
from tests.support import oracle
from tests.support.fakews import FakeStream, Peer, binance_kline, wait_for
from tests.support.helpers import pipeline

FAST = Timing(
    silent_after=5.0,
    open_timeout=2.0,
    ping_interval=1.0,
    ping_timeout=1.0,
    send_interval=0.05,
    backoff_initial=0.05,
    backoff_max=0.2,
)
PAIRS = ["aaausdt", "bbbusdt"]
MINUTES = 150  # two and a half hours: whole and partial hours


def test_klines_become_candles_whose_volume_is_the_traded_volume(
    db_url: str, flavour: str, tmp_path: pathlib.Path
) -> None:
    rng = random.Random(4)
    base = (int(time.time()) // 3600 - 4) * 3_600_000  # whole hours, in the past
    volumes = {(p, m): f"{rng.uniform(0, 900):.5f}" for p in PAIRS for m in range(MINUTES)}
    frames = [
        binance_kline(p, base + m * 60_000, f"{100 + m % 7}.25", volumes[p, m])
        for m in range(MINUTES)
        for p in PAIRS
    ]

    def script(peer: Peer) -> None:
        request = peer.recv()
        peer.send({"result": None, "id": request["id"]})
        for frame in frames:
            peer.send(frame)
        peer.silent()

    p = pipeline(db_url, tmp_path / "alerts.txt")
    with (
        FakeStream(script).running() as fake,
        StreamSource(
            name=binance_ws.NAME,
            unknown_hint=binance_ws.UNKNOWN_HINT,
            url=fake.url,
            symbols=PAIRS,
            exchange=binance_ws.BinanceKlines,
            per_connection=1024,
            client=JsonClient(timeout=2, attempts=1, deadline=5),
            timing=FAST,
        ) as src,
    ):
        stored = [0]

        def drained() -> bool:
            p.submit(src.fetch().ticks)
            stored[0] += p.flush().new
            return stored[0] >= 4 * len(frames)  # four ticks a kline

        wait_for(drained, timeout=20)
    with psycopg.connect(db_url, autocommit=True) as conn:
        oracle.refresh(conn, flavour)
        minutes = conn.execute(
            "SELECT symbol, bucket, volume, volume_24h, ticks FROM ohlcv_1m ORDER BY symbol, bucket"
        ).fetchall()
        hours = conn.execute(
            "SELECT symbol, bucket, volume FROM ohlcv_1h ORDER BY symbol, bucket"
        ).fetchall()
    assert [(s, int(b.timestamp()) * 1000, v, v24, n) for s, b, v, v24, n in minutes] == [
        (pair, base + m * 60_000, decimal.Decimal(volumes[pair, m]), None, 4)
        for pair in PAIRS
        for m in range(MINUTES)
    ]
    want = {}
    for (pair, m), v in volumes.items():
        hour = (base + m * 60_000) // 3_600_000 * 3_600_000
        want[pair, hour] = want.get((pair, hour), decimal.Decimal(0)) + decimal.Decimal(v)
    assert {(s, int(b.timestamp()) * 1000): v for s, b, v in hours} == want
    assert len(want) == 2 * 3  # two hours whole, one half
