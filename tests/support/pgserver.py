"""Where the tests get PostgreSQL from: a DSN, a container, or a local cluster.

Order: ``CMTEST_DATABASE_URL`` if set; else a testcontainers container of
``CMTEST_DOCKER_IMAGE`` (default: the TimescaleDB image compose uses) when a Docker engine
answers and has that image; else a throwaway cluster in a temporary directory, started with
the PostgreSQL binaries found on this machine (``CMTEST_PG_BINDIR``, then
``pg_config --bindir``, then /usr/lib/postgresql/*/bin), with TimescaleDB preloaded when that
installation has it. ``CMTEST_TIMESCALEDB=off`` keeps a local cluster plain,
``require`` fails the run when TimescaleDB is not there.
``CMTEST_SERVER=container`` or ``local`` skips the choice (a container image that is missing is
then pulled). scripts/test runs the suite on both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import itertools
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import psycopg

TIMESCALEDB_IMAGE = "timescale/timescaledb:2.28.3-pg17"
#: The database migrated once per test run; each test's database is a copy of it.
TEMPLATE = "cryptomonitor_template"
_counter = itertools.count()
#: Server settings for speed: the tests' data is throwaway.
FAST = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200")


@dataclasses.dataclass
class Server:
    url: str
    description: str
    #: Stop and start the server (local clusters only): used by outage tests.
    bindir: pathlib.Path | None = None
    datadir: pathlib.Path | None = None


def find_bindir() -> pathlib.Path | None:
    explicit = os.environ.get("CMTEST_PG_BINDIR")
    if explicit:
        return pathlib.Path(explicit)
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (pathlib.Path(out) / "initdb").exists():
            return pathlib.Path(out)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return pathlib.Path(candidates[0]).parent
    found = shutil.which("initdb")
    return pathlib.Path(found).parent if found else None


def _timescaledb_installed(bindir: pathlib.Path) -> bool:
    pg_config = bindir / "pg_config"
    if not pg_config.exists():
        return False
    sharedir = subprocess.run(
        [str(pg_config), "--sharedir"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (pathlib.Path(sharedir) / "extension" / "timescaledb.control").exists()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb refuses root: run the server tools as the postgres user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextlib.contextmanager
def local_cluster(bindir: pathlib.Path, timescaledb: str) -> Iterator[Server]:
    base = pathlib.Path(tempfile.mkdtemp(prefix="cryptomonitor-pg-"))
    datadir = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(datadir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        port = free_port()
        load_ts = timescaledb != "off" and _timescaledb_installed(bindir)
        if timescaledb == "require" and not load_ts:
            raise RuntimeError(f"CMTEST_TIMESCALEDB=require, but {bindir} has no TimescaleDB")
        settings = [
            "listen_addresses = '127.0.0.1'",
            f"port = {port}",
            f"unix_socket_directories = '{base}'",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "max_connections = 200",
            "shared_buffers = 256MB",
        ]
        if load_ts:
            # Background workers off: tests refresh continuous aggregates themselves.
            settings += [
                "shared_preload_libraries = 'timescaledb'",
                "timescaledb.max_background_workers = 0",
                "timescaledb.telemetry_level = off",
            ]
        with (datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")
        server = Server(
            f"postgresql://postgres@127.0.0.1:{port}/postgres",
            f"local cluster {bindir} on 127.0.0.1:{port}"
            + (" with TimescaleDB" if load_ts else " (plain PostgreSQL)"),
            bindir,
            datadir,
        )
        start(server)
        yield server
        stop(server)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def start(server: Server) -> None:
    assert server.bindir and server.datadir
    subprocess.run(
        _as_postgres(
            [
                str(server.bindir / "pg_ctl"),
                "-D",
                str(server.datadir),
                "-w",
                "-l",
                str(server.datadir.parent / "server.log"),
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )


def stop(server: Server, mode: str = "fast") -> None:
    assert server.bindir and server.datadir
    subprocess.run(
        _as_postgres(
            [str(server.bindir / "pg_ctl"), "-D", str(server.datadir), "-w", "-m", mode, "stop"]
        ),
        check=False,
        capture_output=True,
    )


def _docker_has(image: str) -> bool:
    """A Docker engine answers and holds `image` (nothing is pulled to find out)."""
    if not (os.environ.get("DOCKER_HOST") or os.path.exists("/var/run/docker.sock")):
        return False
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env()
        try:
            client.images.get(image)
            return True
        finally:
            client.close()
    except Exception:  # no SDK, no engine, no such image: all mean "not here"
        return False


@contextlib.contextmanager
def container(image: str) -> Iterator[Server]:
    # No Ryuk (its image cannot be pulled everywhere: the container is removed on exit anyway).
    # The published port is reached on loopback: where testcontainers believes it runs inside
    # a container (these machines) it would aim at the bridge's gateway, a private address,
    # even with a localhost host override; the connection mode says "the docker host" instead.
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    os.environ.setdefault("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
    os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # testcontainers before the community/ layout
        from testcontainers.postgres import PostgresContainer

    db = PostgresContainer(image, driver=None)
    db.with_command("postgres " + " ".join(f"-c {setting}" for setting in FAST))
    with db:
        url = db.get_connection_url()
        host = psycopg.conninfo.conninfo_to_dict(url).get("host")
        if host not in ("127.0.0.1", "localhost"):  # the tests talk to loopback only
            raise RuntimeError(f"the test container is reached at {host}, not on loopback")
        yield Server(url, f"container {image} on {url.rsplit('@', 1)[1]}")


@contextlib.contextmanager
def provide() -> Iterator[Server]:
    """The server for this test session (see the module docstring)."""
    url = os.environ.get("CMTEST_DATABASE_URL")
    if url:
        yield Server(url, "CMTEST_DATABASE_URL")
        return
    mode = os.environ.get("CMTEST_SERVER", "auto")
    if mode not in ("auto", "container", "local"):
        raise RuntimeError(f"CMTEST_SERVER must be auto, container or local, not {mode!r}")
    image = os.environ.get("CMTEST_DOCKER_IMAGE", TIMESCALEDB_IMAGE)
    if mode == "container" or (mode == "auto" and _docker_has(image)):
        with container(image) as server:
            yield server
        return
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(
            "no database for the tests: set CMTEST_DATABASE_URL, "
            "run a Docker engine, or install PostgreSQL (initdb not found)"
        )
    with local_cluster(bindir, os.environ.get("CMTEST_TIMESCALEDB", "auto")) as s:
        yield s


def with_db(url: str, name: str) -> str:
    """`url` pointing at database `name`."""
    return psycopg.conninfo.make_conninfo(url, dbname=name)


@contextlib.contextmanager
def database(server: Server, template: str | None = TEMPLATE) -> Iterator[str]:
    """A new database on `server` (a copy of `template`, or empty), dropped afterwards."""
    name = f"cm_test_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    try:
        yield with_db(server.url, name)
    finally:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def server_version(url: str) -> tuple[str, str | None]:
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        ts = conn.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
    assert version is not None
    return str(version[0]), (str(ts[0]) if ts else None)
