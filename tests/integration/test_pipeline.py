"""Ticks through storage and alert evaluation into the alerts file, on a real database."""

from __future__ import annotations

import pathlib

import psycopg
import pytest
from structlog.testing import capture_logs

from cryptomonitor.alerting import lineformat
from cryptomonitor.alerting.rules import DEFAULT_RULES
from cryptomonitor.db import database
from cryptomonitor.ingest.writer import BatchWriter
from tests.support.helpers import T0, lines, pipeline, tick


def test_write_is_idempotent(conn: psycopg.Connection) -> None:
    batch = [tick(0, 100), tick(1, 101), tick(1, 101)]  # a repeated answer inside one batch
    first = BatchWriter(DEFAULT_RULES, 3600).write(conn, batch)
    second = BatchWriter(DEFAULT_RULES, 3600).write(conn, batch)
    assert (first.new, first.duplicates) == (2, 1)
    assert (second.new, second.duplicates) == (0, 3)
    assert conn.execute("SELECT count(*) FROM ticks").fetchone() == (2,)


@pytest.mark.parametrize("price", [float("nan"), float("inf"), 0.0, -1.0])
def test_database_refuses_invalid_prices_too(conn: psycopg.Connection, price: float) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO ticks (time, symbol, price, source) VALUES (now(), 'x', %s, 't')", (price,)
        )


def test_spike_writes_one_alert_line_then_resolves(db_url: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "alerts.txt"
    p = pipeline(db_url, path)
    p.submit(tick(m, 100.0) for m in range(20))
    assert p.flush().events == 0
    p.submit([tick(20, 400.0)])
    result = p.flush()
    assert result.events == 2 and result.lines_written == 2
    got = {lineformat.parse_line(x)["rule"]: lineformat.parse_line(x) for x in lines(path)}
    assert set(got) == {"price_3x_1h", "price_2pct_5m"}
    one_h = got["price_3x_1h"]
    assert one_h["event"] == "ALERT" and one_h["symbol"] == "bitcoin"
    assert float(one_h["value"]) == 400.0 and float(one_h["avg"]) == 100.0
    assert one_h["samples"] == "20" and one_h["time"] == "2026-01-01T00:20:00Z"
    assert got["price_2pct_5m"]["samples"] == "5"  # [15:00, 20:00): minutes 15..19
    # Still high: the 1h average rises but 410 > 3 x 114.3; no new line before the repeat.
    p.submit([tick(21, 410.0)])
    assert p.flush().lines_written == 0
    # Back to normal: the 1h rule resolves at once; the 5-minute one once the spike has left
    # its window [t - 5 min, t), at minute 27.
    p.submit(tick(m, 100.0) for m in range(22, 30))
    p.flush()
    resolved = [lineformat.parse_line(x) for x in lines(path)[2:]]
    assert [(r["event"], r["rule"], r["time"][11:16]) for r in resolved] == [
        ("RESOLVED", "price_3x_1h", "00:22"),
        ("RESOLVED", "price_2pct_5m", "00:27"),
    ]
    assert {r["episode"] for r in resolved} == {
        got["price_3x_1h"]["id"],
        got["price_2pct_5m"]["id"],
    }
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*), count(written_at) FROM alerts").fetchone() == (4, 4)


