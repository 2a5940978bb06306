"""``cryptomonitor api``: serve the read-only REST API and the dashboard (`cryptomonitor.api`)
until SIGTERM or SIGINT.

The port is bound first (a port in use is a bad setting, exit 2), then the database waited
for and migrated, so that the API serves the schema this code knows even if the fetcher has
not started yet.
"""

from __future__ import annotations

import argparse
import threading

from cryptomonitor.commands import arguments, startup
from cryptomonitor.config import Settings
from cryptomonitor.db import migrations

NAME = "api"

#: Every path the application serves, as its help names them (tests/unit/commands/test_api.py
#: keeps them equal to the application's routes).
DESCRIPTION = (
    "Serve the read-only REST API: /metrics, /metrics/{symbol}, /rank, /rank/{symbol}, "
    "/alerts, /rules (the alert rules in force), /gaps, /health and /health/live (liveness, "
    "no database); the dashboard at /, "
    "the API process's own Prometheus metrics at /prometheus, the OpenAPI docs at /docs "
    "(the schema at /openapi.json) and the dashboard's files under /static."
)


def add_parser(commands: arguments.Subcommands) -> argparse.ArgumentParser:
    return commands.add_parser(NAME, help="serve the read-only REST API", description=DESCRIPTION)


def main(settings: Settings, args: argparse.Namespace) -> int:
    # Imported here, not at the top: only this command needs FastAPI, uvicorn and pydantic
    # (a third of a second for every other command, and the fetcher's memory).
    from cryptomonitor.alerting import rules
    from cryptomonitor.api import application, server

    rules.load(settings.rules_file)  # a bad rules file fails before anything starts
    sock = server.bind(settings.api_host, settings.api_port)  # a port in use fails first
    try:
        # Serve the schema this code knows even if the fetcher has not started yet.
        with startup.wait_for_database(settings, threading.Event()) as conn:
            migrations.migrate(conn, settings.timescaledb)
    except BaseException:
        sock.close()
        raise
    url = server.public_url(settings.api_host, settings.api_port)
    app = application.create_app(
        settings.conninfo,
        stale_after=settings.api_stale_after,
        rank_ttl=settings.api_rank_ttl,
        public_url=url,
        rules_file=settings.rules_file,
    )
    # uvicorn handles SIGTERM/SIGINT itself (stops accepting, drains, shuts down), then restores
    # the previous handler and re-raises the signal: ours makes that a clean exit 0.
    startup.stop_on_signals()
    server.serve(app, sock)
    return 0
