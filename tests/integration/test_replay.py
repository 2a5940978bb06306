"""Replay a real day of BTCUSDT 1-minute bars and check every tick and alert line against an
independent computation written here from the specification (not from the package's code)."""

from __future__ import annotations

import bisect
import datetime as dt
import math
import pathlib
import statistics
import threading
import time

import psycopg
import pytest

from cryptomonitor import config
from cryptomonitor.alerting import lineformat
from cryptomonitor.commands import replay
from cryptomonitor.config import values
from cryptomonitor.exceptions import ReplayError
from cryptomonitor.util import times
from tests.support import oracle, pgserver
from tests.support.helpers import lines
from tests.support.paths import FIXTURES

DAY_CSV = FIXTURES / "BTCUSDT_1m_2025-05-30_day1.csv"
RULES_TOML = """
[[rule]]
name = "price_3x_1h"
metric = "price"
window = "1h"
condition = "ratio_above"
threshold = 3
min_samples = 10

[[rule]]
name = "price_2pct_5m"
metric = "price"
window = "5m"
condition = "deviation_above"
threshold = 0.02
min_samples = 3

[[rule]]
name = "price_03pct_5m"
metric = "price"
window = "5m"
condition = "deviation_above"
threshold = 0.003
min_samples = 3

[[rule]]
name = "volume_2pct_5m"
metric = "volume_24h"
window = "5m"
condition = "deviation_above"
threshold = 0.02
min_samples = 3

[[rule]]
name = "volume_12x_1h"
metric = "volume_24h"
window = "1h"
condition = "ratio_above"
threshold = 1.2
min_samples = 10
"""
REPEAT = 1800.0
# The recorded days are from 2025: on TimescaleDB the default 365-day retention would refuse
# them (tests/e2e/test_replay_shift.py checks that refusal); these tests replay them as dated.
KEEP_TICKS = {"CRYPTOMONITOR_TICKS_RETENTION": "off"}


def oracle_alerts(ticks, rules) -> list[tuple[str, str, str, float, float, int]]:
    stamps = [t for t, _, _ in ticks]
    expected = []
    for rule in rules:
        firing, notified = False, None
        for i, (t, price, vol) in enumerate(ticks):
            lo = bisect.bisect_left(stamps, t - dt.timedelta(seconds=rule["window"]))
            window = [(p if rule["metric"] == "price" else v) for _, p, v in ticks[lo:i]]
            window = [x for x in window if x is not None]  # an unknown volume_24h: no sample
            value = price if rule["metric"] == "price" else vol
            if value is None or len(window) < rule["min_samples"]:
                continue
            avg = statistics.fmean(window)
            if rule["condition"] == "ratio_above":
                breached = value > rule["threshold"] * avg
            else:
                breached = abs(value - avg) > rule["threshold"] * avg
            event = None
            if breached and not firing:
                firing, notified, event = True, t, "ALERT"
            elif breached and (t - notified).total_seconds() >= REPEAT:
                notified, event = t, "ALERT"
            elif not breached and firing:
                firing, event = False, "RESOLVED"
            if event:
                expected.append(
                    (times.format_time(t), event, rule["name"], value, avg, len(window))
                )
    return sorted(expected)


