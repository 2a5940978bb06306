"""``cryptomonitor migrate``: create or update the database schema, then exit.

Applies the pending migrations (idempotent) and the TimescaleDB policies. Compose runs it as
the fetcher's user with ``--check-alerts-file`` before the fetcher starts, so that an alerts
directory this user cannot append to stops the stack at once, saying how to fix it.
"""

from __future__ import annotations

import argparse
import os
import threading

import structlog

from cryptomonitor.alerting import alertfile
from cryptomonitor.commands import arguments, startup
from cryptomonitor.config import Settings
from cryptomonitor.db import migrations, policies
from cryptomonitor.exceptions import ConfigError

log = structlog.get_logger(__name__)

NAME = "migrate"


def add_parser(commands: arguments.Subcommands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        NAME,
        help="create or update the database schema",
        description="Apply the pending SQL migrations (idempotent).",
    )
    parser.add_argument(
        "--check-alerts-file",
        action="store_true",
        help="first check that this user can append to the alerts file (compose "
        "runs migrate as the fetcher's user: a bad ./alerts stops the stack at once)",
    )
    return parser


def main(settings: Settings, args: argparse.Namespace) -> int:
    if args.check_alerts_file:
        if os.geteuid() == 0:  # before the check, which would create the file as root
            raise ConfigError(
                "HOST_UID: the fetcher would run as root. Set HOST_UID/HOST_GID in .env to the "
                "owner of ./alerts (`id -u`, `id -g`), or keep 10001 and `chown 10001:10001 "
                "alerts` (the README's quick start does one or the other)"
            )
        alertfile.AlertFile(settings.alerts_file).check_writable()
    conn = startup.wait_for_database(settings, threading.Event())
    with conn:
        applied = migrations.migrate(conn, settings.timescaledb)
        policies.apply(conn, settings.compress_after, settings.ticks_retention)
        flavour = migrations.current_flavour(conn)
    log.info("migrate_done", applied=applied, flavour=flavour)
    return 0
