"""bench/stages.py: a py-spy raw profile summed per pipeline stage (docs/benchmarks.md, "Where
the time goes"): each sample in the stage of its innermost frame that has one."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from bench import stages
from tests.support.paths import ROOT

PROFILE = """\
process 1:"python -m bench.ingest --child";main (bench/ingest.py:1);sustained_fast (bench/ingest.py:2);flush (/x/cryptomonitor/ingest/pipeline.py:3);judge (/x/cryptomonitor/alerting/engine.py:4);stats (/x/cryptomonitor/alerting/windows.py:5) 30
process 1:"python -m bench.ingest --child";main (bench/ingest.py:1);sustained_fast (bench/ingest.py:2);flush (/x/cryptomonitor/ingest/pipeline.py:3);wait (/v/site-packages/psycopg/connection.py:9) 60
process 1:"python -m bench.ingest --child";main (bench/ingest.py:1);sustained_fast (bench/ingest.py:2);parse_simple_price (/x/cryptomonitor/sources/coingecko.py:7) 10
process 1:"python -m bench.ingest --child";main (bench/ingest.py:1);load_history (bench/ingest.py:8);wait (/v/site-packages/psycopg/connection.py:9) 500
"""


def test_samples_are_put_in_their_innermost_stage() -> None:
    parsed = [stages.parse(line) for line in PROFILE.splitlines()]
    assert all(p is not None for p in parsed)
    assert [stages.stage_of(frames) for frames, _ in parsed if frames] == [
        "alert check (engine, windows, episodes)",
        "database round trips (psycopg, waiting)",
        "source parsing (JSON, ticks)",
        "database round trips (psycopg, waiting)",
    ]


def test_only_the_measured_part_counts(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "profile.txt"
    path.write_text(PROFILE)
    out = subprocess.run(
        [sys.executable, "-m", "bench.stages", str(path), "--within", "sustained_fast"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # bench/ is not in the wheel
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.splitlines()[0] == "100 samples under sustained_fast()"  # not the history load
    assert " 60.0%  database round trips" in out and " 30.0%  alert check" in out
