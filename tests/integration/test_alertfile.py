"""The alerts file after crashes and rotations: no lost, duplicated or partial line."""

from __future__ import annotations

import multiprocessing
import pathlib
import shutil
import subprocess
import threading

import psycopg
import pytest

from cryptomonitor.alerting import alertfile, lineformat
from tests.support.helpers import lines, pipeline, tick


def _raise_alert(db_url: str, path: pathlib.Path) -> None:
    """Store ticks that raise two alerts, without delivering them (a crash before the write)."""
    p = pipeline(db_url, path)
    with psycopg.connect(db_url, autocommit=True) as conn:
        p.writer.write(conn, [tick(m, 100.0) for m in range(20)] + [tick(20, 400.0)])


def test_stored_but_unwritten_alert_is_written_at_next_start(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "alerts.txt"
    _raise_alert(db_url, path)
    assert lines(path) == []
    with psycopg.connect(db_url, autocommit=True) as conn:
        f = alertfile.AlertFile(path)
        assert alertfile.recover(conn, f) == 0
        assert alertfile.deliver(conn, f) == 2
    assert len(lines(path)) == 2


def test_written_but_unmarked_alert_is_not_written_twice(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "alerts.txt"
    _raise_alert(db_url, path)
    with psycopg.connect(db_url, autocommit=True) as conn:
        f = alertfile.AlertFile(path)
        # Crash after the append, before the UPDATE: the lines are in the file, not marked.
        pending = alertfile._unwritten(conn, 10)
        f.append([lineformat.format_line(e) for e in pending])
        assert alertfile.recover(conn, f) == 2
        assert alertfile.deliver(conn, f) == 0
    ids = [lineformat.parse_line(x)["id"] for x in lines(path)]
    assert len(ids) == 2 == len(set(ids))


def test_lines_written_in_format_1_are_recognised_after_an_upgrade(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    """A crash under the old version left its lines (full UUIDs) written but not marked."""
    path = tmp_path / "alerts.txt"
    _raise_alert(db_url, path)
    with psycopg.connect(db_url, autocommit=True) as conn:
        f = alertfile.AlertFile(path)
        pending = alertfile._unwritten(conn, 10)
        with path.open("a") as out:
            for e in pending:
                out.write(
                    f"2026-01-01T00:00:00Z ALERT rule={e.rule} symbol={e.symbol} "
                    f"alert_id={e.alert_id} episode_id={e.episode_id}\n"
                )
        assert alertfile.recover(conn, f) == len(pending) == 2
        assert alertfile.deliver(conn, f) == 0


def test_partial_last_line_is_cut_and_rewritten_whole(db_url: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "alerts.txt"
    path.write_text("2026-01-01T00:00:00Z ALERT rule=old symbol=x value=1 alert_id=a\n")
    _raise_alert(db_url, path)
    with psycopg.connect(db_url, autocommit=True) as conn:
        f = alertfile.AlertFile(path)
        first = lineformat.format_line(alertfile._unwritten(conn, 1)[0])
        with path.open("a") as out:
            out.write(first[:40])  # the process died in the middle of this line
        alertfile.recover(conn, f)
        alertfile.deliver(conn, f)
    got = lines(path)
    assert len(got) == 3 and got[1] == first
    assert all(x.endswith(tuple("0123456789abcdef")) for x in got)


def test_rotation_by_rename_starts_a_new_file(db_url: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "alerts.txt"
    p = pipeline(db_url, path)
    p.submit(tick(m, 100.0) for m in range(20))
    p.submit([tick(20, 400.0)])
    p.flush()
    path.rename(tmp_path / "alerts.txt.1")  # logrotate
    p.submit(tick(m, 100.0) for m in range(21, 30))
    p.flush()
    assert len(lines(tmp_path / "alerts.txt.1")) == 2
    assert [lineformat.parse_line(x)["event"] for x in lines(path)] == ["RESOLVED", "RESOLVED"]


def test_unwritable_file_keeps_alerts_for_later(db_url: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "alerts.txt"
    path.mkdir()  # a directory where the file should be: every append fails
    p = pipeline(db_url, path)
    p.submit(tick(m, 100.0) for m in range(20))
    p.submit([tick(20, 400.0)])
    assert p.flush().lines_written == 0
    path.rmdir()
    p.submit([tick(21, 400.0)])
    assert p.flush().lines_written == 2
    assert len(lines(path)) == 2


def test_tail_follows_across_rotation(db_url: str, tmp_path: pathlib.Path) -> None:
    """What an operator runs: `tail -F` keeps printing every line through a logrotate rename."""
    tail = shutil.which("tail")
    if tail is None:
        pytest.skip("tail not found on this machine")
    path = tmp_path / "alerts.txt"
    p = pipeline(db_url, path)
    p.submit(tick(m, 100.0) for m in range(20))
    p.submit([tick(20, 400.0)])
    p.flush()  # 2 ALERT lines
    with subprocess.Popen(
        [tail, "-F", "-n", "+1", "-s", "0.1", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            seen = [proc.stdout.readline(), proc.stdout.readline()]
            path.rename(tmp_path / "alerts.txt.1")  # logrotate, no copytruncate
            p.submit(tick(m, 100.0) for m in range(21, 30))
            p.flush()  # 2 RESOLVED lines, into a new alerts.txt
            timer = threading.Timer(10, proc.kill)  # bounded: a hung tail fails the test
            timer.start()
            seen += [proc.stdout.readline(), proc.stdout.readline()]
            timer.cancel()
        finally:
            proc.kill()
    assert [line.rstrip("\n") for line in seen] == (lines(tmp_path / "alerts.txt.1") + lines(path))
    assert [lineformat.parse_line(x)["event"] for x in seen] == ["ALERT"] * 2 + ["RESOLVED"] * 2


def _append_many(path: str, writer: int) -> None:
    f = alertfile.AlertFile(pathlib.Path(path))
    for k in range(300):
        # Long lines (~3 KB): a torn write would show as a line mixing two writers.
        f.append([f"w{writer} n{k} " + str(writer) * 3000])


def test_concurrent_appends_never_interleave(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "alerts.txt"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.starmap(_append_many, [(str(path), w) for w in range(4)])
    got = lines(path)
    assert len(got) == 4 * 300
    for line in got:
        writer, _, body = line.split(" ", 2)
        assert body == writer[1:] * 3000, f"torn line: {line[:80]}..."


def test_two_processes_delivering_at_once_write_each_line_once(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    """As with `cryptomonitor demo` run beside a running fetcher on the same outbox."""
    import threading

    path = tmp_path / "alerts.txt"
    p = pipeline(db_url, path)
    with psycopg.connect(db_url, autocommit=True) as conn:
        p.writer.write(
            conn, [tick(m, 100.0 + (m % 2) * 50) for m in range(120)] + [tick(120, 900.0)]
        )
        pending = len(alertfile._unwritten(conn, 10_000))
    assert pending >= 2
    start = threading.Barrier(2)
    written: list[int] = []

    def deliver() -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            start.wait()
            written.append(alertfile.deliver(conn, alertfile.AlertFile(path), batch=1))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [lineformat.parse_line(x)["id"] for x in lines(path)]
    assert sum(written) == pending == len(ids) == len(set(ids))
