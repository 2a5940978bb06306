"""The in-memory alert windows against THE definition (SQL trailing_window) and against
themselves restarted: same numbers whatever the order, the batch boundaries or the restarts."""

from __future__ import annotations

import pathlib

import psycopg
import pytest
from structlog.testing import capture_logs

from cryptomonitor.alerting import lineformat, rules
from cryptomonitor.alerting.rules import DEFAULT_RULES, Rule
from cryptomonitor.alerting.windows import Series
from cryptomonitor.models import Tick
from cryptomonitor.sources import barfiles
from cryptomonitor.util.times import micros
from tests.support import pgserver
from tests.support.helpers import growing_volume_ticks, lines, pipeline, tick
from tests.support.oracle import copy_ticks
from tests.support.paths import FIXTURES

DAY = FIXTURES / "BTCUSDT_1m_2025-05-30_day1.csv"
WINDOWS = (300, 3600)


def day_ticks(bars: int = 1440) -> list[Tick]:
    return growing_volume_ticks(DAY, bars)


def test_windows_equal_sql_trailing_window_on_a_real_day(conn: psycopg.Connection) -> None:
    ticks = day_ticks(360)  # six hours, 1,440 ticks
    copy_ticks(conn, "btc", [(t.time, t.price, t.volume_24h) for t in ticks])
    expected = {
        (time, float(w)): (p, int(n), v, int(m))
        for time, w, p, n, v, m in conn.execute(
            "SELECT k.time, w, s.* FROM unnest(%s::timestamptz[]) AS k(time),"
            " unnest(%s::float8[]) AS w, trailing_window('btc', k.time, w) AS s",
            ([t.time for t in ticks], list(WINDOWS)),
        )
    }
    series = Series(w * 1_000_000 for w in WINDOWS)
    for t in ticks:
        for w, (p, n, v, m) in zip(WINDOWS, series.stats(micros(t.time)), strict=True):
            ep, en, ev, em = expected[(t.time, float(w))]
            assert (n, m) == (en, em)
            assert p == pytest.approx(ep, rel=1e-12) if n else ep is None
            assert v == pytest.approx(ev, rel=1e-12) if m else ev is None
        series.add(micros(t.time), t.price, t.volume_24h)


def _run(
    url: str,
    path: pathlib.Path,
    ticks: list[Tick],
    batch: int,
    restart_every: int | None = None,
    active: tuple[Rule, ...] = DEFAULT_RULES,
) -> list[str]:
    p = pipeline(url, path, active)
    for k, i in enumerate(range(0, len(ticks), batch)):
        if restart_every and k and k % restart_every == 0:
            p.db.close()
            p = pipeline(url, path, active)  # a new process: empty cache, loaded from the database
        p.submit(ticks[i : i + batch])
        p.flush()
    return lines(path)


@pytest.mark.slow
def test_restarts_and_batch_sizes_change_nothing(
    db_url: str, pg_server: pgserver.Server, tmp_path: pathlib.Path
) -> None:
    ticks = day_ticks(480)
    reference = _run(db_url, tmp_path / "a.txt", ticks, batch=1)
    assert len(reference) > 10
    for batch, restart in ((7, 3), (64, 1), (500, None)):
        with pgserver.database(pg_server) as url:
            got = _run(url, tmp_path / f"b{batch}.txt", ticks, batch, restart)
        assert got == reference, (batch, restart)


