"""`cryptomonitor demo`: a real day of market data that ends now, through the live pipeline."""

from __future__ import annotations

import datetime as dt
import json
import math
import pathlib
import statistics
import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from cryptomonitor.alerting import lineformat
from cryptomonitor.api import application
from cryptomonitor.sources import demo
from tests.support.helpers import lines
from tests.support.procs import Proc, cli


def test_the_excerpts_are_whole_days_of_real_bars() -> None:
    for symbol in demo.FILES:
        day = demo.excerpt(symbol)
        assert len(day) == 1440 and day[0].time == dt.datetime(2025, 6, 22, tzinfo=dt.UTC)
    btc = demo.excerpt("demo-btc")
    assert min(b.low for b in btc) == 98125.0  # the dip of 20:18, as in the source data


def test_a_minute_gets_the_bar_of_its_time_of_day() -> None:
    day = demo.excerpt("demo-eth")
    start = dt.datetime(2030, 3, 4, 23, 58, tzinfo=dt.UTC)
    bars = list(demo.bars_between(day, start, start + dt.timedelta(minutes=3)))
    assert [b.time.minute for b in bars] == [58, 59, 0]
    assert [b.close for b in bars] == [day[1438].close, day[1439].close, day[0].close]


def test_demo_lights_up_the_api_the_views_and_the_alerts_file(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    alerts_file = tmp_path / "alerts.txt"
    result = cli("demo", DATABASE_URL=db_url, CRYPTOMONITOR_ALERTS_FILE=str(alerts_file))
    assert result.returncode == 0, result.stderr
    done = next(json.loads(x) for x in result.stderr.splitlines() if '"demo_done"' in x)
    assert done["stored"] == done["ticks"] == 3 * 24 * 60 * 4  # 4 ticks a minute, 24 h
    written = lines(alerts_file)
    assert written and done["alerts"] == len(written)
    assert {lineformat.parse_line(x)["symbol"] for x in written} <= set(demo.FILES)
    with psycopg.connect(db_url) as conn:
        newest, sources = conn.execute(
            "SELECT max(time), array_agg(DISTINCT source) FROM ticks"
        ).fetchone()  # type: ignore[misc]
        assert sources == ["demo"]
        assert dt.timedelta(0) <= dt.datetime.now(dt.UTC) - newest < dt.timedelta(minutes=1)
        ranked = conn.execute("SELECT symbol FROM volatility_24h ORDER BY rank").fetchall()
        assert ranked == [("demo-btc",), ("demo-eth",), ("demo-doge",)]  # by price level
        window = dict(
            conn.execute(
                "SELECT symbol, array_agg(price) FROM ticks WHERE time >= last_24h_start()"
                " GROUP BY symbol"
            ).fetchall()
        )
        # A candle is the excerpt's bar of the same time of day.
        bucket, o, h, lo, c = conn.execute(
            "SELECT bucket, open, high, low, close FROM ohlcv_1m WHERE symbol = 'demo-btc' "
            "ORDER BY bucket DESC OFFSET 5 LIMIT 1"
        ).fetchone()  # type: ignore[misc]
    bar = demo.excerpt("demo-btc")[bucket.hour * 60 + bucket.minute]
    assert (o, h, lo, c) == (bar.open, bar.high, bar.low, bar.close)
    # Relative to its price, BTC was the calmest of the three that day.
    cv = {s: statistics.stdev(p) / statistics.fmean(p) * 100 for s, p in window.items()}
    assert sorted(cv, key=cv.__getitem__, reverse=True) == ["demo-doge", "demo-eth", "demo-btc"]
    with TestClient(application.create_app(db_url)) as client:
        assert client.get("/health").json()["status"] == "ok"
        assert client.get("/rank/demo-btc?by=stddev").json()["rank"] == 1
        ranking = client.get("/rank").json()["ranking"]
        assert [r["symbol"] for r in ranking] == ["demo-doge", "demo-eth", "demo-btc"]
        for r in ranking:
            assert math.isclose(r["cv_pct"], cv[r["symbol"]], rel_tol=1e-9)
        assert client.get("/metrics/demo-eth").json()["summary"]["samples"] >= 5750
    again = cli("demo", DATABASE_URL=db_url, CRYPTOMONITOR_ALERTS_FILE=str(alerts_file))
    assert again.returncode == 0, again.stderr
    repeat = next(json.loads(x) for x in again.stderr.splitlines() if '"demo_done"' in x)
    assert repeat["stored"] <= 3 * 4 and repeat["duplicates"] == 0  # only the last seconds
    assert lines(alerts_file)[: len(written)] == written


@pytest.mark.slow
def test_demo_follow_goes_on_in_real_time_until_stopped(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    proc = Proc(
        "demo",
        "--hours",
        "1",
        "--follow",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
    )
    try:
        proc.wait_for(lambda: bool(proc.named("demo_history")))
        with psycopg.connect(db_url, autocommit=True) as conn:

            def newest() -> dt.datetime:
                return conn.execute("SELECT max(time) FROM ticks").fetchone()[0]  # type: ignore[index,no-any-return]

            first = newest()
            deadline = time.monotonic() + 25
            while newest() == first and time.monotonic() < deadline:
                time.sleep(0.5)
            assert newest() > first  # a tick of the next 15-second slot arrived
    finally:
        code = proc.stop()
    assert code == 0