def test_repeat_interval(db_url: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "alerts.txt"
    rule = DEFAULT_RULES[0]
    p = pipeline(db_url, path, rules=(rule,), repeat=600)
    p.submit(tick(m, 100.0) for m in range(20))
    p.submit(tick(m, 10_000.0) for m in range(20, 26))
    p.flush()
    assert [lineformat.parse_line(x)["time"][11:16] for x in lines(path)] == ["00:20"]
    p.submit([tick(30, 10_000.0), tick(31, 10_000.0)])
    p.flush()
    assert [lineformat.parse_line(x)["time"][11:16] for x in lines(path)] == ["00:20", "00:30"]


def test_same_time_twice_does_not_skew_the_average(db_url: str, tmp_path: pathlib.Path) -> None:
    """CoinGecko repeats an unchanged answer ~59 times a minute: it must count once."""
    p = pipeline(db_url, tmp_path / "a.txt")
    for m in range(12):
        for _ in range(5):
            p.submit([tick(m, 100.0 if m < 11 else 200.0)])
    p.flush()
    with psycopg.connect(db_url) as c:
        rows = c.execute("SELECT count(*), avg(price) FROM ticks").fetchone()
    assert rows == (12, (11 * 100 + 200) / 12)


def test_backfill_raises_nothing(db_url: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "alerts.txt"
    p = pipeline(db_url, path)
    p.submit(tick(m, 100.0) for m in range(20, 40))
    p.flush()
    p.submit([tick(5, 1000.0)])  # older than everything evaluated: stored, not alerted
    result = p.flush()
    assert result.new == 1 and result.events == 0 and lines(path) == []


def test_too_few_samples_fire_nothing(db_url: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "alerts.txt"
    p = pipeline(db_url, path)
    p.submit([tick(0, 100.0), tick(1, 100.0), tick(2, 900.0)])
    p.flush()
    assert lines(path) == []


def test_outage_buffers_then_stores_everything(db_url: str, tmp_path: pathlib.Path) -> None:
    p = pipeline("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", tmp_path / "a.txt")
    p.submit(tick(m, 100.0) for m in range(10))
    result = p.flush()
    assert not result.database_ok and result.buffered == 10
    p.db.close()
    p.db = database.Database(db_url)  # the database is back
    p.submit([tick(10, 100.0)])
    result = p.flush()
    assert result.database_ok and result.new == 11 and result.buffered == 0


def test_buffer_bound_drops_oldest_and_counts(db_url: str, tmp_path: pathlib.Path) -> None:
    p = pipeline(db_url, tmp_path / "a.txt", buffer_max=5)
    p.submit(tick(m, 100.0) for m in range(8))
    assert p.dropped == 3 and p.buffered == 5
    p.flush()
    with psycopg.connect(db_url) as c:
        first = c.execute("SELECT min(time) FROM ticks").fetchone()
    assert first == (T0.replace(minute=3),)


def test_undelivered_alerts_are_delivered_without_new_events(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    # The outbox is read only when there may be something in it: at the first flush, after
    # this pipeline's own events, and after a failed delivery, even if no event came since.
    path = tmp_path / "alerts.txt"
    p = pipeline(db_url, path)
    p.submit(tick(m, 100.0) for m in range(20))
    p.flush()
    path.mkdir()  # the alerts file cannot be opened: deliveries fail
    p.submit([tick(20, 400.0)])
    result = p.flush()
    assert (result.events, result.lines_written) == (2, 0)
    path.rmdir()
    p.submit([tick(21, 410.0)])  # both alerts still firing: no new event
    result = p.flush()
    assert (result.events, result.lines_written) == (0, 2)
    p.submit([tick(22, 410.0)])
    assert p.flush().lines_written == 0
    path.rename(tmp_path / "kept")
    path.mkdir()
    p.submit([tick(23, 100.0)])  # the 1-hour alert resolves; its line is not written
    result = p.flush()
    assert (result.events, result.lines_written) == (1, 0)
    p.db.close()  # the process stops; the next one delivers at its first flush
    path.rmdir()
    (tmp_path / "kept").rename(path)
    restarted = pipeline(db_url, path)
    restarted.submit([tick(24, 100.0)])  # the 5-minute alert still fires: no new event
    result = restarted.flush()
    assert (result.events, result.lines_written) == (0, 1)
    assert [x.split()[1] for x in lines(path)] == ["ALERT", "ALERT", "RESOLVED"]


def test_ticks_dropped_by_the_caller_are_counted_and_logged(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    """`run` drops the ticks the spool's disk refused: counted with the buffer's own drops."""
    p = pipeline(db_url, tmp_path / "a.txt", buffer_max=5)
    p.submit(tick(m, 100.0) for m in range(6))  # one dropped past the bound
    with capture_logs() as logs:
        p.drop([tick(6, 100.0), tick(7, 100.0)], "spool_write_failed", error="disk full")
    assert p.dropped == 3 and p.buffered == 5
    assert [(e["ticks_dropped"], e["error"], e["log_level"]) for e in logs] == [
        (2, "disk full", "error")
    ]
    assert p.flush().new == 5


def test_without_an_alerts_file_no_line_is_written_and_the_outbox_waits(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    """A backfill's pipeline has no alerts file: it writes no line, and the events another
    pipeline left in the outbox wait there for one that has the file."""
    path = tmp_path / "alerts.txt"
    p = pipeline(db_url, path)
    p.submit(tick(m, 100.0) for m in range(20))
    p.flush()
    path.mkdir()  # the alerts file cannot be opened: the spike's events stay in the outbox
    p.submit([tick(20, 400.0)])
    result = p.flush()
    assert (result.events, result.lines_written) == (2, 0)
    path.rmdir()
    history = pipeline(db_url, None)
    stored = history.store_history([tick(m, 100.0, symbol="ether") for m in range(5)])
    assert stored.new == 5 and history.flush().lines_written == 0
    assert not path.exists()
    with pytest.raises(ValueError, match="alerts file"):
        pipeline(db_url, None, lines_first=True)
    owner = pipeline(db_url, path)
    assert owner.flush().lines_written == 2 and len(lines(path)) == 2
