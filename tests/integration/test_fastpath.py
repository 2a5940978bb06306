"""The fast path (cryptomonitor.ingest.writer): a batch the cache proves new is COPied straight into
ticks and judged while the server inserts it. It must give exactly what the general path
gives, and step aside whenever the cache cannot prove the batch new: other writers (heard
through migration 0007's trigger), a new connection, a duplicate that raced the proof."""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from cryptomonitor.alerting.cache import AlertCache
from cryptomonitor.alerting.rules import DEFAULT_RULES
from cryptomonitor.db import database, queries
from cryptomonitor.ingest import coherence, copybinary
from cryptomonitor.ingest.writer import BatchWriter, WriteResult
from cryptomonitor.models import Tick
from cryptomonitor.util.times import micros
from tests.support.helpers import growing_volume_ticks, lines, pipeline, tick
from tests.support.paths import FIXTURES

DAY = FIXTURES / "BTCUSDT_1m_2025-05-30_day1.csv"
Conn = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture
def writer(db_url: str) -> Iterator[Conn]:
    conn = database.connect(db_url)
    yield conn
    conn.close()


def write(conn: Conn, ev: BatchWriter, ticks: list[Tick]) -> WriteResult:
    return ev.write(conn, ticks)


def warm(conn: Conn, ev: BatchWriter, minutes: int = 12) -> None:
    """Cache bitcoin: the first batch loads it (general path), the next ones append."""
    assert not write(conn, ev, [tick(0, 100.0)]).fast_path
    for m in range(1, minutes):
        assert write(conn, ev, [tick(m, 100.0)]).fast_path


def test_append_path_writes_exactly_what_the_general_path_writes(
    db_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = growing_volume_ticks(DAY, 480)
    fast = pipeline(db_url, tmp_path / "fast.txt")
    appended = 0
    for i in range(0, len(ticks), 16):
        fast.submit(ticks[i : i + 16])
        appended += fast.flush().fast_batches
    with psycopg.connect(db_url, autocommit=True) as conn:
        stored = conn.execute(
            "SELECT time, symbol, price, volume_24h, source FROM ticks ORDER BY time"
        ).fetchall()
        conn.execute("TRUNCATE ticks, alerts, alert_state")
    assert appended == len(ticks) // 16 - 1  # all but the first batch, which loads the cache
    monkeypatch.setattr(AlertCache, "proves_new", lambda self, ticks: False)
    general = pipeline(db_url, tmp_path / "general.txt")
    for i in range(0, len(ticks), 16):
        general.submit(ticks[i : i + 16])
        assert general.flush().fast_batches == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        again = conn.execute(
            "SELECT time, symbol, price, volume_24h, source FROM ticks ORDER BY time"
        ).fetchall()
    assert stored == again
    assert len(lines(tmp_path / "fast.txt")) > 10
    assert lines(tmp_path / "fast.txt") == lines(tmp_path / "general.txt")


_floats = st.floats(min_value=1e-300, max_value=1e300, allow_nan=False, allow_infinity=False)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            st.datetimes(
                min_value=dt.datetime(2009, 1, 3),
                max_value=dt.datetime(2200, 1, 1),
                timezones=st.just(dt.UTC),
            ),
            st.text(
                st.characters(exclude_characters="\x00", exclude_categories=("Cs",)),
                min_size=1,
                max_size=20,
            ),
            _floats,
            st.none() | st.just(0.0) | _floats,
            st.sampled_from(["coingecko", "binance", "réplay"]),
            st.none() | st.just(0.0) | _floats,
        ),
        max_size=30,
        unique_by=lambda r: (r[1], r[0]),
    )
)
def test_binary_copy_stores_every_value_exactly(conn: Conn, rows: list[tuple[Any, ...]]) -> None:
    ticks = [Tick(*r) for r in rows]
    with conn.transaction(force_rollback=True):
        with conn.cursor() as cur, cur.copy(queries.get("copy_ticks")) as copy:
            for block in copybinary.blocks(ticks, 7):  # several blocks, as store sends them
                copy.write(block)
        got = conn.execute(
            "SELECT time, symbol, price, volume_24h, source, volume FROM ticks"
        ).fetchall()
    assert sorted(got, key=repr) == sorted(
        ((t.time, t.symbol, t.price, t.volume_24h, t.source, t.volume) for t in ticks), key=repr
    )


