"""A throwaway local PostgreSQL cluster for a benchmark run (``--local-cluster BINDIR``).

initdb into a temporary directory, listen on 127.0.0.1 only, durability off (``fsync = off``:
every figure is a floor, see docs/benchmarks.md; ``--durable``: PostgreSQL's defaults, fsync
and synchronous commit on), TimescaleDB preloaded when BINDIR's
installation has it; stopped and deleted at the end. As root, the server runs as ``postgres``
(initdb refuses root).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _has_timescaledb(bindir: pathlib.Path) -> bool:
    pg_config = bindir / "pg_config"
    if not pg_config.exists():
        return False
    sharedir = subprocess.run(
        [str(pg_config), "--sharedir"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (pathlib.Path(sharedir) / "extension" / "timescaledb.control").exists()


@contextlib.contextmanager
def local_cluster(bindir: pathlib.Path, durable: bool = False) -> Iterator[str]:
    """The URL of a fresh cluster's ``postgres`` database (superuser ``postgres``, trust);
    `durable`: with PostgreSQL's default durability (fsync, synchronous commit, full pages)."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="cryptomonitor-bench-pg-"))
    datadir = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(datadir), "-w"]
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
        settings = [
            "listen_addresses = '127.0.0.1'",
            f"port = {port}",
            f"unix_socket_directories = '{base}'",
            *(
                ()
                if durable
                else ("fsync = off", "synchronous_commit = off", "full_page_writes = off")
            ),
            "max_connections = 200",
            "shared_buffers = 256MB",
        ]
        if _has_timescaledb(bindir):  # its jobs off: the benchmarks refresh by hand
            settings += [
                "shared_preload_libraries = 'timescaledb'",
                "timescaledb.max_background_workers = 0",
                "timescaledb.telemetry_level = off",
            ]
        with (datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")
        subprocess.run(
            _as_postgres([*pg_ctl, "-l", str(base / "server.log"), "start"]),
            check=True,
            capture_output=True,
        )
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                _as_postgres([*pg_ctl, "-m", "fast", "stop"]), check=False, capture_output=True
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
