"""The embedded PostgreSQL: the server the commands start for themselves when no database is
configured (``DATABASE_URL`` unset, and no ``PGHOST``, ``PGHOSTADDR``, ``PGPORT``,
``PGDATABASE`` or ``PGSERVICE``: `wanted`).

Its directory (``CRYPTOMONITOR_DATA_DIR``, default ``$XDG_DATA_HOME/cryptomonitor``) holds:

- ``postgres/``: the cluster, made by initdb on first use (database ``cryptomonitor``,
  superuser ``cryptomonitor``, trust authentication), with ``cryptomonitor.conf`` (rewritten
  at each start) included by its postgresql.conf;
- ``run/``: the server's only socket (``listen_addresses = ''``: no TCP port, so neither a
  system cluster nor another user's server can clash with it; the directory is the owner's
  alone, mode 0700), and the lock files below;
- ``postgres.log``: the server's log.

Several commands share one server, and the last one out stops it: each process holds a shared
flock on ``run/users.lock`` while it uses the server; starting and stopping happen under an
exclusive flock on ``run/control.lock``. At exit a process drops its shared lock and, under the
control lock, tries a non-blocking exclusive lock on users.lock: if it gets it, no process uses
the server, which it stops (``pg_ctl stop -m fast``), unless ``cryptomonitor db start`` asked
to keep it up (``run/keep``). A crashed process's flock goes with it; a server a crash left
running is found (``pg_ctl status`` reads postmaster.pid) and used, then stopped by the last
one out. The binaries: `db.pgbinaries`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import os
import pathlib
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import IO

import psycopg
import structlog

from cryptomonitor.db import pgbinaries, queries
from cryptomonitor.exceptions import ConfigError, EmbeddedServerError

log = structlog.get_logger(__name__)

#: libpq variables that name a server: any of them set means "the user's server, not ours".
LIBPQ_TARGETS = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGSERVICE")
ROLE = "cryptomonitor"
DATABASE = "cryptomonitor"
#: The socket's number (its file name, .s.PGSQL.5432): no TCP port is opened.
PORT = 5432
#: How long pg_ctl may wait for the server to start or stop.
PG_CTL_TIMEOUT = 120
#: A Unix socket's path has at most 103 bytes on every system (107 on Linux, 103 on macOS).
_MAX_SOCKET_PATH = 103
_SETTING = "CRYPTOMONITOR_DATA_DIR"


def wanted(database_url: str | None, environ: Mapping[str, str]) -> bool:
    """Whether the commands use the embedded server: no URL and no libpq target variable."""
    return database_url is None and not any(environ.get(name) for name in LIBPQ_TARGETS)


def default_data_dir(environ: Mapping[str, str]) -> pathlib.Path:
    """``$XDG_DATA_HOME/cryptomonitor``, or ``~/.local/share/cryptomonitor``."""
    base = environ.get("XDG_DATA_HOME") or ""
    if not os.path.isabs(base):  # the XDG spec: a relative value is to be ignored
        home = environ.get("HOME") or os.path.expanduser("~")
        base = os.path.join(home, ".local", "share")
    return pathlib.Path(base) / "cryptomonitor"


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where the embedded server's files are (see the module's docstring)."""

    root: pathlib.Path

    @property
    def pgdata(self) -> pathlib.Path:
        return self.root / "postgres"

    @property
    def run(self) -> pathlib.Path:
        return self.root / "run"

    @property
    def log(self) -> pathlib.Path:
        return self.root / "postgres.log"

    @property
    def keep(self) -> pathlib.Path:
        return self.run / "keep"

    def url(self) -> str:
        """The libpq URL of the server's database (``psql "$(cryptomonitor db url)"``)."""
        host = urllib.parse.quote(str(self.run), safe="/")
        return f"postgresql://{ROLE}@/{DATABASE}?host={host}&port={PORT}"

    def admin_conninfo(self) -> str:
        return psycopg.conninfo.make_conninfo(
            "", host=str(self.run), port=PORT, user=ROLE, dbname="postgres"
        )


