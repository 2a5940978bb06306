"""`cryptomonitor demo`: three real days of market data that end now, through the live pipeline."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import functools
import gzip
import itertools
import json
import math
import pathlib
import statistics
import threading
import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from cryptomonitor import config
from cryptomonitor.alerting import lineformat
from cryptomonitor.api import application
from cryptomonitor.commands import demo as demo_command
from cryptomonitor.sources import demo
from tests.support import pgserver
from tests.support.helpers import lines
from tests.support.paths import ROOT, SHARED
from tests.support.procs import Proc, cli

DEMODATA = ROOT / "cryptomonitor" / "sources" / "demodata"
BYBIT = SHARED / "market" / "bybit_1m"
MINUTE = dt.timedelta(minutes=1)


@functools.cache
def shipped(symbol: str) -> list[list[str]]:
    """The rows of a demo symbol's CSV, read with the csv module (not the package's parser)."""
    with gzip.open(DEMODATA / demo.FILES[symbol], "rt", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["timestamp", "open", "high", "low", "close", "volume"]
    return rows[1:]


def bar_of(symbol: str, minute: dt.datetime) -> list[float]:
    """The shipped bar a wall-clock minute plays: minutes since 1970 modulo the rows."""
    rows = shipped(symbol)
    return [float(x) for x in rows[int(minute.timestamp()) // 60 % len(rows)][1:]]


def test_the_windows_are_the_same_three_days_of_consecutive_real_bars() -> None:
    firsts = set()
    for symbol in demo.FILES:
        rows = shipped(symbol)
        stamps = [dt.datetime.fromisoformat(r[0]) for r in rows]
        assert len(rows) == 3 * 1440 == demo.PERIOD
        assert all(b - a == MINUTE for a, b in itertools.pairwise(stamps))
        firsts.add(stamps[0])
        # Where the window wraps, its last close meets its first open within 0.3%.
        assert abs(float(rows[0][1]) / float(rows[-1][4]) - 1) < 0.003
    assert firsts == {dt.datetime(2025, 6, 17, 15, 40, tzinfo=dt.UTC)}
    assert sum(f.stat().st_size for f in DEMODATA.glob("*.csv.gz")) < 300_000


@pytest.mark.skipif(not BYBIT.is_dir(), reason=f"the 30 days of Bybit bars are not at {BYBIT}")
def test_the_shipped_rows_are_the_bybit_rows_unchanged() -> None:
    for symbol, name in demo.FILES.items():
        with (BYBIT / name.replace("_demo.csv.gz", ".csv")).open(newline="") as f:
            source = {r[0]: r for r in csv.reader(f)}
        assert all(source[r[0]] == r for r in shipped(symbol))


def test_a_minute_gets_the_bar_of_its_place_in_the_cycle() -> None:
    bars = demo.window("demo-eth")
    (seam,) = demo.seams(
        dt.datetime(2030, 3, 4, tzinfo=dt.UTC), dt.datetime(2030, 3, 7, tzinfo=dt.UTC)
    )
    assert int(seam.timestamp()) // 60 % demo.PERIOD == 0
    played = list(demo.bars_between(bars, seam - 2 * MINUTE, seam + MINUTE))
    assert [b.time for b in played] == [seam - 2 * MINUTE, seam - MINUTE, seam]
    assert [b.close for b in played] == [bars[-2].close, bars[-1].close, bars[0].close]


def test_volume_24h_is_the_trailing_day_round_the_cycle_and_any_start_agrees() -> None:
    end = dt.datetime(2031, 5, 6, 7, 8, tzinfo=dt.UTC)
    ticks = list(demo.ticks("demo-doge", end - dt.timedelta(hours=30), end))
    later = list(demo.ticks("demo-doge", end - dt.timedelta(hours=2), end))
    assert ticks[-len(later) :] == later  # the same ticks for the same minutes, whatever the start
    for tick in ticks[3::400]:  # each bar's close tick: check by hand against the shipped rows
        minute = tick.time.replace(second=0)
        by_hand = sum(bar_of("demo-doge", minute - k * MINUTE)[4] for k in range(1440))
        assert tick.volume_24h == pytest.approx(by_hand, rel=1e-12)
    assert len({t.volume_24h for t in ticks}) > 1000


def run_over_a_seam(db_url: str, alerts_file: pathlib.Path, seam: dt.datetime) -> None:
    settings = config.load({"DATABASE_URL": db_url, "CRYPTOMONITOR_ALERTS_FILE": str(alerts_file)})
    now = seam + dt.timedelta(hours=36)  # the default 72 hours, the seam in the middle
    summary = demo_command.run_demo(settings, threading.Event(), now=now)
    assert summary.stored == 3 * 4 * 72 * 60


@pytest.mark.slow
def test_the_cycle_raises_alerts_on_each_coin_and_none_at_the_seam(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    alerts_file = tmp_path / "alerts.txt"
    (seam,) = demo.seams(
        dt.datetime(2029, 1, 1, tzinfo=dt.UTC), dt.datetime(2029, 1, 4, tzinfo=dt.UTC)
    )
    run_over_a_seam(db_url, alerts_file, seam)
    events = [lineformat.parse_line(x) for x in lines(alerts_file)]
    alerts = collections.Counter(e["symbol"] for e in events if e["event"] == "ALERT")
    assert set(alerts) == set(demo.FILES), alerts
    near = [e for e in events if abs(dt.datetime.fromisoformat(e["time"]) - seam) <= MINUTE]
    assert near == []
    with psycopg.connect(db_url) as conn:
        # Every 1-minute candle of the run is the shipped bar of its minute.
        candles = conn.execute(
            "SELECT symbol, bucket, open, high, low, close FROM ohlcv_1m ORDER BY symbol, bucket"
        ).fetchall()
        assert len(candles) == 3 * 72 * 60
        for symbol, bucket, *ohlc in candles:
            assert ohlc == bar_of(symbol, bucket)[:4], (symbol, bucket)
        moves = conn.execute(
            "SELECT symbol, count(DISTINCT volume_24h) FROM ticks GROUP BY symbol"
        ).fetchall()
        assert all(n > 1000 for _, n in moves), moves


def test_two_runs_into_two_databases_write_the_same_ticks_for_the_same_minutes(
    db_url: str, pg_server: pgserver.Server, tmp_path: pathlib.Path
) -> None:
    now = dt.datetime(2031, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    query = (
        "SELECT time, symbol, price, volume_24h, volume FROM ticks WHERE time < %s ORDER BY 1, 2"
    )
    with pgserver.database(pg_server) as other_url:
        got = []
        for url, end in ((db_url, now), (other_url, now + dt.timedelta(minutes=70))):
            settings = config.load(
                {"DATABASE_URL": url, "CRYPTOMONITOR_ALERTS_FILE": str(tmp_path / "a.txt")}
            )
            demo_command.run_demo(settings, threading.Event(), hours=3, now=end)
            with psycopg.connect(url) as conn:
                got.append(conn.execute(query, (now,)).fetchall())
    overlap = [r for r in got[0] if r[0] >= now - dt.timedelta(hours=3) + dt.timedelta(minutes=70)]
    assert len(overlap) == 3 * 4 * 110 and overlap == got[1]


def test_demo_lights_up_the_api_the_views_and_the_alerts_file(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    alerts_file = tmp_path / "alerts.txt"
    result = cli("demo", DATABASE_URL=db_url, CRYPTOMONITOR_ALERTS_FILE=str(alerts_file))
    assert result.returncode == 0, result.stderr
    done = next(json.loads(x) for x in result.stderr.splitlines() if '"demo_done"' in x)
    assert done["stored"] == done["ticks"] == 3 * 72 * 60 * 4  # 4 ticks a minute, 72 h
    written = lines(alerts_file)
    assert done["alerts"] == len(written)
    assert {lineformat.parse_line(x)["symbol"] for x in written} == set(demo.FILES)
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
        bucket, o, h, lo, c = conn.execute(
            "SELECT bucket, open, high, low, close FROM ohlcv_1m WHERE symbol = 'demo-btc' "
            "ORDER BY bucket DESC OFFSET 5 LIMIT 1"
        ).fetchone()  # type: ignore[misc]
    assert [o, h, lo, c] == bar_of("demo-btc", bucket)[:4]
    # The oracle: the coefficient of variation of each coin's prices of the last 24 hours.
    cv = {s: statistics.stdev(p) / statistics.fmean(p) * 100 for s, p in window.items()}
    by_cv = sorted(cv, key=cv.__getitem__, reverse=True)
    with TestClient(application.create_app(db_url)) as client:
        assert client.get("/health").json()["status"] == "ok"
        assert client.get("/rank/demo-btc?by=stddev").json()["rank"] == 1
        ranking = client.get("/rank").json()["ranking"]
        assert [r["symbol"] for r in ranking] == by_cv
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
