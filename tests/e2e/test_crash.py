"""kill -9 at any point, then a restart: no duplicate tick, no duplicate or partial alert line,
no alert stored but never written.

The crashing process is a real ``cryptomonitor replay`` of a real day of BTCUSDT, killed with
SIGKILL either at a named crash point (cryptomonitor/failpoints.py) or at a random moment. The
oracle is an uninterrupted replay of the same bars: because alert ids are deterministic and
ticks are evaluated in the transaction that stores them, the crashed-and-restarted runs must
leave exactly the same rows and the very same alerts file, byte for byte.
"""

from __future__ import annotations

import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from cryptomonitor import failpoints
from cryptomonitor.alerting import lineformat
from tests.support import pgserver
from tests.support.paths import FIXTURES
from tests.support.procs import env

DAY_CSV = FIXTURES / "BTCUSDT_1m_2025-05-30_day1.csv"
BARS = 300  # 1,200 ticks
BATCH = 40  # ticks per transaction: 30 transactions and alert deliveries per replay
RULES = """
[[rule]]
name = "price_015pct_5m"
metric = "price"
window = "5m"
condition = "deviation_above"
threshold = 0.0015
min_samples = 3

[[rule]]
name = "volume_2pct_5m"
metric = "volume_24h"
window = "5m"
condition = "deviation_above"
threshold = 0.02
min_samples = 3
"""


def replay(db_url: str, tmp_path: pathlib.Path, **extra: str) -> subprocess.Popen[str]:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cryptomonitor",
            "replay",
            str(DAY_CSV),
            "--symbol",
            "btc",
            "--limit",
            str(BARS),
            "--batch",
            str(BATCH),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env(
            DATABASE_URL=db_url,
            CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
            CRYPTOMONITOR_RULES_FILE=str(rules),
            **extra,
        ),
    )


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    try:
        _, stderr = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return proc.returncode, stderr


def snapshot(db_url: str, tmp_path: pathlib.Path) -> tuple[bytes, list[tuple[object, ...]], int]:
    """The alerts file, every stored tick, and how many alerts rows are still unwritten."""
    with psycopg.connect(db_url) as conn:
        ticks = conn.execute(
            "SELECT symbol, time, price, volume_24h FROM ticks ORDER BY symbol, time"
        ).fetchall()
        unwritten = conn.execute("SELECT count(*) FROM alerts WHERE written_at IS NULL").fetchone()
    assert unwritten is not None
    return (tmp_path / "alerts.txt").read_bytes(), ticks, int(unwritten[0])


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory, pg_server: pgserver.Server
) -> tuple[bytes, int, float]:
    """The uninterrupted run: its alerts file and tick count."""
    with pgserver.database(pg_server) as url:
        path = tmp_path_factory.mktemp("reference")
        started = time.monotonic()
        code, stderr = finish(replay(url, path))
        took = time.monotonic() - started
        assert code == 0, stderr
        content, ticks, unwritten = snapshot(url, path)
    assert unwritten == 0 and len(ticks) == 4 * BARS
    lines = content.decode().splitlines()
    assert len(lines) > 30, "the rules should fire often on this day, or the test proves little"
    assert any(" RESOLVED " in line for line in lines)
    return content, len(ticks), took


def assert_same_as_reference(
    db_url: str, tmp_path: pathlib.Path, reference: tuple[bytes, int, float]
) -> None:
    content, ticks, unwritten = snapshot(db_url, tmp_path)
    assert unwritten == 0, "an alert stored in the database never reached the file"
    assert len(ticks) == reference[1]
    lines = content.decode().splitlines()
    ids = [lineformat.parse_line(line)["id"] for line in lines]  # no partial line: all parse
    assert len(ids) == len(set(ids)), "an alert line was written twice"
    assert content == reference[0]


@pytest.mark.slow
@pytest.mark.parametrize("point", failpoints.NAMES)
@pytest.mark.parametrize("nth", [1, 7])
def test_crash_point_then_restart(
    point: str, nth: int, db_url: str, tmp_path: pathlib.Path, reference: tuple[bytes, int, float]
) -> None:
    code, stderr = finish(replay(db_url, tmp_path, CMTEST_FAILPOINT=f"{point}:{nth}"))
    assert code == -signal.SIGKILL, f"the crash point {point} was never reached:\n{stderr}"
    if point == "alert_line_partial":
        assert not (tmp_path / "alerts.txt").read_bytes().endswith(b"\n")
    code, stderr = finish(replay(db_url, tmp_path))
    assert code == 0, stderr
    assert_same_as_reference(db_url, tmp_path, reference)


@pytest.mark.slow
def test_random_kills_in_a_loop(
    db_url: str, tmp_path: pathlib.Path, reference: tuple[bytes, int, float]
) -> None:
    seed = int(os.environ.get("CMTEST_SEED", time.time_ns() % 10**6))
    rng = random.Random(seed)
    kills = 0
    for _ in range(10):
        proc = replay(db_url, tmp_path)
        time.sleep(rng.uniform(0.2, 0.95) * reference[2])  # somewhere inside a whole run
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        code, stderr = finish(proc)
        assert code in (0, -signal.SIGKILL), f"seed {seed}: {stderr}"
    code, stderr = finish(replay(db_url, tmp_path))
    assert code == 0, f"seed {seed}: {stderr}"
    assert kills >= 3, f"seed {seed}: too few kills landed mid-run to prove anything"
    assert_same_as_reference(db_url, tmp_path, reference)