def replay_and_compare(
    db_url: str, tmp_path: pathlib.Path, path: pathlib.Path, limit: int | None = None
) -> list[tuple[str, str, str, float, float, int]]:
    """Replay `path` (its first `limit` bars) with RULES_TOML and check every tick and alert
    line against the independent computation; the alerts expected."""
    import tomllib

    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(RULES_TOML)
    alerts_file = tmp_path / "alerts.txt"
    settings = config.load(
        {
            "DATABASE_URL": db_url,
            **KEEP_TICKS,
            "CRYPTOMONITOR_RULES_FILE": str(rules_file),
            "CRYPTOMONITOR_ALERTS_FILE": str(alerts_file),
            "CRYPTOMONITOR_ALERT_REPEAT_INTERVAL": str(REPEAT),
        }
    )
    summary = replay.replay_file(
        settings, path, "btc", threading.Event(), batch_size=700, limit=limit
    )
    bars = oracle.read_bars(path)[:limit]
    ticks = oracle.replay_ticks(bars)
    assert summary.ticks == summary.stored == len(ticks) == 4 * len(bars)

    with psycopg.connect(db_url) as conn:
        stored = conn.execute(
            "SELECT time, price, volume_24h FROM ticks WHERE symbol = 'btc' ORDER BY time"
        ).fetchall()
    assert [(t, p) for t, p, _ in stored] == [(t, p) for t, p, _ in ticks]
    assert [a[2] is None for a in stored] == [b[2] is None for b in ticks]
    assert sum(a[2] is None for a in stored) == 4 * 1439  # the first day's sum still building
    assert all(
        math.isclose(a[2], b[2], rel_tol=1e-12)
        for a, b in zip(stored, ticks, strict=True)
        if a[2] is not None and b[2] is not None
    )

    rules = tomllib.loads(RULES_TOML)["rule"]
    for r in rules:
        r["window"] = values.parse_duration(r["window"])
    expected = oracle_alerts(ticks, rules)
    got = sorted(
        (f["time"], f["event"], f["rule"], float(f["value"]), float(f["avg"]), int(f["samples"]))
        for f in map(lineformat.parse_line, lines(alerts_file))
    )
    assert [e[:3] for e in got] == [e[:3] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert g[3] == e[3] and g[5] == e[5], (g, e)
        assert math.isclose(g[4], e[4], rel_tol=1e-9), (g, e)
    assert summary.alerts == len(got)

    # Replaying the same file again stores nothing new and writes no line twice.
    again = replay.replay_file(settings, path, "btc", threading.Event(), limit=limit)
    assert again.stored == 0 and again.duplicates == len(ticks)
    assert len(lines(alerts_file)) == len(got)
    return expected


@pytest.mark.slow
def test_replay_a_day_matches_independent_computation(db_url: str, tmp_path: pathlib.Path) -> None:
    expected = replay_and_compare(db_url, tmp_path, DAY_CSV)
    assert len(expected) > 10, "the rules should fire on this day; the test would prove little"
    assert not [e for e in expected if e[2].startswith("volume")]  # its 24 h never complete


@pytest.mark.slow
def test_the_volume_rules_judge_only_whole_days(
    db_url: str, tmp_path: pathlib.Path, shared_data: pathlib.Path
) -> None:
    path = shared_data / "market" / "bybit_1m" / "BTCUSDT_1m.csv"
    expected = replay_and_compare(db_url, tmp_path, path, limit=2 * 1440)
    day_two = times.format_time(oracle.read_bars(path)[1439]["time"])  # type: ignore[arg-type]
    volume = [e for e in expected if e[2].startswith("volume")]
    assert volume, "the second day should raise volume alerts; the test would prove little"
    assert min(e[0] for e in volume) >= day_two


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,open\n", "header must be"),
        (
            "timestamp,open,high,low,close,volume\n2025-01-01 00:00:00+00:00,1,2,0.5,1.5\n",
            r":2: expected 6 columns",
        ),
        (
            "timestamp,open,high,low,close,volume\n2025-01-01 00:00:00+00:00,1,2,0.5,x,1\n",
            r":2: could not convert",
        ),
        (
            "timestamp,open,high,low,close,volume\n2025-01-01 00:00:00+00:00,1,2,1.2,1.5,1\n",
            r":2: low/high do not bracket",
        ),
        (
            "timestamp,open,high,low,close,volume\n2025-01-01 00:01:00+00:00,1,2,0.5,1.5,1\n"
            "2025-01-01 00:00:00+00:00,1,2,0.5,1.5,1\n",
            r":3: .* is not after",
        ),
    ],
)
def test_bad_csv_is_named(tmp_path: pathlib.Path, content: str, message: str) -> None:
    from cryptomonitor.sources import barfiles

    path = tmp_path / "bars.csv"
    path.write_text(content)
    with pytest.raises(ReplayError, match=message):
        list(barfiles.read_bars(path))


def test_full_file_from_shared_data_is_readable(shared_data: pathlib.Path) -> None:
    from cryptomonitor.sources import barfiles

    bars = list(barfiles.read_bars(shared_data / "market/bybit_1m/BTCUSDT_1m.csv"))
    assert len(bars) == 43_200
    assert min(b.low for b in bars) == 98125.0


def _day_slices(tmp_path: pathlib.Path, n: int) -> list[pathlib.Path]:
    """`n` CSVs: the fixture day's bars, each file a different 8-hour slice (its own prices)."""
    header, *rows = DAY_CSV.read_text().splitlines()
    files = []
    for k in range(n):
        path = tmp_path / f"slice{k}.csv"
        path.write_text("\n".join([header, *rows[k * 480 : (k + 1) * 480]]) + "\n")
        files.append(path)
    return files