def test_not_taken_for_what_the_cache_cannot_prove_new(writer: Conn) -> None:
    ev = BatchWriter(DEFAULT_RULES, 3600.0)
    warm(writer, ev)
    assert not write(writer, ev, [tick(12, 100.0, symbol="ethereum")]).fast_path  # not cached
    assert write(writer, ev, [tick(12, 100.0), tick(13, 5.0, symbol="ethereum")]).fast_path
    assert not write(writer, ev, [tick(12, 100.0)]).fast_path  # not newer: a duplicate
    assert not write(writer, ev, [tick(5.5, 100.0)]).fast_path  # older: a backfill
    assert not write(writer, ev, [tick(13, 100.0), tick(13, 100.0)]).fast_path  # twice
    assert write(writer, ev, [tick(14, 100.0), tick(15, 100.0)]).fast_path
    rules_off = BatchWriter((), 3600.0)
    assert not write(writer, rules_off, [tick(16, 100.0)]).fast_path  # no cache without rules


def test_another_writers_insert_is_checked_before_the_cache_is_trusted_again(
    db_url: str, writer: Conn
) -> None:
    ev = BatchWriter(DEFAULT_RULES[:1], 3600.0)  # price_3x_1h
    warm(writer, ev)
    with psycopg.connect(db_url, autocommit=True) as other:  # drags the average down
        other.execute(
            "INSERT INTO ticks (time, symbol, price, source)"
            " SELECT %s + m * interval '1 minute', 'bitcoin', 1.0, 'other'"
            " FROM generate_series(12, 39) AS m",
            (tick(0, 1).time,),
        )
    with capture_logs() as logs:
        result = write(writer, ev, [tick(40, 150.0)])  # 3x of the true average, not of ours
    assert not result.fast_path and result.events == 1
    assert any(e["event"] == "window_reloaded" for e in logs)
    assert write(writer, ev, [tick(41, 30.0)]).fast_path  # checked: trusted again


def test_a_duplicate_that_races_the_proof_is_redone_the_general_way(
    db_url: str, writer: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    ev = BatchWriter(DEFAULT_RULES[:1], 3600.0)
    warm(writer, ev)
    proved = AlertCache.proves_new

    def then_another_writer(self: AlertCache, ticks: list[Tick]) -> bool:
        answer = proved(self, ticks)
        if answer:  # after our BEGIN and proof: its notification comes too late to stop us
            with psycopg.connect(db_url, autocommit=True) as other:
                other.execute(
                    "INSERT INTO ticks (time, symbol, price, source)"
                    " VALUES (%s, 'bitcoin', 500.0, 'other')",
                    (tick(12, 1).time,),
                )
            monkeypatch.setattr(AlertCache, "proves_new", proved)
        return answer

    monkeypatch.setattr(AlertCache, "proves_new", then_another_writer)
    result = write(writer, ev, [tick(12, 100.0), tick(13, 400.0)])
    assert (result.new, result.duplicates, result.fast_path) == (1, 1, False)
    with writer.cursor() as cur:
        rows = cur.execute(
            "SELECT price, source FROM ticks WHERE time >= %s ORDER BY time", (tick(12, 1).time,)
        ).fetchall()
        events = cur.execute("SELECT event, value, window_samples FROM alerts").fetchall()
    assert rows == [(500.0, "other"), (400.0, "test")]  # theirs kept, ours once
    # 400 > 3x the average of 12 x 100 and their 500? (1700/13 = 130.8 -> 392.3): it fires,
    # counted with their tick: the cache was reloaded, not trusted.
    assert events == [("ALERT", 400.0, 13)]


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE ticks SET price = price * 2 WHERE symbol = 'bitcoin'",
        "DELETE FROM ticks WHERE symbol = 'bitcoin' AND price = 100.0 AND time < %s",
        "TRUNCATE ticks",
    ],
)
def test_another_sessions_update_or_delete_drops_the_cache(
    db_url: str, writer: Conn, change: str
) -> None:
    ev = BatchWriter(DEFAULT_RULES[:1], 3600.0)
    warm(writer, ev)
    with psycopg.connect(db_url, autocommit=True) as other:
        other.execute(change, (tick(6, 1).time,) if "%s" in change else None)
    with capture_logs() as logs:
        result = write(writer, ev, [tick(12, 100.0)])
    assert not result.fast_path
    assert any(e["event"] == "window_cache_dropped" for e in logs)
    # Reloaded from the database: the window holds what the other session left, and ours.
    price_avg, samples = ev.cache.series["bitcoin"].stats(micros(tick(13, 1).time))[0][:2]
    expected = {"UPDATE": (2500.0 / 13, 13), "DELETE": (100.0, 7), "TRUNCATE": (100.0, 1)}
    assert (price_avg, samples) == expected[change.split()[0]]


