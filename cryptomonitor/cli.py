"""The ``cryptomonitor`` command: ``migrate``, ``run``, ``replay`` and ``api``.

Every setting is an environment variable (see `cryptomonitor.config`) that a flag of the same
name overrides: ``CRYPTOMONITOR_POLL_INTERVAL`` is ``--poll-interval``. Exit status: 0 on
success or a clean stop (SIGTERM, SIGINT), 2 for a bad setting (including a database that
refuses the connection: no such database or role, wrong password), 1 for any other error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pathlib
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence

import structlog

from cryptomonitor import __version__, config, logs
from cryptomonitor.alerting import alertfile
from cryptomonitor.commands import backfill, demo, replay, run, startup
from cryptomonitor.config import values
from cryptomonitor.db import migrations, policies
from cryptomonitor.exceptions import ConfigError, CryptoMonitorError, DatabaseRefused

log = structlog.get_logger(__name__)


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

    p = commands.add_parser(
        "migrate",
        help="create or update the database schema",
        description="Apply the pending SQL migrations (idempotent).",
    )
    p.add_argument(
        "--check-alerts-file",
        action="store_true",
        help="first check that this user can append to the alerts file (compose "
        "runs migrate as the fetcher's user: a bad ./alerts stops the stack at once)",
    )
    _add_settings(p, config.fields_for("migrate"))
    p.set_defaults(handler=_migrate, fields=config.fields_for("migrate"))

    p = commands.add_parser(
        "run",
        help="poll the price source and store ticks until stopped",
        description="Migrate, then poll the source every poll interval, "
        "store new ticks and append alert lines. Stops cleanly on SIGTERM.",
    )
    p.add_argument("--once", action="store_true", help="poll once, then exit")
    _add_settings(p, config.fields_for("run"))
    p.set_defaults(handler=_run, fields=config.fields_for("run"))

    p = commands.add_parser(
        "replay",
        help="feed recorded 1-minute OHLCV CSVs to the pipeline",
        description="Store the bars of each FILE as ticks (4 per bar) and "
        "raise alerts exactly as a live run would. Several files (one "
        "--symbol each, in order) are replayed in parallel processes.",
    )
    p.add_argument(
        "files",
        type=pathlib.Path,
        metavar="FILE.csv",
        nargs="+",
        help="CSV with timestamp,open,high,low,close,volume (bar open times, UTC)",
    )
    p.add_argument(
        "--symbol",
        required=True,
        type=_symbol,
        action="append",
        dest="symbols",
        help="symbol to store the ticks under, one of its own: btc, not bitcoin "
        "(live CoinGecko data is stored under its coin ids); once per FILE",
    )
    p.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="N",
        help="files replayed at once, each in its own process (default: one per "
        "file, at most the number of CPUs plus one)",
    )
    p.add_argument(
        "--speed",
        type=_positive_float,
        default=None,
        help="times real time (60 = a minute per second); default: as fast as possible",
    )
    p.add_argument("--skip", type=_natural, default=0, metavar="N", help="skip the first N bars")
    p.add_argument(
        "--limit",
        type=_natural,
        default=None,
        metavar="N",
        help="replay at most N bars (1440 = one day)",
    )
    p.add_argument(
        "--batch",
        type=_positive_int,
        default=5000,
        metavar="N",
        help="ticks per database transaction (default 5000)",
    )
    _add_settings(p, config.fields_for("replay"))
    p.set_defaults(handler=_replay, fields=config.fields_for("replay"))

    p = commands.add_parser(
        "backfill",
        help="fetch a past period from the source's history (no alerts)",
        description="Store the source's history of the coins over [--from, --to): CoinGecko "
        "market_chart/range (5-minutely within the last day, hourly up to 90 days, daily "
        "beyond), Binance 1-minute klines. Raises no alert; resumes after the newest tick an "
        "interrupted run stored; on TimescaleDB refreshes the candles of the period.",
    )
    p.add_argument(
        "--from",
        dest="start",
        required=True,
        type=_when,
        metavar="TIME",
        help="ISO 8601 (2025-06-01T00:00Z; without a zone: UTC)",
    )
    p.add_argument(
        "--to", dest="end", type=_when, default=None, metavar="TIME", help="ISO 8601; default: now"
    )
    _add_settings(p, config.fields_for("backfill"))
    p.set_defaults(handler=_backfill, fields=config.fields_for("backfill"))

    p = commands.add_parser(
        "demo",
        help="fill the database with a real day of market data that ends now (offline)",
        description="Write the ticks of a real day of BTC, ETH and DOGE 1-minute candles "
        "(shipped with the package) as demo-btc, demo-eth and demo-doge, shifted to end now, "
        "through the live pipeline: alerts, candles, the API and the example queries all "
        "show figures. Running it again continues where it stopped.",
    )
    p.add_argument(
        "--hours",
        type=_positive_float,
        default=24.0,
        help="how much history to write, ending now (default 24)",
    )
    p.add_argument(
        "--follow",
        action="store_true",
        help="then go on in real time, a tick per symbol every 15 s, until stopped",
    )
    _add_settings(p, config.fields_for("demo"))
    p.set_defaults(handler=_demo, fields=config.fields_for("demo"))

    p = commands.add_parser(
        "api",
        help="serve the read-only REST API",
        description="Serve /metrics, /metrics/{symbol}, /rank/{symbol}, "
        "/alerts and /health (OpenAPI docs at /docs).",
    )
    _add_settings(p, config.fields_for("api"))
    p.set_defaults(handler=_api, fields=config.fields_for("api"))
    return parser


def _when(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not an ISO 8601 time (like 2025-06-01T00:00Z)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def _symbol(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}", text):
        raise argparse.ArgumentTypeError(
            f"{text[:100]!r}: a symbol is 1-100 letters, digits and . _ : - (no spaces, no /)"
        )
    return text


def _positive_int(text: str) -> int:
    value = _natural(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _natural(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        log.info("stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def _migrate(settings: config.Settings, args: argparse.Namespace) -> int:
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


def _run(settings: config.Settings, args: argparse.Namespace) -> int:
    summary = run.run(settings, _stop_on_signals(), max_polls=1 if args.once else None)
    if summary.failed:
        log.error("run_failed", why=summary.failed)
        return 1
    return 0


def _replay(settings: config.Settings, args: argparse.Namespace) -> int:
    if len(args.symbols) != len(args.files):
        raise ConfigError(
            f"--symbol: give one per FILE, in order ({len(args.files)} files, "
            f"{len(args.symbols)} symbols)"
        )
    if len(set(args.symbols)) != len(args.symbols):
        raise ConfigError(
            "--symbol: each FILE needs a symbol of its own (two files of one "
            "symbol would race for its alert windows; replay them one by one)"
        )
    workers = args.jobs or min(len(args.files), (os.cpu_count() or 1) + 1)
    replay.replay_files(
        settings,
        list(zip(args.files, args.symbols, strict=True)),
        _stop_on_signals(),
        workers=workers,
        speed=args.speed,
        skip=args.skip,
        limit=args.limit,
        batch_size=args.batch,
    )
    return 0


def _backfill(settings: config.Settings, args: argparse.Namespace) -> int:
    end = args.end or dt.datetime.now(dt.UTC)
    if args.start >= end:
        raise ConfigError("--from: must be before --to (default: now)")
    symbols = values.named_coins(settings.coins)
    if not symbols:
        raise ConfigError("CRYPTOMONITOR_COINS: name the coins to backfill (not * or top:N)")
    summary = backfill.backfill_period(settings, _stop_on_signals(), args.start, end, symbols)
    print(
        f"backfill: {summary.stored} ticks stored ({summary.ticks} fetched in "
        f"{summary.requests} requests) for {', '.join(symbols)}",
        file=sys.stderr,
    )
    return 0


def _demo(settings: config.Settings, args: argparse.Namespace) -> int:
    summary = demo.run_demo(settings, _stop_on_signals(), hours=args.hours, follow=args.follow)
    print(
        f"demo: {summary.stored} ticks stored for demo-btc, demo-eth, demo-doge "
        f"({summary.duplicates} already there), {summary.alerts} alerts "
        f"-> {settings.alerts_file}",
        file=sys.stderr,
    )
    return 0


def _api(settings: config.Settings, args: argparse.Namespace) -> int:
    from cryptomonitor.api import application, server

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
    )
    # uvicorn handles SIGTERM/SIGINT itself (stops accepting, drains, shuts down), then restores
    # the previous handler and re-raises the signal: ours makes that a clean exit 0.
    _stop_on_signals()
    server.serve(app, sock)
    return 0


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
    handler: Callable[[config.Settings, argparse.Namespace], int] = args.handler
    try:
        return handler(settings, args)
    except ConfigError as exc:
        log.error("bad_configuration", error=config.name_flags(str(exc), overrides))
        return 2
    except DatabaseRefused as exc:
        log.error("database_refused", error=str(exc))
        return 2
    except CryptoMonitorError as exc:
        log.error("fatal", error=str(exc), error_type=type(exc).__name__)
        return 1
