from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import psycopg
import pytest
import structlog
from structlog.testing import capture_logs

from cryptomonitor.db import migrations
from cryptomonitor.exceptions import MigrationError


def _versions(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as c:
        return [
            (int(v), str(f))
            for v, f in c.execute("SELECT version, flavour FROM schema_migrations ORDER BY 1")
        ]


def test_migrate_is_idempotent(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        first = migrations.migrate(conn)
        second = migrations.migrate(conn)
    assert first == [m.version for m in migrations.available("postgres")]
    assert second == []


def test_two_processes_at_once(empty_db_url: str) -> None:
    results: list[object] = []

    def worker() -> None:
        try:
            with psycopg.connect(empty_db_url, autocommit=True) as conn:
                results.append(migrations.migrate(conn))
        except Exception as exc:  # collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    applied = [r for r in results if isinstance(r, list)]
    assert len(applied) == 4, results
    assert sorted(len(r) for r in applied) == [0, 0, 0, len(migrations.available("postgres"))]
    assert len(_versions(empty_db_url)) == len(migrations.available("postgres"))


def test_off_keeps_plain_postgres(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        migrations.migrate(conn, "off")
        assert conn.execute(
            "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone() == (0,)
    assert {f for _, f in _versions(empty_db_url)} == {"postgres"}


def test_on_fails_clearly_without_timescaledb(empty_db_url: str, flavour: str) -> None:
    if flavour == "timescaledb":
        pytest.skip("this server has TimescaleDB: 'on' succeeds here (tested by the flavour runs)")
    with (
        psycopg.connect(empty_db_url, autocommit=True) as conn,
        pytest.raises(MigrationError, match="cannot load TimescaleDB"),
    ):
        migrations.migrate(conn, "on")


def test_needs_autocommit(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url) as conn, pytest.raises(MigrationError, match="autocommit"):
        migrations.migrate(conn)


@pytest.mark.timescaledb
def test_ticks_is_a_hypertable(conn: psycopg.Connection) -> None:
    row = conn.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables"
        " WHERE hypertable_name = 'ticks'"
    ).fetchone()
    assert row == ("ticks",)


def test_same_relations_and_columns_in_both_flavours(conn: psycopg.Connection) -> None:
    """The canonical schema analysts rely on, whatever the flavour."""
    cols = conn.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name IN ('ticks', 'alerts')"
        " ORDER BY table_name, ordinal_position"
    ).fetchall()
    assert [(t, c) for t, c, _ in cols if t == "ticks"] == [
        ("ticks", "time"),
        ("ticks", "symbol"),
        ("ticks", "price"),
        ("ticks", "volume_24h"),
        ("ticks", "source"),
        ("ticks", "received_at"),
        ("ticks", "volume"),
    ]
    idx = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename='ticks'")}
    assert {"ticks_pkey", "ticks_time_idx"} <= idx


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1; SELECT 2;", ["SELECT 1", "SELECT 2"]),
        ("SELECT ';'; -- a ; comment\nSELECT 2", ["SELECT ';'", "-- a ; comment\nSELECT 2"]),
        ("DO $$ BEGIN PERFORM 1; END $$; SELECT 3", ["DO $$ BEGIN PERFORM 1; END $$", "SELECT 3"]),
        (
            "CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $fn$ LANGUAGE sql;/* x; */",
            ["CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $fn$ LANGUAGE sql"],
        ),
        ('SELECT "a;b" FROM t', ['SELECT "a;b" FROM t']),
    ],
)
def test_split_statements(sql: str, expected: list[str]) -> None:
    assert migrations.split_statements(sql) == expected


@pytest.mark.timescaledb
def test_policies_are_installed_replaced_and_removed(conn: psycopg.Connection) -> None:
    from cryptomonitor.db import policies

    def jobs() -> dict[str, str]:
        return {
            str(p): str(c)
            for p, c in conn.execute(
                "SELECT proc_name, config::text FROM timescaledb_information.jobs"
                " WHERE hypertable_name = 'ticks'"
            )
        }

    policies.apply(conn, 7 * 86400.0, 365 * 86400.0)
    got = jobs()
    assert "7 days" in got["policy_compression"] and "365 days" in got["policy_retention"]
    policies.apply(conn, 86400.0, None)
    got = jobs()
    assert "1 day" in got["policy_compression"] and "policy_retention" not in got
    settings = conn.execute(
        "SELECT segmentby_column_index IS NOT NULL, attname FROM"
        " timescaledb_information.compression_settings"
        " WHERE hypertable_name = 'ticks' ORDER BY attname"
    ).fetchall()
    assert (True, "symbol") in settings


