"""The candle views and volatility_24h against a GROUP BY over raw ticks (the definition), after
inserts in any order, deletes, updates, truncates and concurrent writers. On plain PostgreSQL
ohlcv_1h, ohlcv_1d and volatility_24h read a trigger-kept hourly rollup (migration 0011); on
TimescaleDB, continuous aggregates."""

from __future__ import annotations

import datetime as dt
import math
import random
import threading

import psycopg
import pytest

from cryptomonitor.db import migrations, queries
from tests.support import oracle

ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
T0 = dt.datetime(2025, 3, 1, 22, 58, tzinfo=dt.UTC)  # crosses minutes, hours and a day


def raw(width: str, symbol_filter: str = "") -> str:
    """The candles as the definition says, straight from ticks."""
    return (
        f"SELECT date_bin(INTERVAL '{width}', time, {ORIGIN}) AS bucket, symbol,"
        " (array_agg(price ORDER BY time))[1], max(price), min(price),"
        " (array_agg(price ORDER BY time DESC))[1], sum(volume::numeric),"
        " (array_agg(volume_24h ORDER BY time DESC))[1], count(*),"
        " sum(price), var_pop(price), sum(volume_24h), count(volume_24h)"
        f" FROM ticks {symbol_filter} GROUP BY 1, 2 ORDER BY 2, 1"
    )


def assert_views_match_raw(conn: psycopg.Connection, flavour: str) -> None:
    oracle.refresh(conn, flavour)
    for view, width in (("ohlcv_1m", "1 minute"), ("ohlcv_1h", "1 hour"), ("ohlcv_1d", "1 day")):
        extra = (
            ", price_sum, price_var_pop, volume_24h_sum, volume_24h_samples"
            if view == "ohlcv_1m"
            else ""
        )
        got = conn.execute(
            f"SELECT bucket, symbol, open, high, low, close, volume, volume_24h,"
            f" ticks{extra} FROM {view} ORDER BY symbol, bucket"
        ).fetchall()
        want = conn.execute(raw(width)).fetchall()
        assert len(got) == len(want), view
        for g, w in zip(got, want, strict=True):
            # Exact: open, high, low, close, traded volume (numeric), volume_24h, count.
            assert g[:9] == w[:9], (view, g, w)
            if extra:
                assert math.isclose(g[9], w[9], rel_tol=1e-12), (g, w)
                assert math.isclose(g[10], w[10], rel_tol=1e-6, abs_tol=1e-9), (g, w)
                assert (g[11] is None) == (w[11] is None) and g[12] == w[12], (g, w)
                if w[11] is not None:
                    assert math.isclose(g[11], w[11], rel_tol=1e-12), (g, w)


def random_ticks(
    rng: random.Random,
    symbols: list[str],
    n: int,
) -> list[tuple[dt.datetime, str, float, float | None, float | None]]:
    """Distinct (symbol, time) pairs spread over ~3 hours around midnight, in random order,
    some volumes missing, some prices repeated; traded volumes of exchange-like decimals
    (their exact sums are what the candles must give), some missing."""
    seen: set[tuple[str, int]] = set()
    out = []
    while len(out) < n:
        symbol, offset = rng.choice(symbols), rng.randrange(0, 3 * 3600 * 1000) / 1000
        if (symbol, int(offset * 1000)) in seen:
            continue
        seen.add((symbol, int(offset * 1000)))
        price = rng.choice([100.0, 100.5, rng.uniform(90, 110)])
        volume = None if rng.random() < 0.1 else rng.uniform(1e6, 2e6)
        traded = None if rng.random() < 0.2 else float(f"{rng.uniform(0, 50):.8f}")
        out.append((T0 + dt.timedelta(seconds=offset), symbol, price, volume, traded))
    return out


def insert(conn: psycopg.Connection, ticks: list, how: str = "copy") -> None:
    if how == "copy":
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY ticks (time, symbol, price, volume_24h, volume, source) FROM STDIN"
            ) as copy,
        ):
            for t, s, p, v, traded in ticks:
                copy.write_row((t, s, p, v, traded, "test"))
    else:
        conn.cursor().executemany(
            "INSERT INTO ticks (time, symbol, price, volume_24h, volume, source)"
            " VALUES (%s, %s, %s, %s, %s, 'test') ON CONFLICT DO NOTHING",
            ticks,
        )


def test_views_equal_the_raw_group_by_after_inserts_in_any_order(
    conn: psycopg.Connection, flavour: str
) -> None:
    rng = random.Random(7)
    ticks = random_ticks(rng, ["a", "b", "c"], 3000)
    # Many statements, each a random slice (older ticks after newer ones: a backfill), some
    # one row at a time, some ON CONFLICT DO NOTHING with duplicates that must not count.
    i = 0
    while i < len(ticks):
        size = rng.choice([1, 7, 250, 900])
        how = rng.choice(["copy", "insert"])
        insert(conn, ticks[i : i + size] + (ticks[:3] if how == "insert" and i else []), how)
        i += size
    assert_views_match_raw(conn, flavour)


