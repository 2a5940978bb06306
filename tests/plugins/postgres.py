"""Pytest plugin: a real PostgreSQL for the whole run, a fresh database per test.

The server comes from tests/support/pgserver.py (DSN, container, or a throwaway local cluster). One
template database is migrated once; each test gets a copy (CREATE DATABASE ... TEMPLATE).
Tests marked ``timescaledb`` are skipped, saying why, where the schema is plain PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Iterator

import psycopg
import pytest

from cryptomonitor import logs
from cryptomonitor.db import migrations
from tests.support import pgserver

TEMPLATE = pgserver.TEMPLATE

_stack = contextlib.ExitStack()
_server: pgserver.Server | None = None
_flavour = "unknown"


def pytest_configure(config: pytest.Config) -> None:
    global _server, _flavour
    if config.option.collectonly or hasattr(config, "workerinput"):
        return
    logs.configure("warning", "console")
    try:
        _server = _stack.enter_context(pgserver.provide())
        with psycopg.connect(_server.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        with psycopg.connect(pgserver.with_db(_server.url, TEMPLATE), autocommit=True) as conn:
            migrations.migrate(conn, os.environ.get("CMTEST_APP_TIMESCALEDB", "auto"))
            _flavour = migrations.current_flavour(conn) or "none"
        if os.environ.get("CMTEST_TIMESCALEDB") == "require" and _flavour != "timescaledb":
            raise RuntimeError(
                "CMTEST_TIMESCALEDB=require, but the migrated schema's flavour "
                f"is {_flavour}: TimescaleDB was not detected"
            )
    except Exception as exc:
        _stack.close()
        pytest.exit(f"no usable test database: {exc}", returncode=3)


def pytest_unconfigure(config: pytest.Config) -> None:
    _stack.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    import cryptomonitor

    package = f"package: {pathlib.Path(cryptomonitor.__file__).parent}"
    if _server is None:
        return [package, "database: none"]
    version, ts = pgserver.server_version(_server.url)
    return [
        package,
        f"database: {_server.description}",
        f"database: PostgreSQL {version}, TimescaleDB {ts or 'not installed'}, "
        f"schema flavour {_flavour}",
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _flavour == "timescaledb":
        return
    skip = pytest.mark.skip(reason=f"needs TimescaleDB; this run's database is {_flavour}")
    for item in items:
        if "timescaledb" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pg_server() -> pgserver.Server:
    assert _server is not None
    return _server


@pytest.fixture(scope="session")
def flavour() -> str:
    return _flavour


@pytest.fixture
def db_url(pg_server: pgserver.Server) -> Iterator[str]:
    """A migrated database of its own for this test."""
    with pgserver.database(pg_server) as url:
        yield url


@pytest.fixture
def empty_db_url(pg_server: pgserver.Server) -> Iterator[str]:
    """An empty database (no migrations) for this test."""
    with pgserver.database(pg_server, template=None) as url:
        yield url


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c
