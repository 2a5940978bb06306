"""Backfill from the source's history, against a fake CoinGecko serving ``/simple/price`` and
``/coins/{id}/market_chart/range`` in their exact formats.

A market of bitcoin at a steady 100 (5-minutely in the history, a spike of 400 in the middle of
the gap the fetcher missed) and a live price of 100 at every poll.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import threading
import time
from typing import Any

import psycopg
import pytest

from tests.support.fakeapi import Answer, FakeCoinGecko
from tests.support.helpers import lines
from tests.support.procs import Proc, cli

STEP = 300  # the history's points: 5-minutely, as CoinGecko within the last day


class Market:
    """The fake API: a history of points every STEP s, one of them a spike, and a live price."""

    def __init__(self, fake: FakeCoinGecko, spike_at: int) -> None:
        self.spike_at = spike_at
        self.ranges: list[tuple[int, int]] = []
        self.fail_from: int | None = None  # range requests starting here answer 500
        self.lock = threading.Lock()
        fake.responder = self.respond

    def price(self, t: int) -> float:
        return 400.0 if t == self.spike_at else 100.0

    def respond(self, path: str, query: dict[str, str]) -> Answer:
        now = int(time.time())
        if path == "/api/v3/simple/price":
            return Answer(
                200, {"bitcoin": {"usd": 100.0, "usd_24h_vol": 5e9, "last_updated_at": now}}
            )
        if path == "/api/v3/coins/bitcoin/market_chart/range":
            start, end = int(query["from"]), int(query["to"])
            with self.lock:
                self.ranges.append((start, end))
            if self.fail_from is not None and start >= self.fail_from:
                return Answer(500, {"error": "scripted failure"})
            points = range(-(-start // STEP) * STEP, min(end, now) + 1, STEP)
            body: dict[str, Any] = {
                "prices": [[t * 1000, self.price(t)] for t in points],
                "market_caps": [[t * 1000, 1.9e12] for t in points],
                "total_volumes": [[t * 1000, 5e9] for t in points],
            }
            return Answer(200, body)
        return Answer(404, {"error": "not found"})


def store_history(db_url: str, until: int, minutes: int) -> None:
    """What the fetcher stored before it stopped: a tick a minute up to `until`."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO ticks (time, symbol, price, volume_24h, source)"
            " SELECT to_timestamp(%s - m * 60), 'bitcoin', 100.0, 5e9, 'coingecko'"
            " FROM generate_series(0, %s) AS m",
            (until, minutes),
        )


