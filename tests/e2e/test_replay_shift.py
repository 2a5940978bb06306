"""`cryptomonitor replay` of old data: refused where the retention would drop it, moved to
now with --shift-to-now, and its past-dated alert lines said to be so."""

from __future__ import annotations

import datetime as dt
import json
import pathlib

import psycopg
import pytest

from cryptomonitor.alerting import lineformat
from tests.support.helpers import lines
from tests.support.paths import FIXTURES, ROOT
from tests.support.procs import cli

DEMODATA = ROOT / "cryptomonitor" / "sources" / "demodata"
DAY_CSV = FIXTURES / "BTCUSDT_1m_2025-05-30_day1.csv"


def test_shift_to_now_moves_all_files_by_one_shift_ending_now(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    alerts_file = tmp_path / "alerts.txt"
    before = dt.datetime.now(dt.UTC)
    result = cli(
        "replay",
        str(DEMODATA / "ETHUSDT_1m_demo.csv.gz"),
        str(DEMODATA / "BTCUSDT_1m_demo.csv.gz"),
        "--symbol",
        "eth",
        "--symbol",
        "btc",
        "--limit",
        "2000",  # 33 h: past the first day, so volume_24h is known on the last ticks
        "--shift-to-now",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_ALERTS_FILE=str(alerts_file),
        timeout=120,
    )
    after = dt.datetime.now(dt.UTC)
    assert result.returncode == 0, result.stderr
    # By hand: the last of the 2,000 bars opens at 2025-06-17T15:40 + 1,999 minutes, and is
    # moved to open one minute before the current minute.
    last_bar = dt.datetime(2025, 6, 17, 15, 40, tzinfo=dt.UTC) + dt.timedelta(minutes=1999)
    shifts = {
        json.loads(x)["shift_minutes"] for x in result.stderr.splitlines() if '"replay_done"' in x
    }
    assert len(shifts) == 1  # both files by the same shift
    (minutes,) = shifts
    moved = last_bar + dt.timedelta(minutes=minutes)
    assert before.replace(second=0, microsecond=0) - dt.timedelta(minutes=1) <= moved
    assert moved <= after.replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    assert f"bars shifted by +{minutes} minutes (--shift-to-now)" in result.stderr
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT symbol, min(time), max(time), count(*), count(volume_24h) FROM ticks "
            "GROUP BY symbol ORDER BY symbol"
        ).fetchall()
    first = dt.datetime(2025, 6, 17, 15, 40, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
    for _, lo, hi, n, known in rows:
        assert (lo, hi) == (first, moved + dt.timedelta(seconds=45))
        assert n == 4 * 2000 and known == 4 * (2000 - 1439)  # unknown until a day is read
    assert [r[0] for r in rows] == ["btc", "eth"]
    stamps = [
        dt.datetime.fromisoformat(lineformat.parse_line(x)["time"]) for x in lines(alerts_file)
    ]
    assert stamps and all(first <= t <= after for t in stamps)


def test_lines_are_in_raised_order_and_a_past_dated_replay_says_so(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    alerts_file = tmp_path / "alerts.txt"
    common = {
        "DATABASE_URL": db_url,
        "CRYPTOMONITOR_ALERTS_FILE": str(alerts_file),
        "CRYPTOMONITOR_RULES_FILE": str(_sensitive_rules(tmp_path)),
        # The recorded day is from 2025: on TimescaleDB the default 365-day retention would
        # refuse it (the test below checks that refusal); here the unshifted replay is meant.
        "CRYPTOMONITOR_TICKS_RETENTION": "off",
    }
    recent = cli("replay", str(DAY_CSV), "--symbol", "now", "--shift-to-now", **common)
    assert recent.returncode == 0, recent.stderr
    assert "alert lines appended" not in recent.stderr
    first = len(lines(alerts_file))
    result = cli("replay", str(DAY_CSV), "--symbol", "btc", **common)
    assert result.returncode == 0, result.stderr
    n = len(lines(alerts_file)) - first
    assert first > 0 and n > 0
    assert (
        f"the {n} alert lines appended to {alerts_file} are dated 2025-05-30T16:39:00Z to "
        "2025-05-31T16:39:00Z"
    ) in result.stderr
    parsed = [lineformat.parse_line(x) for x in lines(alerts_file)]
    # The file is in the order the alerts were raised (the outbox's), not in market time.
    with psycopg.connect(db_url) as conn:
        raised = [
            str(r[0]).replace("-", "")[:12]
            for r in conn.execute("SELECT alert_id FROM alerts ORDER BY seq").fetchall()
        ]
    assert [p["id"] for p in parsed] == raised
    assert {p["symbol"] for p in parsed[:first]} == {"now"}
    assert max(p["time"] for p in parsed[first:]) < min(p["time"] for p in parsed[:first])


def _sensitive_rules(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "rules.toml"
    path.write_text(
        '[[rule]]\nname = "price_03pct_5m"\nmetric = "price"\nwindow = "5m"\n'
        'condition = "deviation_above"\nthreshold = 0.003\nmin_samples = 3\n'
    )
    return path


@pytest.mark.timescaledb
def test_old_bars_are_refused_where_the_retention_would_drop_them(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    common = {"DATABASE_URL": db_url, "CRYPTOMONITOR_ALERTS_FILE": str(tmp_path / "a.txt")}
    result = cli("replay", str(DAY_CSV), "--symbol", "btc", **common)
    assert result.returncode == 2, result.stderr
    for part in (
        str(DAY_CSV),
        "2025-05-30T16:39:00Z",
        "CRYPTOMONITOR_TICKS_RETENTION",
        "--shift-to-now",
    ):
        assert part in result.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM ticks").fetchone() == (0,)
    backfill = cli("backfill", "--from", "2024-01-01", CRYPTOMONITOR_COINS="bitcoin", **common)
    assert backfill.returncode == 2 and "CRYPTOMONITOR_TICKS_RETENTION" in backfill.stderr
    shifted = cli(
        "replay", str(DAY_CSV), "--symbol", "btc", "--limit", "60", "--shift-to-now", **common
    )
    assert shifted.returncode == 0, shifted.stderr
    longer = cli(
        "replay",
        str(DAY_CSV),
        "--symbol",
        "eth",
        "--limit",
        "60",
        CRYPTOMONITOR_TICKS_RETENTION="1000d",
        **common,
    )
    assert longer.returncode == 0, longer.stderr