class Users:
    """Who uses the server, with flocks on two files of ``run/`` (the module's docstring).

    `join` and `leave` are called inside `control()`. A process holds one `Users` per use;
    flock locks belong to the open file, so two in one process exclude each other too."""

    def __init__(self, run: pathlib.Path) -> None:
        self._users_path = run / "users.lock"
        self._control_path = run / "control.lock"
        self._held: IO[bytes] | None = None

    @contextlib.contextmanager
    def control(self) -> Iterator[None]:
        """The exclusive control lock, waited for."""
        with self._control_path.open("ab") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield  # closing the file releases the lock

    def join(self) -> None:
        if self._held is None:
            held = self._users_path.open("ab")
            fcntl.flock(held, fcntl.LOCK_SH)
            self._held = held

    def leave(self) -> bool:
        """Drop this use; True if no other process uses the server now."""
        if self._held is not None:
            self._held.close()
            self._held = None
        return not self.in_use()

    def in_use(self) -> bool:
        """Whether some use holds the users lock (this one's included)."""
        with self._users_path.open("ab") as probe:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    return True
                raise
        return False


class Server:
    """The embedded server of one data directory, run with `binaries`."""

    def __init__(self, layout: Layout, binaries: pgbinaries.Binaries) -> None:
        self.layout = layout
        self.binaries = binaries
        self.users = Users(layout.run)

    def _tool(self, name: str) -> str:
        return str(self.binaries.bindir / name)

    def initialized(self) -> bool:
        return (self.layout.pgdata / "PG_VERSION").is_file()

    def running(self) -> bool:
        """pg_ctl status: a postmaster.pid whose process is alive."""
        if not self.initialized():
            return False
        done = subprocess.run(
            [self._tool("pg_ctl"), "status", "-D", str(self.layout.pgdata)],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.returncode == 0

    def pid(self) -> int | None:
        try:
            first = (self.layout.pgdata / "postmaster.pid").read_text().split("\n", 1)[0]
            return int(first)
        except (OSError, ValueError):
            return None

    def check_version(self) -> None:
        """ConfigError if the cluster was made by another major version than the binaries."""
        if not self.initialized():
            return
        made_by = (self.layout.pgdata / "PG_VERSION").read_text().strip()
        if made_by != str(self.binaries.major):
            raise ConfigError(
                f"{_SETTING}: {self.layout.pgdata} holds a PostgreSQL {made_by} cluster, and "
                f"the binaries chosen ({self.binaries.bindir}, {self.binaries.origin}) are "
                f"PostgreSQL {self.binaries.major}: set {pgbinaries.SETTING} to a PostgreSQL "
                f"{made_by} bin directory, upgrade the cluster (docs/embedded.md), or use "
                f"another {_SETTING}"
            )

    def initdb(self) -> None:
        """Make the cluster: in a scratch directory renamed into place, so that a failure
        leaves nothing half made."""
        scratch = self.layout.root / "postgres.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        done = subprocess.run(
            [
                self._tool("initdb"),
                "-D",
                str(scratch),
                "-U",
                ROLE,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise EmbeddedServerError(
                f"initdb ({self.binaries.bindir}) failed in {self.layout.root}:\n"
                + _tail(done.stdout + done.stderr)
            )
        with (scratch / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                "\n# CryptoMonitor's settings for the embedded server, rewritten at each start\n"
                "include_if_exists = 'cryptomonitor.conf'\n"
            )
        scratch.rename(self.layout.pgdata)
        log.info("embedded_postgres_initdb", pgdata=str(self.layout.pgdata))

    def write_conf(self) -> None:
        lines = [
            "# Written by cryptomonitor (db/embedded.py) before each start: changes here are lost.",
            "listen_addresses = ''",
            f"port = {PORT}",
            f"unix_socket_directories = {_quote(str(self.layout.run))}",
            "unix_socket_permissions = 0700",
        ]
        if self.binaries.timescaledb:
            lines += [
                "shared_preload_libraries = 'timescaledb'",
                "timescaledb.telemetry_level = off",
            ]
        (self.layout.pgdata / "cryptomonitor.conf").write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        self.write_conf()
        done = subprocess.run(
            [
                self._tool("pg_ctl"),
                "start",
                "-D",
                str(self.layout.pgdata),
                "-l",
                str(self.layout.log),
                "-w",
                "-t",
                str(PG_CTL_TIMEOUT),
                "-s",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise EmbeddedServerError(
                f"the embedded PostgreSQL ({self.binaries.bindir}) did not start; the end of "
                f"{self.layout.log}:\n{_tail(_read(self.layout.log) or done.stderr)}"
            )

    def stop(self) -> None:
        done = subprocess.run(
            [
                self._tool("pg_ctl"),
                "stop",
                "-D",
                str(self.layout.pgdata),
                "-m",
                "fast",
                "-w",
                "-t",
                str(PG_CTL_TIMEOUT),
                "-s",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            log.warning(
                "embedded_postgres_stop_failed",
                data_dir=str(self.layout.root),
                error=done.stderr.strip(),
                log_tail=_tail(_read(self.layout.log)),
            )
        else:
            log.info("embedded_postgres_stopped", data_dir=str(self.layout.root))

    def ensure_database(self) -> None:
        """The ``cryptomonitor`` database exists (made after initdb's first start)."""
        try:
            with psycopg.connect(self.layout.admin_conninfo(), autocommit=True) as conn:
                if conn.execute(queries.get("embedded_database_exists")).fetchone() is None:
                    conn.execute(queries.get("embedded_create_database"))
        except psycopg.Error as exc:
            raise EmbeddedServerError(
                f"the embedded PostgreSQL in {self.layout.root} started but cannot be used: "
                f"{exc}; the end of {self.layout.log}:\n{_tail(_read(self.layout.log))}"
            ) from exc

    def up(self) -> bool:
        """Start the server if it is not running (initdb first if need be); True if it was
        started now. Call under `Users.control`."""
        if self.running():
            started = False
        else:
            if not self.initialized():
                self.initdb()
            self.start()
            started = True
        self.ensure_database()
        return started


def prepare(data_dir: pathlib.Path | None, bindir: pathlib.Path | None) -> Server:
    """The server of `data_dir` (None: `default_data_dir`) with the binaries `bindir` names (or
    `pgbinaries.find` chooses), its directories made. ConfigError when it cannot run here:
    as root, no binaries, a directory that cannot be written, a cluster of another version."""
    if os.geteuid() == 0:
        raise ConfigError(
            "DATABASE_URL is unset, and the embedded PostgreSQL cannot run as root (initdb "
            "refuses to): run cryptomonitor as a normal user, or set DATABASE_URL to a server "
            "of yours (README: Without Docker)"
        )
    root = (data_dir or default_data_dir(os.environ)).expanduser().absolute()
    layout = Layout(root)
    socket = layout.run / f".s.PGSQL.{PORT}"
    if len(os.fsencode(socket)) > _MAX_SOCKET_PATH:
        raise ConfigError(
            f"{_SETTING}: the server's socket would be {socket}, longer than a Unix socket's "
            f"path may be ({_MAX_SOCKET_PATH} bytes): choose a shorter directory"
        )
    try:
        layout.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        layout.run.mkdir(mode=0o700, exist_ok=True)
        (layout.run / "control.lock").touch()
        (layout.run / "users.lock").touch()
    except OSError as exc:
        raise ConfigError(
            f"{_SETTING}: cannot write the embedded PostgreSQL's directory {root}: {exc}"
        ) from None
    existing = _cluster_major(layout)
    chosen = pgbinaries.find(bindir, existing)
    server = Server(layout, chosen)
    server.check_version()
    return server


@contextlib.contextmanager
def session(data_dir: pathlib.Path | None, bindir: pathlib.Path | None) -> Iterator[str]:
    """Use the embedded server while the block runs: started if need be, stopped after if
    this process is the last to use it (and no ``db start`` keeps it up). Yields its URL."""
    server = prepare(data_dir, bindir)
    with server.users.control():
        server.users.join()
        try:
            started = server.up()
        except BaseException:
            server.users.leave()
            raise
    describe(server, started=started)
    try:
        yield server.layout.url()
    finally:
        release(server)


def release(server: Server) -> None:
    """End this process's use; stop the server if it was the last and none keeps it up."""
    with server.users.control():
        last = server.users.leave()
        if last and not server.layout.keep.exists() and server.running():
            server.stop()


def keep_up(server: Server) -> bool:
    """Start the server if need be and keep it up after this process (``db start``, ``db
    url``) until `let_down`; True if it was started now."""
    with server.users.control():
        started = server.up()
        server.layout.keep.touch()
    describe(server, started=started)
    return started


def let_down(server: Server) -> bool:
    """No longer keep the server up; stop it now unless a command uses it. True if it is
    stopped (or was not running)."""
    with server.users.control():
        server.layout.keep.unlink(missing_ok=True)
        if server.users.in_use():
            return False
        if server.running():
            server.stop()
    return True


def describe(server: Server, *, started: bool) -> None:
    log.info(
        "embedded_postgres",
        data_dir=str(server.layout.root),
        bindir=str(server.binaries.bindir),
        binaries=server.binaries.origin,
        postgres=server.binaries.major,
        timescaledb=server.binaries.timescaledb,
        started=started,
        url=server.layout.url(),
    )


def _cluster_major(layout: Layout) -> int | None:
    try:
        return int((layout.pgdata / "PG_VERSION").read_text().strip())
    except (OSError, ValueError):
        return None


def _quote(value: str) -> str:
    """A postgresql.conf string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _read(path: pathlib.Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