def run_policies(db_url: str) -> None:
    """TimescaleDB: materialize the candles as the policies would (jobs are run by hand here)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        for (job,) in conn.execute(
            "SELECT job_id FROM timescaledb_information.jobs"
            " WHERE proc_name = 'policy_refresh_continuous_aggregate'"
        ):
            conn.execute(f"CALL run_job({int(job)})")


@pytest.mark.slow
def test_a_fetcher_down_for_30_minutes_fills_the_gap_without_alerts(
    db_url: str, flavour: str, fake_api: FakeCoinGecko, tmp_path: pathlib.Path
) -> None:
    now = int(time.time())
    stopped = now - 30 * 60
    market = Market(fake_api, spike_at=(stopped // STEP + 3) * STEP)
    store_history(db_url, stopped, minutes=60)
    if flavour == "timescaledb":
        run_policies(db_url)  # the candles are materialized up to now: the gap is empty there
    alerts_file = tmp_path / "alerts.txt"
    app = Proc(
        "run",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_COINGECKO_URL=fake_api.url,
        CRYPTOMONITOR_COINS="bitcoin",
        CRYPTOMONITOR_POLL_INTERVAL="0.5",
        CRYPTOMONITOR_ALERTS_FILE=str(alerts_file),
    )
    try:
        app.wait_for(lambda: bool(app.named("gap_backfilled")) and bool(app.named("poll")))
    finally:
        assert app.stop() == 0, app.log()
    expected = {t for t in range(-(-(stopped + 1) // STEP) * STEP, now + 1, STEP)}
    with psycopg.connect(db_url) as conn:
        filled = {
            int(t)
            for (t,) in conn.execute(
                "SELECT extract(epoch FROM time)::bigint FROM ticks"
                " WHERE source = 'coingecko-history'"
            )
        }
        spike = conn.execute(
            "SELECT price FROM ticks WHERE time = to_timestamp(%s)", (market.spike_at,)
        ).fetchone()
        raised = conn.execute("SELECT count(*) FROM alerts").fetchone()
        buckets = {
            int(t)
            for (t,) in conn.execute(
                "SELECT extract(epoch FROM bucket)::bigint FROM ohlcv_1m"
                " WHERE symbol = 'bitcoin' AND bucket > to_timestamp(%s)",
                (stopped,),
            )
        }
    assert expected and filled >= {t for t in expected if t < now - 60}
    assert spike == (400.0,)
    assert raised == (0,) and not lines(alerts_file), "a backfilled tick raised an alert"
    assert {t for t in filled} <= buckets, "the candles do not cover the gap"
    assert market.ranges and all(e - s <= 86_401 for s, e in market.ranges)


def test_backfill_command_stores_a_period_once_and_resumes(
    db_url: str, fake_api: FakeCoinGecko, tmp_path: pathlib.Path
) -> None:
    now = int(time.time())
    market = Market(fake_api, spike_at=(now - 3 * 3600) // STEP * STEP)
    common = {
        "DATABASE_URL": db_url,
        "CRYPTOMONITOR_COINGECKO_URL": fake_api.url,
        "CRYPTOMONITOR_COINS": "bitcoin",
        "CRYPTOMONITOR_HTTP_ATTEMPTS": "1",
        "CRYPTOMONITOR_ALERTS_FILE": str(tmp_path / "alerts.txt"),
    }
    start = dt.datetime.fromtimestamp(now - 200 * 86400, dt.UTC).isoformat()
    # One end for the three runs: with --to left at "now", a run that starts after the next
    # point of the market's grid would rightly store that point.
    end = dt.datetime.fromtimestamp(now, dt.UTC).isoformat()
    market.fail_from = now - 120 * 86400  # the second request (from 111 days ago) fails
    first = cli("backfill", "--from", start, "--to", end, **common)
    assert first.returncode == 1 and "500" in first.stderr, first.stderr
    with psycopg.connect(db_url) as conn:
        (stored,) = conn.execute("SELECT count(*) FROM ticks").fetchone() or (0,)
    assert stored == 89 * 86400 // STEP, "the first request's ticks were not kept"
    market.fail_from = None
    asked = len(market.ranges)
    second = cli("backfill", "--from", start, "--to", end, **common)
    assert second.returncode == 0, second.stderr
    resumed = market.ranges[asked]
    assert resumed[0] >= now - 111 * 86400 - 1, "it fetched the stored part again"
    third = cli("backfill", "--from", start, "--to", end, **common)
    assert "backfill: 0 ticks stored" in third.stderr
    with psycopg.connect(db_url) as conn:
        (total,) = conn.execute("SELECT count(DISTINCT time) FROM ticks").fetchone() or (0,)
        (rows,) = conn.execute("SELECT count(*) FROM ticks").fetchone() or (0,)
        assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (0,)
    assert total == rows >= 200 * 86400 // STEP - 2
    assert not lines(tmp_path / "alerts.txt")


def test_backfill_takes_no_alerts_file_rules_or_receivers(
    db_url: str, fake_api: FakeCoinGecko, tmp_path: pathlib.Path
) -> None:
    """A backfill raises no alert: an alerts file it could not create, and rules and receivers
    files that do not exist, are no settings of its own: it touches none of them."""
    now = int(time.time())
    Market(fake_api, spike_at=(now - 3600) // STEP * STEP)
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli(
        "backfill",
        "--from",
        dt.datetime.fromtimestamp(now - 6 * 3600, dt.UTC).isoformat(),
        "--to",
        dt.datetime.fromtimestamp(now, dt.UTC).isoformat(),
        DATABASE_URL=db_url,
        CRYPTOMONITOR_COINGECKO_URL=fake_api.url,
        CRYPTOMONITOR_COINS="bitcoin",
        CRYPTOMONITOR_HTTP_ATTEMPTS="1",
        CRYPTOMONITOR_ALERTS_FILE=str(blocker / "alerts.txt"),
        CRYPTOMONITOR_RULES_FILE=str(tmp_path / "no-rules.toml"),
        CRYPTOMONITOR_RECEIVERS_FILE=str(tmp_path / "no-receivers.toml"),
    )
    assert result.returncode == 0, result.stderr
    with psycopg.connect(db_url) as conn:
        (stored,) = conn.execute("SELECT count(*) FROM ticks").fetchone() or (0,)
        assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (0,)
    assert stored >= 6 * 3600 // STEP and f"backfill: {stored} ticks stored" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