@pytest.mark.timescaledb
def test_insert_into_a_compressed_chunk_stays_idempotent(conn: psycopg.Connection) -> None:
    from cryptomonitor.alerting.rules import DEFAULT_RULES
    from cryptomonitor.ingest.writer import BatchWriter
    from tests.support.helpers import tick

    batch = [tick(m, 100.0) for m in range(5)]
    BatchWriter(DEFAULT_RULES, 3600).write(conn, batch)
    conn.execute("SELECT compress_chunk(c) FROM show_chunks('ticks') c")
    again = BatchWriter(DEFAULT_RULES, 3600).write(conn, [*batch, tick(6, 101.0)])
    assert (again.new, again.duplicates) == (1, 5)
    assert conn.execute("SELECT count(*) FROM ticks").fetchone() == (6,)


@pytest.fixture
def info_logs() -> Iterator[None]:
    """Info lines pass while the test runs (the suite logs warnings and errors only)."""
    previous = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        yield
    finally:
        structlog.configure(wrapper_class=previous)


@pytest.mark.usefixtures("info_logs")
def test_policies_are_skipped_on_plain_postgres(empty_db_url: str) -> None:
    """No chunks, so no policy: nothing is installed, the log says why, nothing fails; and
    with no policy asked for, not a word."""
    from cryptomonitor.db import policies

    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        migrations.migrate(conn, "off")
        with capture_logs() as logs:
            policies.apply(conn, 86400.0, 40 * 86400.0)
            policies.apply(conn, None, None)
        assert [(e["event"], e["log_level"]) for e in logs] == [
            ("storage_policies_skipped", "info")
        ]
        assert "plain PostgreSQL has no chunks" in logs[0]["reason"]
        # No job can exist: the TimescaleDB catalog is not there, apply did not bring it in.
        assert conn.execute("SELECT to_regclass('timescaledb_information.jobs')").fetchone() == (
            None,
        )
        assert migrations.current_flavour(conn) == "postgres"
        # Installing them here fails: the quiet return above is the skip, not luck.
        with pytest.raises(psycopg.errors.UndefinedFunction):
            policies._replace(conn, 86400.0, 40 * 86400.0)


@pytest.fixture
def stranger(empty_db_url: str) -> str:
    """A login role with no privilege on the test's empty database."""
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS cm_stranger")
        conn.execute("CREATE ROLE cm_stranger LOGIN PASSWORD 'stranger'")
    return psycopg.conninfo.make_conninfo(empty_db_url, user="cm_stranger", password="stranger")  # noqa: S106 (a test role)


def test_a_role_that_does_not_own_the_database_is_told_who_does(
    stranger: str, empty_db_url: str
) -> None:
    owner = psycopg.conninfo.conninfo_to_dict(empty_db_url).get("user", "postgres")
    with psycopg.connect(stranger, autocommit=True) as conn, pytest.raises(MigrationError) as e:
        migrations.migrate(conn, "off")
    assert "may not apply" in str(e.value)
    assert f"as the database owner, {owner!r}" in str(e.value)


def test_an_owner_with_the_documented_privileges_migrates(
    stranger: str, empty_db_url: str, flavour: str
) -> None:
    """The README's promise: the database owner with CREATEROLE, no superuser, no
    pg_read_all_settings; on TimescaleDB it creates the (trusted) extension itself."""
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {conn.info.dbname} OWNER TO cm_stranger")
        conn.execute("ALTER ROLE cm_stranger CREATEROLE")
    with psycopg.connect(stranger, autocommit=True) as conn:
        applied = migrations.migrate(conn, "auto")
        got = migrations.current_flavour(conn)
    assert got == flavour  # TimescaleDB detected without reading shared_preload_libraries
    assert applied == [m.version for m in migrations.available(flavour)]


