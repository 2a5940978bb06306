"""Every example query in sql/examples/ runs, and says what its comment promises."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import math
import pathlib
import re
import shutil
import statistics
import subprocess

import psycopg
import pytest

from tests.support import oracle, pgserver
from tests.support.paths import FIXTURES, ROOT

QUERIES = sorted((ROOT / "sql" / "examples").glob("*.sql"))


@pytest.fixture
def live_day(conn: psycopg.Connection, flavour: str) -> list[tuple[dt.datetime, float, float]]:
    """A real day of BTC shifted to end now, stored as 'bitcoin', with a 20-minute hole."""
    now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    bars = oracle.read_bars(FIXTURES / "BTCUSDT_1m_2025-05-30_day1.csv")
    shift = now - dt.timedelta(minutes=2) - bars[-1]["time"]  # type: ignore[operator]
    ticks = [(t + shift, p, v) for t, p, v in oracle.bar_ticks(bars)]
    hole_start, hole_end = ticks[-400][0], ticks[-320][0]
    ticks = [x for x in ticks if not hole_start < x[0] < hole_end]
    traded = {
        t + dt.timedelta(seconds=45) + shift: v  # each bar's volume on its close
        for t, v in oracle.bar_volumes(FIXTURES / "BTCUSDT_1m_2025-05-30_day1.csv").items()
    }
    oracle.copy_ticks(conn, "bitcoin", ticks, traded)
    oracle.refresh(conn, flavour)
    return ticks


def _is_header(line: str) -> bool:
    return bool(re.fullmatch(r"[a-z_][a-z_0-9]*(,[a-z_][a-z_0-9]*)*", line))


def _run(
    url: str, path: pathlib.Path, pg_server: pgserver.Server, symbol: str | None = "bitcoin"
) -> list[list[list[str]]]:
    """The file run as an analyst runs it: psql -v symbol=... -f FILE; each result set's rows."""
    psql = shutil.which("psql")
    if pg_server.bindir is not None and (pg_server.bindir / "psql").exists():
        psql = str(pg_server.bindir / "psql")
    if psql is None:
        pytest.skip("psql not found: the examples are psql scripts")
    variables = ["-v", f"symbol={symbol}"] if symbol else []
    out = subprocess.run(
        [psql, "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1", *variables, "-f", str(path), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    results: list[list[list[str]]] = []
    for line in out.splitlines():
        if _is_header(line):
            results.append([])
        else:
            results[-1].append(next(csv.reader([line])))
    return results


def test_there_are_examples() -> None:
    assert {p.stem for p in QUERIES} >= {
        "candles_last_24h",
        "most_volatile",
        "alerts_last_day",
        "data_gaps",
        "price_vs_average",
        "volume_surge",
    }


@pytest.mark.parametrize("path", QUERIES, ids=[p.stem for p in QUERIES])
def test_example_runs(
    db_url: str,
    live_day: list,
    path: pathlib.Path,  # type: ignore[type-arg]
    pg_server: pgserver.Server,
) -> None:
    before = _db_now(db_url)
    results = _run(db_url, path, pg_server)
    if path.stem == "candles_last_24h":
        (rows,) = results
        assert [r[0] for r in rows] in _hours_since(live_day, before, _db_now(db_url))
        assert len(rows) >= 23  # a day of ticks, less an hour turned since they ended
        assert float(rows[-1][4]) == live_day[-1][1]  # close = latest price
    elif path.stem == "most_volatile":
        relative, absolute = results
        assert relative[0][:2] == ["1", "bitcoin"] and absolute[0][:2] == ["1", "bitcoin"]
        prices = [p for t, p, _ in live_day if t >= _window_start(db_url)]
        cv = statistics.stdev(prices) / statistics.fmean(prices) * 100
        assert math.isclose(float(relative[0][2]), cv, abs_tol=0.00005)
        assert math.isclose(float(relative[0][3]), statistics.fmean(prices), rel_tol=1e-12)
    elif path.stem == "data_gaps":
        (rows,) = results
        assert len(rows) == 1 and rows[0][3] > "00:19:00"
    elif path.stem == "volume_surge":
        (rows,) = results
        assert rows in (_surge(db_url, live_day, k) for k in (0, 1))  # a minute may have turned
    elif path.stem == "price_vs_average":
        (rows,) = results
        assert 300 <= len(rows) <= 361


def _window_start(url: str) -> dt.datetime:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT last_24h_start()").fetchone()[0]  # type: ignore[index]


def _surge(
    url: str, day: list[tuple[dt.datetime, float, float]], minutes_ago: int
) -> list[list[str]]:
    """What volume_surge.sql must say of `day` (its bars' volumes on their close ticks), for
    the current minute `minutes_ago` minutes back."""
    with psycopg.connect(url) as conn:
        now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    minute = now.replace(second=0, microsecond=0) - dt.timedelta(minutes=minutes_ago)
    volumes = {
        t: decimal.Decimal(v)
        for t, v in oracle.bar_volumes(FIXTURES / "BTCUSDT_1m_2025-05-30_day1.csv").items()
    }
    shift = day[-1][0] - (max(volumes) + dt.timedelta(seconds=45))
    kept = {t for t, _, _ in day}
    closes = {t + dt.timedelta(seconds=45) + shift: v for t, v in volumes.items()}
    closes = {t: v for t, v in closes.items() if t in kept}  # the hole has none
    in_5m = sum(v for t, v in closes.items() if t >= minute - dt.timedelta(minutes=4))
    in_1h = sum(v for t, v in closes.items() if t >= minute - dt.timedelta(minutes=59))
    avg = in_1h / 12
    return [
        [
            "bitcoin",
            str(in_5m),
            str(round(avg, 8)),
            str(round(in_5m / avg, 2)),
            "t" if in_5m > 3 * avg else "f",
        ]
    ]


def test_alerts_example_reports_episodes(
    db_url: str, tmp_path: pathlib.Path, pg_server: pgserver.Server
) -> None:
    from cryptomonitor.models import Tick
    from tests.support.helpers import pipeline

    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    p = pipeline(db_url, tmp_path / "a.txt")
    p.submit(
        Tick(start + dt.timedelta(minutes=m), "bitcoin", 400.0 if m == 20 else 100.0, 1.0, "test")
        for m in range(30)
    )
    p.flush()
    (rows,) = _run(db_url, ROOT / "sql/examples/alerts_last_day.sql", pg_server)
    assert sorted(r[2] for r in rows) == ["price_2pct_5m", "price_3x_1h"]
    assert all(r[7] != "" for r in rows)  # both resolved


def test_examples_of_one_symbol_take_it_as_a_psql_variable(
    db_url: str, live_day: list, pg_server: pgserver.Server
) -> None:  # type: ignore[type-arg]
    other = ROOT / "sql/examples/candles_last_24h.sql"
    assert _run(db_url, other, pg_server, symbol="nosuch") == [[]]
    before = _db_now(db_url)
    rows = _run(db_url, other, pg_server, symbol=None)[0]  # default: bitcoin
    assert [r[0] for r in rows] in _hours_since(live_day, before, _db_now(db_url))
    assert len(rows) >= 23


def _db_now(url: str) -> dt.datetime:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]


def _hours_since(
    day: list[tuple[dt.datetime, float, float]],
    *nows: dt.datetime,
) -> list[list[str]]:
    """The hour buckets of `day`'s ticks newer than 24 hours before each of `nows`, as psql
    prints them: candles_last_24h.sql's rows for a query at that time (an hour may turn
    between the data's end and the query)."""
    hours = sorted({t.replace(minute=0, second=0, microsecond=0) for t, _, _ in day})
    return [
        [
            f"{h.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}+00"
            for h in hours
            if h > now - dt.timedelta(hours=24)
        ]
        for now in nows
    ]
