"""The alerts file after crashes and rotations: no lost, duplicated or partial line."""

from __future__ import annotations

import pathlib

import psycopg

from cryptomonitor import alertfile, alerts, store
from tests.helpers import lines, pipeline, tick


def _raise_alert(db_url: str, path: pathlib.Path) -> None:
    """Store ticks that raise two alerts, without delivering them (a crash before the write)."""
    p = pipeline(db_url, path)
    with psycopg.connect(db_url, autocommit=True) as conn:
        store.write_ticks(conn, [tick(m, 100.0) for m in range(20)] + [tick(20, 400.0)],
                          p.rules, p.repeat_interval)


def test_stored_but_unwritten_alert_is_written_at_next_start(db_url: str,
                                                             tmp_path: pathlib.Path) -> None:
    path = tmp_path / "alerts.txt"
    _raise_alert(db_url, path)
    assert lines(path) == []
    with psycopg.connect(db_url, autocommit=True) as conn:
        f = alertfile.AlertFile(path)
        assert alertfile.recover(conn, f) == 0
        assert alertfile.deliver(conn, f) == 2
    assert len(lines(path)) == 2


def test_written_but_unmarked_alert_is_not_written_twice(db_url: str,
                                                         tmp_path: pathlib.Path) -> None:
    path = tmp_path / "alerts.txt"
    _raise_alert(db_url, path)
    with psycopg.connect(db_url, autocommit=True) as conn:
        f = alertfile.AlertFile(path)
        # Crash after the append, before the UPDATE: the lines are in the file, not marked.
        pending = alertfile._unwritten(conn, 10)
        f.append([alerts.format_line(e) for e in pending])
        assert alertfile.recover(conn, f) == 2
        assert alertfile.deliver(conn, f) == 0
    ids = [alerts.parse_line(x)["alert_id"] for x in lines(path)]
    assert len(ids) == 2 == len(set(ids))


def test_partial_last_line_is_cut_and_rewritten_whole(db_url: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "alerts.txt"
    path.write_text("2026-01-01T00:00:00Z ALERT rule=old symbol=x value=1 alert_id=a\n")
    _raise_alert(db_url, path)
    with psycopg.connect(db_url, autocommit=True) as conn:
        f = alertfile.AlertFile(path)
        first = alerts.format_line(alertfile._unwritten(conn, 1)[0])
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
    assert [alerts.parse_line(x)["event"] for x in lines(path)] == ["RESOLVED", "RESOLVED"]


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