def _events(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT symbol, time, event, rule, value, window_avg, window_samples"
            " FROM alerts ORDER BY symbol, time, rule, event"
        ).fetchall()


def test_files_replayed_in_parallel_give_what_one_by_one_gives(
    pg_server: pgserver.Server, db_url: str, tmp_path: pathlib.Path
) -> None:
    """Three files in three processes at once: the same ticks, the same alert events (values
    to the last digit), every line in the shared alerts file once."""
    files = _day_slices(tmp_path, 3)
    pairs = [(f, f"s{k}") for k, f in enumerate(files)]
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(RULES_TOML)  # price_03pct_5m fires within 480 bars (no volume rule can)
    with pgserver.database(pg_server) as one_by_one_url:
        sequential = replay.replay_files(
            config.load(
                {
                    "DATABASE_URL": one_by_one_url,
                    **KEEP_TICKS,
                    "CRYPTOMONITOR_ALERTS_FILE": str(tmp_path / "one.txt"),
                    "CRYPTOMONITOR_RULES_FILE": str(rules_file),
                }
            ),
            pairs,
            threading.Event(),
            workers=1,
        )
        want = _events(one_by_one_url)
    alerts_file = tmp_path / "parallel.txt"
    parallel = replay.replay_files(
        config.load(
            {
                "DATABASE_URL": db_url,
                **KEEP_TICKS,
                "CRYPTOMONITOR_ALERTS_FILE": str(alerts_file),
                "CRYPTOMONITOR_RULES_FILE": str(rules_file),
            }
        ),
        pairs,
        threading.Event(),
        workers=3,
    )
    assert parallel.stored == sequential.stored == 3 * 480 * 4
    assert parallel.alerts == sequential.alerts == len(want) > 0
    assert _events(db_url) == want
    ids = [f["id"] for f in map(lineformat.parse_line, lines(alerts_file))]
    assert len(ids) == len(set(ids)) == len(want)


def test_a_bad_file_among_parallel_replays_is_named_and_the_others_stored(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    good = _day_slices(tmp_path, 2)
    bad = tmp_path / "bad.csv"
    bad.write_text("time,open\n")
    settings = config.load(
        {
            "DATABASE_URL": db_url,
            **KEEP_TICKS,
            "CRYPTOMONITOR_ALERTS_FILE": str(tmp_path / "a.txt"),
        }
    )
    with pytest.raises(ReplayError, match=r"bad\.csv.*header must be") as failure:
        replay.replay_files(
            settings, [(good[0], "a"), (bad, "b"), (good[1], "c")], threading.Event(), workers=3
        )
    assert "slice" not in str(failure.value)
    with psycopg.connect(db_url) as conn:
        assert dict(conn.execute("SELECT symbol, count(*) FROM ticks GROUP BY 1").fetchall()) == {
            "a": 1920,
            "c": 1920,
        }


def test_stopping_parallel_replays_stops_every_worker_and_keeps_what_they_read(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    """A stop (SIGTERM to the parent alone, as `docker stop` sends) reaches the workers: each
    stores what it read and ends; nothing is reported as failed."""
    files = _day_slices(tmp_path, 2)
    settings = config.load(
        {
            "DATABASE_URL": db_url,
            **KEEP_TICKS,
            "CRYPTOMONITOR_ALERTS_FILE": str(tmp_path / "a.txt"),
        }
    )
    stop = threading.Event()
    done: list[replay.ReplaySummary] = []
    runner = threading.Thread(
        target=lambda: done.append(
            replay.replay_files(
                settings, [(files[0], "a"), (files[1], "b")], stop, workers=2, speed=600.0
            )
        )
    )
    runner.start()
    with psycopg.connect(db_url, autocommit=True) as conn:
        deadline = time.monotonic() + 30
        while conn.execute("SELECT count(DISTINCT symbol) FROM ticks").fetchone() != (2,):
            assert time.monotonic() < deadline, "the workers never started storing"
            time.sleep(0.1)
        stop.set()
        runner.join(timeout=30)
        assert not runner.is_alive(), "a worker did not stop"
        (stored,) = conn.execute("SELECT count(*) FROM ticks").fetchone() or (0,)
    assert done and 0 < done[0].stored == stored < 2 * 480 * 4