def test_a_new_connection_checks_the_cache_first(db_url: str, writer: Conn) -> None:
    ev = BatchWriter(DEFAULT_RULES[:1], 3600.0)
    warm(writer, ev)
    with database.connect(db_url) as again:  # a reconnect: notifications may have been missed
        assert not write(again, ev, [tick(12, 100.0)]).fast_path
        assert write(again, ev, [tick(13, 100.0)]).fast_path


def test_writers_of_other_symbols_do_not_slow_each_other(db_url: str, writer: Conn) -> None:
    # Shards (docs/benchmarks.md, "Past one machine"): several writers, disjoint symbols, one
    # database. Each names the symbols it inserted; the others' caches need no check for those.
    ours, theirs = BatchWriter(DEFAULT_RULES[:1], 3600.0), BatchWriter(DEFAULT_RULES[:1], 3600.0)
    warm(writer, ours)
    with database.connect(db_url) as other:
        many = [f"coin-{i:05d}-{'x' * 20}" for i in range(2000)]  # > 8000 bytes of names
        write(other, theirs, [tick(0, 1.0, symbol=s) for s in many])
        for m in range(1, 4):
            assert write(other, theirs, [tick(m, 1.0, symbol=s) for s in many]).fast_path
            assert write(writer, ours, [tick(11 + m, 100.0)]).fast_path
        # Now they write one of ours too: that symbol is checked once, the rest is not.
        write(other, theirs, [tick(20, 100.0, symbol="bitcoin")])
    assert write(writer, ours, [tick(15, 100.0, symbol="ethereum")]).fast_path is False  # new
    assert write(writer, ours, [tick(16, 100.0, symbol="ethereum")]).fast_path
    assert not write(writer, ours, [tick(21, 100.0)]).fast_path  # bitcoin: checked first
    assert write(writer, ours, [tick(22, 100.0), tick(17, 1.0, symbol="ethereum")]).fast_path


def test_announcements_fit_the_payload_limit() -> None:
    names = [f"s{i}-é" for i in range(3000)] + ["s0-é"]  # repeated: named once
    payloads = coherence.announcement(names)
    assert len(payloads) > 1 and all(len(p.encode()) < 8000 for p in payloads)
    heard = coherence.Hearing()
    for p in payloads:
        heard.hear(p)
    assert heard.symbols == set(names) and not heard.operations
    assert coherence.announcement(["y" * 9000]) == ["INSERT"]  # concerns any symbol
    heard.hear("INSERT")
    heard.hear("INSERT not json")
    assert heard.operations == {"INSERT"}
