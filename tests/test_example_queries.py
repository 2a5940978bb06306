"""Every example query in sql/queries/ runs, and says what its comment promises."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from cryptomonitor import migrations
from tests import oracle
from tests.conftest import FIXTURES, ROOT

QUERIES = sorted((ROOT / "sql" / "queries").glob("*.sql"))


@pytest.fixture
def live_day(conn: psycopg.Connection, flavour: str) -> list[tuple[dt.datetime, float, float]]:
    """A real day of BTC shifted to end now, stored as 'bitcoin', with a 20-minute hole."""
    now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    bars = oracle.read_bars(FIXTURES / "BTCUSDT_1m_2025-05-30_day1.csv")
    shift = now - dt.timedelta(minutes=2) - bars[-1]["time"]  # type: ignore[operator]
    ticks = [(t + shift, p, v) for t, p, v in oracle.bar_ticks(bars)]
    hole_start, hole_end = ticks[-400][0], ticks[-320][0]
    ticks = [x for x in ticks if not hole_start < x[0] < hole_end]
    oracle.copy_ticks(conn, "bitcoin", ticks)
    oracle.refresh(conn, flavour)
    return ticks


def _run(conn: psycopg.Connection, path) -> list[list[tuple]]:  # type: ignore[no-untyped-def]
    return [conn.execute(stmt).fetchall()  # type: ignore[arg-type]
            for stmt in migrations.split_statements(path.read_text())]


def test_there_are_examples() -> None:
    assert {p.stem for p in QUERIES} >= {"candles_last_24h", "most_volatile", "alerts_last_day",
                                         "data_gaps", "price_vs_average"}


@pytest.mark.parametrize("path", QUERIES, ids=[p.stem for p in QUERIES])
def test_example_runs(conn: psycopg.Connection, live_day: list, path) -> None:  # type: ignore[no-untyped-def]
    results = _run(conn, path)
    assert all(isinstance(r, list) for r in results)
    if path.stem == "candles_last_24h":
        (rows,) = results
        assert 24 <= len(rows) <= 25 and rows[-1][4] == live_day[-1][1]  # close = latest price
    elif path.stem == "most_volatile":
        ranked, relative = results
        assert ranked[0][:2] == (1, "bitcoin") and relative[0][0] == "bitcoin"
    elif path.stem == "data_gaps":
        (rows,) = results
        assert len(rows) == 1 and rows[0][3] > dt.timedelta(minutes=19)
    elif path.stem == "price_vs_average":
        (rows,) = results
        assert 300 <= len(rows) <= 361


def test_alerts_example_reports_episodes(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cryptomonitor.models import Tick
    from tests.helpers import pipeline

    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    p = pipeline(db_url, tmp_path / "a.txt")
    p.submit(Tick(start + dt.timedelta(minutes=m), "bitcoin", 400.0 if m == 20 else 100.0, 1.0,
                  "test") for m in range(30))
    p.flush()
    with psycopg.connect(db_url) as conn:
        (rows,) = _run(conn, ROOT / "sql/queries/alerts_last_day.sql")
    assert sorted(r[2] for r in rows) == ["price_2pct_5m", "price_3x_1h"]
    assert all(r[7] is not None for r in rows)  # both resolved
