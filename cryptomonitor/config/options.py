"""Every setting, declared once: its variable, flag, parser, default, help, and the commands
that take it. The flags (`cli`), the variables (`settings.load`), ``.env.example`` and the table
of docs/configuration.md all come from `OPTIONS`; tests/unit/config/test_options.py keeps the
files equal to it.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable
from typing import Any

from cryptomonitor.config import values

PREFIX = "CRYPTOMONITOR_"
DEFAULT_COINGECKO_URL = "https://api.coingecko.com/api/v3"

#: The commands of the CLI (`cryptomonitor.commands`), and the groups of them options name.
COMMANDS = ("migrate", "run", "replay", "backfill", "demo", "api")
ALL = frozenset(COMMANDS)
STORING = ALL - {"api"}

#: The sources `sources.registry` builds, by name (it imports this package, not the other way
#: round; tests/integration/test_sources.py keeps the two equal).
SOURCE_NAMES = ("coingecko", "binance", "binance-ws", "kraken-ws")


def _database_url(text: str) -> str | None:
    """A libpq URL or key=value string (checked here, so a typo is a bad setting, exit 2)."""
    value = text.strip()
    if not value:
        return None
    # psycopg only where a DSN is read: the pure modules (the rules, through `values`) import
    # this package without a database driver.
    import psycopg

    try:
        psycopg.conninfo.conninfo_to_dict(value)
    except psycopg.ProgrammingError:
        # Not libpq's message: it quotes the input back, password included.
        raise ValueError(
            "not a libpq URL (postgresql://user:password@host:5432/dbname) or "
            "key=value string (host=... dbname=...)"
        ) from None
    return value


@dataclasses.dataclass(frozen=True)
class Option:
    """One setting: its field name, environment variable, parser, default, help text, and
    the commands it belongs to."""

    field: str
    env: str
    parse: Callable[[str], Any]
    default: str
    help: str
    secret: bool = False
    #: The commands that take it, each as a flag; every option belongs to one at least.
    commands: frozenset[str] = frozenset()

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option(
        "database_url",
        "DATABASE_URL",
        _database_url,
        "",
        "libpq URL of the database; unset: the PG* variables",
        secret=True,
        commands=ALL,
    ),
    Option(
        "source",
        PREFIX + "SOURCE",
        values.choice(*SOURCE_NAMES),
        "coingecko",
        "where prices come from: coingecko, binance (spot pairs, no key), or the streams "
        "binance-ws (1-minute klines) and kraken-ws (trades per second)",
        commands=frozenset({"run", "backfill"}),
    ),
    Option(
        "coins",
        PREFIX + "COINS",
        values.coins,
        "bitcoin,ethereum,zcash",
        "comma-separated CoinGecko ids (top:N: the N biggest) or Binance pairs (*: all)",
        commands=frozenset({"run", "backfill"}),
    ),
    Option(
        "vs_currency",
        PREFIX + "VS_CURRENCY",
        values.currency,
        "usd",
        "currency prices and volumes are quoted in",
        commands=frozenset({"run", "backfill", "replay", "demo"}),
    ),
    Option(
        "poll_interval",
        PREFIX + "POLL_INTERVAL",
        values.parse_duration,
        "30",
        "seconds between polls (fractions and 250ms/5m/1h allowed)",
        commands=frozenset({"run"}),
    ),
    Option(
        "coingecko_url",
        PREFIX + "COINGECKO_URL",
        values.http_url,
        DEFAULT_COINGECKO_URL,
        "CoinGecko API base URL (pro plans: https://pro-api.coingecko.com/api/v3)",
        commands=frozenset({"run", "backfill"}),
    ),
    Option(
        "coingecko_api_key",
        PREFIX + "COINGECKO_API_KEY",
        values.optional_text,
        "",
        "CoinGecko demo or pro key; the header follows the URL's host",
        secret=True,
        commands=frozenset({"run", "backfill"}),
    ),
    Option(
        "coingecko_rate",
        PREFIX + "COINGECKO_RATE",
        values.positive_float,
        "10",
        "CoinGecko requests per minute at most (your plan's limit: 30 demo, 500+ pro)",
        commands=frozenset({"run", "backfill"}),
    ),
    Option(
        "binance_url",
        PREFIX + "BINANCE_URL",
        values.http_url,
        "https://api.binance.com",
        "Binance spot API base URL",
        commands=frozenset({"run", "backfill"}),
    ),
    Option(
        "binance_ws_url",
        PREFIX + "BINANCE_WS_URL",
        values.ws_url,
        "wss://stream.binance.com:9443/stream",
        "binance-ws: Binance spot combined-stream URL",
        commands=frozenset({"run"}),
    ),
    Option(
        "kraken_ws_url",
        PREFIX + "KRAKEN_WS_URL",
        values.ws_url,
        "wss://ws.kraken.com",
        "kraken-ws: Kraken WebSocket API v1 URL",
        commands=frozenset({"run"}),
    ),
    Option(
        "stream_silent_after",
        PREFIX + "STREAM_SILENT_AFTER",
        values.parse_duration,
        "30",
        "streams: a connection that sends nothing this long is replaced",
        commands=frozenset({"run"}),
    ),
    Option(
        "stream_buffer_max",
        PREFIX + "STREAM_BUFFER_MAX",
        values.positive_int,
        "100000",
        "streams: ticks held between the sockets and the poll loop; past it the oldest "
        "are dropped, counted and logged",
        commands=frozenset({"run"}),
    ),
    Option(
        "http_timeout",
        PREFIX + "HTTP_TIMEOUT",
        values.parse_duration,
        "10",
        "seconds to wait for the API to connect and to answer",
        commands=frozenset({"run", "backfill"}),
    ),
    Option(
        "http_attempts",
        PREFIX + "HTTP_ATTEMPTS",
        values.positive_int,
        "4",
        "attempts per poll on connection errors, 408, 429 and 5xx",
        commands=frozenset({"run", "backfill"}),
    ),
    Option(
        "alerts_file",
        PREFIX + "ALERTS_FILE",
        pathlib.Path,
        "alerts/alerts.txt",
        "file alert lines are appended to",
        commands=frozenset({"migrate", "run", "replay", "demo"}),
    ),
    Option(
        "rules_file",
        PREFIX + "RULES_FILE",
        values.optional_path,
        "",
        "TOML file of alert rules; unset: the built-in default rules",
        commands=frozenset({"run", "replay", "demo"}),
    ),
    Option(
        "alert_repeat_interval",
        PREFIX + "ALERT_REPEAT_INTERVAL",
        values.parse_duration,
        "1h",
        "a condition still true after this long is reported again",
        commands=frozenset({"run", "replay", "demo"}),
    ),
    Option(
        "buffer_max_ticks",
        PREFIX + "BUFFER_MAX_TICKS",
        values.positive_int,
        "100000",
        "ticks held in memory while the database is down (spool off: past it the oldest "
        "are dropped; spool on: the rest wait on disk)",
        commands=frozenset({"run"}),
    ),
    Option(
        "spool_dir",
        PREFIX + "SPOOL_DIR",
        values.optional_dir,
        "spool",
        "run: every poll's ticks are kept here on disk until stored (off: in memory only)",
        commands=frozenset({"run"}),
    ),
    Option(
        "spool_max_bytes",
        PREFIX + "SPOOL_MAX_BYTES",
        values.byte_size,
        "256MB",
        "the spool's bound; past it the oldest ticks are dropped, counted and logged",
        commands=frozenset({"run"}),
    ),
    Option(
        "backfill_horizon",
        PREFIX + "BACKFILL_HORIZON",
        values.optional_duration,
        "1d",
        "run: at start, fetch from the source's history the gap since each coin's newest "
        "tick, this far back at most (off: never)",
        commands=frozenset({"run"}),
    ),
    Option(
        "receivers_file",
        PREFIX + "RECEIVERS_FILE",
        values.optional_path,
        "",
        "TOML file of alert receivers (webhook, alertmanager, email, chat); unset: the "
        "alerts file only",
        commands=frozenset({"run", "replay", "demo"}),
    ),
    Option(
        "metrics_addr",
        PREFIX + "METRICS_ADDR",
        values.optional_address,
        "127.0.0.1:9108",
        "run: serve Prometheus metrics on host:port /metrics (off: do not)",
        commands=frozenset({"run"}),
    ),
    Option(
        "db_wait",
        PREFIX + "DB_WAIT",
        values.parse_duration,
        "60",
        "seconds to wait at start-up for the database to accept connections",
        commands=ALL,
    ),
    Option(
        "compress_after",
        PREFIX + "COMPRESS_AFTER",
        values.optional_duration,
        "7d",
        "TimescaleDB: compress tick chunks older than this (off: never)",
        commands=STORING,
    ),
    Option(
        "ticks_retention",
        PREFIX + "TICKS_RETENTION",
        values.retention,
        "365d",
        "TimescaleDB: drop raw tick chunks older than this, candles stay (off: keep all)",
        commands=STORING,
    ),
    Option(
        "timescaledb",
        PREFIX + "TIMESCALEDB",
        values.choice("auto", "on", "off"),
        "auto",
        "use TimescaleDB: auto (when installed), on (required) or off",
        commands=ALL,
    ),
    Option(
        "api_host",
        PREFIX + "API_HOST",
        str.strip,
        "127.0.0.1",
        "address the REST API listens on (0.0.0.0: every interface)",
        commands=frozenset({"api"}),
    ),
    Option(
        "api_port",
        PREFIX + "API_PORT",
        values.port,
        "8000",
        "port the REST API listens on",
        commands=frozenset({"api"}),
    ),
    Option(
        "api_stale_after",
        PREFIX + "API_STALE_AFTER",
        values.parse_duration,
        "5m",
        "/health answers 503 when the newest tick is older than this",
        commands=frozenset({"api"}),
    ),
    Option(
        "api_rank_ttl",
        PREFIX + "API_RANK_TTL",
        values.optional_duration,
        "10s",
        "the volatility ranking is recomputed at most this often (off: every request)",
        commands=frozenset({"api"}),
    ),
    Option(
        "log_level",
        PREFIX + "LOG_LEVEL",
        values.choice("debug", "info", "warning", "error"),
        "info",
        "lowest level logged",
        commands=ALL,
    ),
    Option(
        "log_format",
        PREFIX + "LOG_FORMAT",
        values.choice("auto", "json", "console"),
        "auto",
        "json, console, or auto (console on a terminal, JSON otherwise)",
        commands=ALL,
    ),
)
OPTIONS_BY_FIELD = {o.field: o for o in OPTIONS}


def fields_for(command: str) -> tuple[str, ...]:
    """The settings `command` takes as flags, in the order of `OPTIONS`."""
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; known: {', '.join(COMMANDS)}")
    return tuple(o.field for o in OPTIONS if command in o.commands)