@pytest.mark.timescaledb
def test_0011_keeps_the_old_candles_and_the_new_answer_from_ticks(empty_db_url: str) -> None:
    """An upgrade with 3 days of data: the continuous aggregates made before 0011 stay
    (renamed, their policies removed), and the new ones give the same candles, volume_24h
    where volume was, also after their policies have run (which look back 1, 7 and 30 days
    only: what is older must have been materialized by the migration, or it would vanish)."""
    from cryptomonitor.db import queries

    candles = "SELECT bucket, open, high, low, close, {}, ticks FROM {} ORDER BY bucket"
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute(queries.get("create_timescaledb"))
        conn.execute(queries.get("create_schema_migrations"))
        for migration in migrations.available("timescaledb"):
            if migration.version >= 11:
                break
            migrations._apply(conn, migration, "timescaledb")
        conn.execute(
            "INSERT INTO ticks (time, symbol, price, volume_24h, source)"
            " SELECT now() - make_interval(mins => 20 * m), 'x', 100 + m, 1000 + m, 't'"
            " FROM generate_series(1, 216) AS m"
        )
        for view in ("ohlcv_1m", "ohlcv_1h", "ohlcv_1d"):
            conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
        before = {
            v: conn.execute(candles.format("volume", v)).fetchall()
            for v in ("ohlcv_1m", "ohlcv_1h", "ohlcv_1d")
        }
        assert migrations.migrate(conn) == [
            m.version for m in migrations.available("timescaledb") if m.version >= 11
        ]
        kept = {
            v: conn.execute(candles.format("volume", f"{v}_before_0011")).fetchall() for v in before
        }
        for (job,) in _policies(conn, "ohlcv_1_"):
            conn.execute("CALL run_job(%s)", (job,))
        after = {v: conn.execute(candles.format("volume_24h", v)).fetchall() for v in before}
        traded = conn.execute("SELECT count(*) FROM ohlcv_1h WHERE volume IS NOT NULL").fetchone()
        old_policies = _policies(conn, "%before_0011")
        new_policies = _policies(conn, "ohlcv_1_")
    assert len(before["ohlcv_1m"]) == 216 and len(before["ohlcv_1d"]) >= 3
    assert kept == before and after == before and traded == (0,)
    assert old_policies == [] and len(new_policies) == 3


@pytest.mark.timescaledb
def test_0011_finishes_when_run_again_after_failing_midway(empty_db_url: str) -> None:
    """Its statements run one by one (no transaction): stopped right after the old aggregates
    were renamed, a rerun of migrate makes the new ones."""
    from cryptomonitor.db import queries

    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute(queries.get("create_timescaledb"))
        conn.execute(queries.get("create_schema_migrations"))
        pending = [m for m in migrations.available("timescaledb") if m.version >= 11]
        for migration in migrations.available("timescaledb"):
            if migration.version < 11:
                migrations._apply(conn, migration, "timescaledb")
        conn.execute(
            "INSERT INTO ticks (time, symbol, price, volume_24h, source)"
            " VALUES (now() - INTERVAL '2 hours', 'x', 1, 2, 't')"
        )
        statements = migrations.split_statements(pending[0].sql)
        done = next(i for i, st in enumerate(statements) if st.startswith("DO $$")) + 1
        for statement in statements[:done]:  # then the process dies
            conn.execute(statement)
        assert migrations.migrate(conn) == [m.version for m in pending]
        row = conn.execute("SELECT open, volume_24h, ticks FROM ohlcv_1h").fetchone()
        assert row == (1.0, 2.0, 1)
        assert conn.execute("SELECT count(*) FROM ohlcv_1h_before_0011").fetchone() == (1,)


def _policies(conn: psycopg.Connection, views: str) -> list[tuple[int]]:
    """The refresh jobs of the continuous aggregates whose name is LIKE `views`."""
    return conn.execute(
        "SELECT job_id FROM timescaledb_information.jobs"
        " WHERE proc_name = 'policy_refresh_continuous_aggregate'"
        " AND hypertable_name LIKE %s",
        (views,),
    ).fetchall()