def test_deletes_updates_and_truncate_keep_the_rollups_exact(
    conn: psycopg.Connection, flavour: str
) -> None:
    rng = random.Random(11)
    insert(conn, random_ticks(rng, ["a", "b"], 2000))
    # Retention-like: everything before a time; and scattered single rows (a high, an open).
    conn.execute("DELETE FROM ticks WHERE time < %s", (T0 + dt.timedelta(minutes=30),))
    conn.execute(
        "DELETE FROM ticks WHERE (symbol, time) IN (SELECT symbol, time FROM ticks"
        " ORDER BY price DESC LIMIT 5)"
    )
    conn.execute(
        "DELETE FROM ticks WHERE (symbol, time) IN (SELECT DISTINCT ON (symbol) symbol,"
        " time FROM ticks ORDER BY symbol, time)"
    )
    conn.execute(
        "UPDATE ticks SET price = price * 2 WHERE symbol = 'a' AND extract(minute FROM time) = 7"
    )
    # Moved in time, within the hour and the day (TimescaleDB refuses moving a row to another
    # chunk): the hour it leaves and the one it reaches are both recomputed.
    conn.execute(
        "UPDATE ticks SET time = time + INTERVAL '30 minutes' WHERE symbol = 'b' AND"
        " extract(minute FROM time) = 3"
    )
    assert_views_match_raw(conn, flavour)
    conn.execute("TRUNCATE ticks")
    oracle.refresh(conn, flavour)
    for view in ("ohlcv_1m", "ohlcv_1h", "ohlcv_1d", "volatility_24h"):
        assert conn.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,), view


def test_volatility_matches_the_sample_standard_deviation_of_raw_ticks(
    conn: psycopg.Connection, flavour: str
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rng = random.Random(3)
    ticks = [
        (now - dt.timedelta(seconds=s), sym, rng.uniform(50_000, 50_010), 1.0, None)
        for sym in ("x", "y", "z")
        for s in range(0, 26 * 3600, rng.choice([7, 13, 61]))
    ]
    insert(conn, ticks)
    oracle.refresh(conn, flavour)
    got = {
        s: (sd, n, r)
        for s, sd, n, r in conn.execute("SELECT symbol, stddev, samples, rank FROM volatility_24h")
    }
    want = {
        s: (sd, n, r)
        for s, sd, n, r in conn.execute(
            "SELECT symbol, stddev_samp(price), count(*),"
            " rank() OVER (ORDER BY stddev_samp(price) DESC) FROM ticks"
            " WHERE time >= last_24h_start() GROUP BY symbol"
        )
    }
    assert got.keys() == want.keys() == {"x", "y", "z"}
    for s in want:
        assert got[s][1:] == want[s][1:]
        assert math.isclose(got[s][0], want[s][0], rel_tol=1e-9), (s, got[s], want[s])


def test_concurrent_writers_of_the_same_minutes(db_url: str, flavour: str) -> None:
    """Four sessions insert interleaved ticks of the same symbols and minutes at once: the
    merges serialise on the rollup rows, none is lost, no deadlock."""
    rng = random.Random(5)
    ticks = random_ticks(rng, ["a", "b", "c", "d"], 4000)
    parts = [ticks[k::4] for k in range(4)]
    errors: list[BaseException] = []

    def write(part: list) -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as c:
                for i in range(0, len(part), 50):
                    with c.transaction():
                        insert(c, part[i : i + 50])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert_views_match_raw(conn, flavour)


def test_a_writer_without_privileges_on_the_rollups_keeps_them(
    conn: psycopg.Connection, flavour: str
) -> None:
    if flavour != "postgres":
        pytest.skip(
            "rollup_1h is the plain-PostgreSQL flavour's (TimescaleDB has continuous aggregates)"
        )
    conn.execute("SET ROLE cryptomonitor_writer")
    insert(conn, random_ticks(random.Random(1), ["w"], 100))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM rollup_1h")
    for role in ("cryptomonitor_writer", "cryptomonitor_reader"):  # only the triggers may
        conn.execute(f"SET ROLE {role}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT rollup_recompute('{w}', ARRAY[%s]::timestamptz[])", (T0,))
        conn.execute("RESET ROLE")
    conn.execute("RESET ROLE")
    assert_views_match_raw(conn, flavour)


def test_the_migration_summarises_ticks_stored_before_it(empty_db_url: str, flavour: str) -> None:
    if flavour != "postgres":
        pytest.skip(
            "rollup_1h is the plain-PostgreSQL flavour's (TimescaleDB has continuous aggregates)"
        )
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute(queries.get("create_schema_migrations"))
        for migration in migrations.available("postgres"):
            if migration.name == "candles_v2":
                break
            migrations._apply(conn, migration, "postgres")  # the schema before rollups
        with (
            conn.cursor() as cur,
            cur.copy(  # ticks as they were before the traded volume
                "COPY ticks (time, symbol, price, volume_24h, source) FROM STDIN"
            ) as copy,
        ):
            for t, s, p, v, _ in random_ticks(random.Random(2), ["old", "older"], 1500):
                copy.write_row((t, s, p, v, "test"))
        assert migrations.migrate(conn) == [
            m.version for m in migrations.available("postgres") if m.version >= 11
        ]
        assert conn.execute("SELECT count(*) FROM rollup_1h").fetchone() != (0,)
        assert_views_match_raw(conn, flavour)
