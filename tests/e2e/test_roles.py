"""Least privilege: the fetcher runs as a writer that can add ticks and alerts but not delete or
change the schema; analysts and the REST API get read-only roles. The login roles are made by
the compose init script (docker/db-init), run here with a real psql."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from cryptomonitor.api import application
from cryptomonitor.db import migrations, policies
from tests.support import pgserver
from tests.support.fakeapi import FakeCoinGecko
from tests.support.helpers import lines
from tests.support.paths import ROOT
from tests.support.procs import cli

INIT_SCRIPT = ROOT / "docker" / "db-init" / "10-cryptomonitor-roles.sh"
PASSWORDS = {
    "APP_DB_PASSWORD": "app-secret",
    "API_DB_PASSWORD": "api-secret",
    "ANALYST_DB_PASSWORD": "analyst-secret",
}


def as_role(url: str, user: str, password: str) -> str:
    return psycopg.conninfo.make_conninfo(url, user=user, password=password)


def _psql(pg_server: pgserver.Server) -> str:
    found = shutil.which("psql")
    if pg_server.bindir is not None and (pg_server.bindir / "psql").exists():
        found = str(pg_server.bindir / "psql")
    if found is None:
        pytest.skip("psql not found: cannot run the compose init script")
    return found


@pytest.fixture
def login_roles(db_url: str, pg_server: pgserver.Server) -> dict[str, str]:
    """Run the compose init script against this test's database; the URL of each login role."""
    info = psycopg.conninfo.conninfo_to_dict(db_url)
    psql = _psql(pg_server)
    environment = {
        "PATH": f"{pathlib.Path(psql).parent}:{os.environ['PATH']}",
        "POSTGRES_USER": str(info.get("user", "postgres")),
        "POSTGRES_DB": str(info["dbname"]),
        "PGHOST": str(info.get("host", "127.0.0.1")),
        "PGPORT": str(info.get("port", 5432)),
        "PGPASSWORD": str(info.get("password", "")),
        **PASSWORDS,
    }
    for _ in range(2):  # twice: it must be safe to run again
        result = subprocess.run(
            ["bash", str(INIT_SCRIPT)], env=environment, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
    return {
        "app": as_role(db_url, "cryptomonitor_app", PASSWORDS["APP_DB_PASSWORD"]),
        "api": as_role(db_url, "cryptomonitor_api", PASSWORDS["API_DB_PASSWORD"]),
        "analyst": as_role(db_url, "analyst", PASSWORDS["ANALYST_DB_PASSWORD"]),
    }


def test_init_script_refuses_missing_passwords(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        ["bash", str(INIT_SCRIPT)],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "APP_DB_PASSWORD" in result.stderr


def test_writer_runs_the_fetcher(
    login_roles: dict[str, str], fake_api: FakeCoinGecko, tmp_path: pathlib.Path, db_url: str
) -> None:
    now = int(time.time())
    fake_api.set_price("bitcoin", 100.0, 5e9, now)
    owner = cli("migrate", DATABASE_URL=db_url)  # as compose's one-shot migrate service does
    assert owner.returncode == 0, owner.stderr
    result = cli(
        "run",
        "--once",
        DATABASE_URL=login_roles["app"],
        CRYPTOMONITOR_COINGECKO_URL=fake_api.url,
        CRYPTOMONITOR_COINS="bitcoin",
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
    )
    assert result.returncode == 0, result.stderr
    assert PASSWORDS["APP_DB_PASSWORD"] not in result.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT symbol, received_at IS NOT NULL FROM ticks").fetchall() == [
            ("bitcoin", True)
        ]
    assert lines(tmp_path / "alerts.txt") == []


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM ticks",
        "UPDATE ticks SET price = 1",
        "TRUNCATE ticks",
        "DROP TABLE alerts",
        "UPDATE alerts SET value = 0",
        "DELETE FROM alerts",
        "CREATE TABLE mine (x int)",
        "DELETE FROM schema_migrations",
    ],
)
def test_writer_cannot_destroy(login_roles: dict[str, str], statement: str) -> None:
    with (
        psycopg.connect(login_roles["app"], autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement)  # type: ignore[arg-type]


@pytest.mark.parametrize("role", ["api", "analyst"])
def test_readers_read_everything_and_write_nothing(login_roles: dict[str, str], role: str) -> None:
    with psycopg.connect(login_roles[role], autocommit=True) as conn:
        relations = [
            str(r[0])
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')"
            )
        ]
        assert {
            "ticks",
            "alerts",
            "ohlcv_1m",
            "ohlcv_1h",
            "ohlcv_1d",
            "rolling_averages",
            "volatility_24h",
        } <= set(relations)
        for name in relations:
            conn.execute(f'SELECT * FROM "{name}" LIMIT 1')  # type: ignore[arg-type]
        for statement in (
            "INSERT INTO ticks (time, symbol, price, source) VALUES (now(), 'x', 1, 'x')",
            "DELETE FROM alerts",
            "CREATE TABLE mine (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)  # type: ignore[arg-type]


def test_api_serves_as_a_reader(login_roles: dict[str, str], conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO ticks (time, symbol, price, volume_24h, source) "
        "VALUES (now() - interval '1 minute', 'bitcoin', 100, 5e9, 'test')"
    )
    with TestClient(application.create_app(login_roles["api"])) as client:
        metrics = client.get("/metrics").json()["metrics"]
        assert [(m["symbol"], m["metric"]) for m in metrics] == [
            ("bitcoin", "price"),
            ("bitcoin", "volume_24h"),
        ]
        assert client.get("/rank/bitcoin").json()["rank"] == 1


@pytest.mark.parametrize("role", ["app", "api", "analyst"])
def test_every_role_starts_on_a_current_schema(login_roles: dict[str, str], role: str) -> None:
    """`run` and `api` migrate and check policies at start: with nothing to do, no privilege."""
    with psycopg.connect(login_roles[role], autocommit=True) as conn:
        assert migrations.migrate(conn) == []
        policies.apply(conn, None, None)  # the template database has no policies


def test_writer_on_an_old_schema_is_told_to_migrate_as_owner(
    login_roles: dict[str, str], db_url: str, tmp_path: pathlib.Path
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM schema_migrations WHERE version = "
            "(SELECT max(version) FROM schema_migrations)"
        )
    result = cli(
        "run",
        "--once",
        DATABASE_URL=login_roles["app"],
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
    )
    assert result.returncode == 1
    assert "run `cryptomonitor migrate`" in result.stderr and "owner" in result.stderr


@pytest.mark.timescaledb
def test_writer_cannot_change_storage_policies(
    login_roles: dict[str, str], db_url: str, tmp_path: pathlib.Path
) -> None:
    common = {
        "CRYPTOMONITOR_ALERTS_FILE": str(tmp_path / "alerts.txt"),
        "CRYPTOMONITOR_COINGECKO_URL": "http://127.0.0.1:1/api/v3",
    }
    assert cli("migrate", DATABASE_URL=db_url, **common).returncode == 0
    # Same settings: the writer starts; its one poll fails (nothing listens on port 1), which
    # is run --once's exit 1, after start-up.
    same = cli(
        "run", "--once", DATABASE_URL=login_roles["app"], CRYPTOMONITOR_HTTP_ATTEMPTS="1", **common
    )
    assert same.returncode == 1, same.stderr
    assert '"run_start"' in same.stderr and "the source answered no poll" in same.stderr
    changed = cli(
        "run",
        "--once",
        DATABASE_URL=login_roles["app"],
        CRYPTOMONITOR_COMPRESS_AFTER="3d",
        **common,
    )
    assert changed.returncode == 1
    assert "CRYPTOMONITOR_COMPRESS_AFTER" in changed.stderr and "owner" in changed.stderr
