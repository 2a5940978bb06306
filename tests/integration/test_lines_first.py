"""Lines first (``run``'s live polls, cryptomonitor/writer.py): a batch's alert lines are
written once the ticks that raised them are committed, before the rest of the batch is
stored; and a failure between the two parts loses nothing and writes nothing twice."""

from __future__ import annotations

import pathlib
from typing import Any

import psycopg
import pytest

from cryptomonitor.alerting import lineformat
from cryptomonitor.ingest.repository import IngestRepository
from cryptomonitor.models import Tick
from tests.support.helpers import lines, pipeline, tick

SYMBOLS = [f"c{i:02d}" for i in range(20)]


def polls(minutes: int, spike: dict[int, str]) -> list[list[Tick]]:
    """A poll a minute of 20 coins at 100; at minute m, coin spike[m] jumps to 400."""
    return [
        [tick(m, 400.0 if spike.get(m) == s else 100.0, symbol=s) for s in SYMBOLS]
        for m in range(minutes)
    ]


def stored(url: str) -> tuple[int, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM ticks").fetchone()
        events = conn.execute(
            "SELECT symbol, time, event, rule, value, window_avg FROM alerts ORDER BY seq"
        ).fetchall()
    assert row is not None
    return int(row[0]), events


def test_lines_are_written_before_the_rest_of_the_poll_is_stored(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "alerts.txt"
    seen: list[tuple[int, int]] = []  # at each `lines`: ticks of the poll stored, lines in file

    def watching() -> None:
        with psycopg.connect(db_url) as other:
            row = other.execute(
                "SELECT count(*) FROM ticks WHERE time = %s", (batch[0].time,)
            ).fetchone()
        assert row is not None
        seen.append((int(row[0]), len(lines(path))))

    p = pipeline(db_url, path, lines_first=True, on_events=watching)
    for batch in polls(40, {30: "c07"}):
        p.submit(batch)
        p.flush()
    assert seen, "the spike raised no event: the test would prove nothing"
    # At the spike's poll: only c07's tick was stored when its line was due, and after
    # `on_events` the line was in the file before the other 19 ticks were stored.
    assert seen[0] == (1, 0)
    written = [lineformat.parse_line(line) for line in lines(path)]
    assert [(f["event"], f["symbol"]) for f in written][:1] == [("ALERT", "c07")]
    count, _ = stored(db_url)
    assert count == 40 * 20


def test_a_failure_between_the_two_parts_loses_and_repeats_nothing(
    db_url: str, empty_db_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second part's COPY fails (a crash, a lost connection): the poll is written again by a
    fresh pipeline (as after a restart, from the spool), and the database and the alerts file
    end exactly as an uninterrupted run leaves them."""
    from cryptomonitor.db import migrations

    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        migrations.migrate(conn)
    data = polls(40, {30: "c07", 35: "c11"})
    oracle_path = tmp_path / "oracle.txt"
    oracle = pipeline(empty_db_url, oracle_path, lines_first=True)
    for batch in data:
        oracle.submit(batch)
        oracle.flush()

    path = tmp_path / "alerts.txt"
    first = pipeline(db_url, path, lines_first=True)
    for batch in data[:30]:
        first.submit(batch)
        first.flush()
    calls = []
    append = IngestRepository.append

    def failing(self: IngestRepository, ticks: Any, meanwhile: Any) -> Any:
        calls.append(len(ticks))
        if len(calls) == 2:  # the rest of the spike's poll, after its line was written
            raise KeyboardInterrupt("killed between the two parts")
        return append(self, ticks, meanwhile)

    monkeypatch.setattr(IngestRepository, "append", failing)
    first.submit(data[30])
    with pytest.raises(KeyboardInterrupt):
        first.flush()
    monkeypatch.setattr(IngestRepository, "append", append)
    assert calls == [1, 19]
    assert len(lines(path)) == 2  # the spike's lines are out (two price rules)
    assert stored(db_url)[0] == 30 * 20 + 1

    restarted = pipeline(db_url, path, lines_first=True)  # a new process: nothing cached
    for batch in data[30:]:  # the spool still holds the interrupted poll
        restarted.submit(batch)
        restarted.flush()
    assert stored(db_url) == stored(empty_db_url)
    assert lines(path) == lines(oracle_path)
    assert len(lines(path)) >= 3