def test_state_that_flips_twice_in_one_batch_is_stored_as_it_ends(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "a.txt"
    p = pipeline(db_url, path)
    p.submit(tick(m, 100.0) for m in range(20))
    p.flush()
    p.submit([tick(20, 400.0), tick(21, 100.0)])  # price_3x_1h: ALERT then RESOLVED at once
    p.flush()
    events = [(f["event"], f["rule"]) for f in map(lineformat.parse_line, lines(path))]
    assert events.count(("RESOLVED", "price_3x_1h")) == 1
    restarted = pipeline(db_url, path)  # a new process reads the stored state
    restarted.submit([tick(22, 100.0), tick(23, 100.0)])
    restarted.flush()
    events = [(f["event"], f["rule"]) for f in map(lineformat.parse_line, lines(path))]
    assert events.count(("RESOLVED", "price_3x_1h")) == 1, "stored state was stale"


def test_another_writer_is_noticed_and_its_ticks_counted(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    ours = pipeline(db_url, tmp_path / "a.txt", rules=DEFAULT_RULES[:1])
    ours.submit(tick(m, 100.0) for m in range(12))
    ours.flush()
    theirs = pipeline(db_url, tmp_path / "b.txt", rules=())
    theirs.submit(tick(m, 1.0) for m in range(12, 40))  # drags the 1-hour average down
    theirs.flush()
    with capture_logs() as logs:
        ours.submit([tick(40, 150.0)])  # > 3x the true average (~28), not of ours alone (100)
        ours.flush()
    assert any(e["event"] == "window_reloaded" for e in logs)
    assert [x.split()[1] for x in lines(tmp_path / "a.txt")] == ["ALERT"]


def test_a_failed_transaction_leaves_nothing_in_the_cache(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    p = pipeline(db_url, tmp_path / "a.txt")
    p.submit(tick(m, 100.0) for m in range(12))
    p.flush()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE ticks ADD CONSTRAINT no_spikes CHECK (price < 300)")
    p.submit([tick(12, 400.0)])
    assert p.flush().new == 0 and p.rejected_by_database == 1
    assert "btc" not in p.writer.cache.series and "bitcoin" not in p.writer.cache.series
    p.submit([tick(13, 100.0)])
    assert p.flush().new == 1
    # The 1-hour window holds the 12 first ticks and the 14th, not the rejected 13th.
    assert p.writer.cache.series["bitcoin"].stats(micros(tick(14, 1).time))[1][1] == 13


INDICATOR_RULES = """
[[rule]]
name = "rsi_hot"
metric = "rsi:14"
interval = "5m"
condition = "above"
threshold = 70
recover = 60
repeat = "30m"

[[rule]]
name = "ema_cross"
condition = "cross"
fast = "ema:9"
slow = "ema:21"
interval = "15m"
direction = "up"

[[rule]]
name = "below_sma_1h"
condition = "cross"
fast = "close"
slow = "sma:5"
interval = "1h"
direction = "down"

[[rule]]
name = "squeeze"
condition = "inside"
window = "30m"
threshold = 0.5
min_samples = 20
"""


@pytest.mark.slow
@pytest.mark.parametrize("downtime", [False, True])
def test_indicator_rules_give_the_same_lines_through_restarts(
    db_url: str, pg_server: pgserver.Server, tmp_path: pathlib.Path, downtime: bool
) -> None:
    """The candles' closes a restarted writer reads from the database (`window_closes`: the
    last candles stored, however old) are those the running one held: every line the same, id
    for id; with `downtime`, three hours without ticks before a restart."""
    active = rules.loads(INDICATOR_RULES)
    ticks = list(
        barfiles.ticks(barfiles.read_bars(FIXTURES / "BTCUSDT_1m_2025-06-22.csv"), "bitcoin")
    )
    if downtime:
        start = ticks[0].time
        ticks = [t for t in ticks if not 9 <= (t.time - start).total_seconds() / 3600 < 12]
    reference = _run(db_url, tmp_path / "a.txt", ticks, batch=97, active=active)
    fired = {lineformat.parse_line(line)["rule"] for line in reference}
    assert fired == {"rsi_hot", "ema_cross", "below_sma_1h", "squeeze"}, fired
    with pgserver.database(pg_server) as url:
        got = _run(url, tmp_path / "b.txt", ticks, batch=97, restart_every=4, active=active)
    assert got == reference
