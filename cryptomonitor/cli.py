"""The ``cryptomonitor`` command: ``migrate``, ``run``, ``replay``, ``backfill``, ``demo``,
``api``, ``rules`` and ``db``, one module each in `cryptomonitor.commands` (its arguments, help and
handler).

Without a configured database every command but ``db`` (which manages it) and ``rules``
(which needs none) runs with the
embedded server (`commands.startup.database_settings`).

Every setting is an environment variable (see `cryptomonitor.config`) that a flag of the same
name overrides: ``CRYPTOMONITOR_POLL_INTERVAL`` is ``--poll-interval``; each command takes the
flags of its settings (`config.fields_for`). Exit status: 0 on success or a clean stop
(SIGTERM, SIGINT), 2 for a bad setting (including a database that refuses the connection: no
such database or role, wrong password), 1 for any other error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog

from cryptomonitor import __version__, config, logs
from cryptomonitor.alerting import rules as alerting_rules
from cryptomonitor.commands import (
    api,
    arguments,
    backfill,
    db,
    demo,
    migrate,
    replay,
    rules,
    run,
    startup,
)
from cryptomonitor.exceptions import ConfigError, CryptoMonitorError, DatabaseRefused

log = structlog.get_logger(__name__)


class Command(Protocol):
    """A module of `cryptomonitor.commands`: its name, its sub-command, its handler (which
    returns the exit status or raises a CryptoMonitorError)."""

    NAME: str

    def add_parser(self, commands: arguments.Subcommands) -> argparse.ArgumentParser: ...

    def main(self, settings: config.Settings, args: argparse.Namespace) -> int: ...


#: In the order of ``cryptomonitor --help``.
COMMANDS: tuple[Command, ...] = (migrate, run, replay, backfill, demo, api, rules, db)
#: The commands that look after the embedded server themselves, instead of using it.
MANAGE_THE_SERVER = frozenset({db.NAME, rules.NAME})


def _add_settings(parser: argparse.ArgumentParser, fields: Sequence[str]) -> None:
    group = parser.add_argument_group("settings (each also an environment variable)")
    for field in fields:
        option = config.OPTIONS_BY_FIELD[field]
        default = "" if option.secret else f"; default {option.default!r}"
        group.add_argument(
            option.flag,
            dest=field,
            metavar="VALUE",
            default=None,
            help=f"{option.help} [{option.env}{default}]",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cryptomonitor",
        description="Crypto market monitor: poll prices into PostgreSQL/TimescaleDB, raise alerts.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        fields = config.fields_for(command.NAME)
        sub = command.add_parser(commands)
        _add_settings(sub, fields)
        sub.set_defaults(main=command.main, fields=fields)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {field: getattr(args, field) for field in args.fields}
    try:
        settings = config.load(os.environ, overrides)
    except ConfigError as exc:
        print(f"cryptomonitor: error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    log.info(
        "settings",
        command=args.command,
        **{k: v for k, v in settings.redacted().items() if k in args.fields},
    )
    command: Callable[[config.Settings, argparse.Namespace], int] = args.main
    try:
        if args.command in MANAGE_THE_SERVER:
            return command(settings, args)
        if "rules_file" in args.fields:
            alerting_rules.load(settings.rules_file)  # a bad rule fails before the database

        with startup.database_settings(settings) as connecting:
            return command(connecting, args)
    except ConfigError as exc:
        log.error("bad_configuration", error=config.name_flags(str(exc), overrides))
        return 2
    except DatabaseRefused as exc:
        log.error("database_refused", error=str(exc))
        return 2
    except CryptoMonitorError as exc:
        log.error("fatal", error=str(exc), error_type=type(exc).__name__)
        return 1
