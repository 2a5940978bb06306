"""Settings: environment variables, each overridable by a command-line flag, validated at start-up.

The database comes from ``DATABASE_URL`` (a libpq URL or key=value string) or, when that is
unset, from the standard libpq ``PG*`` variables. Everything else is a ``CRYPTOMONITOR_*``
variable. A misspelled ``CRYPTOMONITOR_*`` variable or an invalid value stops the program at
start-up with a `ConfigError` naming the setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import pathlib
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import psycopg

from cryptomonitor import values
from cryptomonitor.exceptions import ConfigError

PREFIX = "CRYPTOMONITOR_"
DEFAULT_COINGECKO_URL = "https://api.coingecko.com/api/v3"

def _source(text: str) -> str:
    from cryptomonitor.sources.registry import SOURCES  # it imports Settings from here

    return values.choice(*SOURCES)(text)


def _database_url(text: str) -> str | None:
    """A libpq URL or key=value string (checked here, so a typo is a bad setting, exit 2)."""
    value = text.strip()
    if not value:
        return None
    try:
        psycopg.conninfo.conninfo_to_dict(value)
    except psycopg.ProgrammingError:
        # Not libpq's message: it quotes the input back, password included.
        raise ValueError("not a libpq URL (postgresql://user:password@host:5432/dbname) or "
                         "key=value string (host=... dbname=...)") from None
    return value


@dataclasses.dataclass(frozen=True)
class Option:
    """One setting: its field name, environment variable, parser, default and help text."""

    field: str
    env: str
    parse: Callable[[str], Any]
    default: str
    help: str
    secret: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option("database_url", "DATABASE_URL", _database_url, "",
           "libpq URL of the database; unset: the PG* variables", secret=True),
    Option("source", PREFIX + "SOURCE", _source, "coingecko",
           "where prices come from: coingecko, binance (spot pairs, no key), or the streams "
           "binance-ws (1-minute klines) and kraken-ws (trades per second)"),
    Option("coins", PREFIX + "COINS", values.coins, "bitcoin,ethereum,zcash",
           "comma-separated CoinGecko ids (top:N: the N biggest) or Binance pairs (*: all)"),
    Option("vs_currency", PREFIX + "VS_CURRENCY", values.currency, "usd",
           "currency prices and volumes are quoted in"),
    Option("poll_interval", PREFIX + "POLL_INTERVAL", values.parse_duration, "30",
           "seconds between polls (fractions and 250ms/5m/1h allowed)"),
    Option("coingecko_url", PREFIX + "COINGECKO_URL", values.http_url, DEFAULT_COINGECKO_URL,
           "CoinGecko API base URL (pro plans: https://pro-api.coingecko.com/api/v3)"),
    Option("coingecko_api_key", PREFIX + "COINGECKO_API_KEY", values.optional_text, "",
           "CoinGecko demo or pro key; the header follows the URL's host", secret=True),
    Option("coingecko_rate", PREFIX + "COINGECKO_RATE", values.positive_float, "10",
           "CoinGecko requests per minute at most (your plan's limit: 30 demo, 500+ pro)"),
    Option("binance_url", PREFIX + "BINANCE_URL", values.http_url, "https://api.binance.com",
           "Binance spot API base URL"),
    Option("binance_ws_url", PREFIX + "BINANCE_WS_URL", values.ws_url,
           "wss://stream.binance.com:9443/stream", "binance-ws: Binance spot combined-stream URL"),
    Option("kraken_ws_url", PREFIX + "KRAKEN_WS_URL", values.ws_url, "wss://ws.kraken.com",
           "kraken-ws: Kraken WebSocket API v1 URL"),
    Option("stream_silent_after", PREFIX + "STREAM_SILENT_AFTER", values.parse_duration, "30",
           "streams: a connection that sends nothing this long is replaced"),
    Option("stream_buffer_max", PREFIX + "STREAM_BUFFER_MAX", values.positive_int, "100000",
           "streams: ticks held between the sockets and the poll loop; past it the oldest "
           "are dropped, counted and logged"),
    Option("http_timeout", PREFIX + "HTTP_TIMEOUT", values.parse_duration, "10",
           "seconds to wait for the API to connect and to answer"),
    Option("http_attempts", PREFIX + "HTTP_ATTEMPTS", values.positive_int, "4",
           "attempts per poll on connection errors, 408, 429 and 5xx"),
    Option("alerts_file", PREFIX + "ALERTS_FILE", pathlib.Path, "alerts/alerts.txt",
           "file alert lines are appended to"),
    Option("rules_file", PREFIX + "RULES_FILE", values.optional_path, "",
           "TOML file of alert rules; unset: the built-in default rules"),
    Option("alert_repeat_interval", PREFIX + "ALERT_REPEAT_INTERVAL", values.parse_duration, "1h",
           "a condition still true after this long is reported again"),
    Option("buffer_max_ticks", PREFIX + "BUFFER_MAX_TICKS", values.positive_int, "100000",
           "ticks held in memory while the database is down (spool off: past it the oldest "
           "are dropped; spool on: the rest wait on disk)"),
    Option("spool_dir", PREFIX + "SPOOL_DIR", values.optional_dir, "spool",
           "run: every poll's ticks are kept here on disk until stored (off: in memory only)"),
    Option("spool_max_bytes", PREFIX + "SPOOL_MAX_BYTES", values.byte_size, "256MB",
           "the spool's bound; past it the oldest ticks are dropped, counted and logged"),
    Option("backfill_horizon", PREFIX + "BACKFILL_HORIZON", values.optional_duration, "1d",
           "run: at start, fetch from the source's history the gap since each coin's newest "
           "tick, this far back at most (off: never)"),
    Option("receivers_file", PREFIX + "RECEIVERS_FILE", values.optional_path, "",
           "TOML file of alert receivers (webhook, alertmanager, email, chat); unset: the "
           "alerts file only"),
    Option("metrics_addr", PREFIX + "METRICS_ADDR", values.optional_address, "127.0.0.1:9108",
           "run: serve Prometheus metrics on host:port /metrics (off: do not)"),
    Option("db_wait", PREFIX + "DB_WAIT", values.parse_duration, "60",
           "seconds to wait at start-up for the database to accept connections"),
    Option("compress_after", PREFIX + "COMPRESS_AFTER", values.optional_duration, "7d",
           "TimescaleDB: compress tick chunks older than this (off: never)"),
    Option("ticks_retention", PREFIX + "TICKS_RETENTION", values.retention, "365d",
           "TimescaleDB: drop raw tick chunks older than this, candles stay (off: keep all)"),
    Option("timescaledb", PREFIX + "TIMESCALEDB", values.choice("auto", "on", "off"), "auto",
           "use TimescaleDB: auto (when installed), on (required) or off"),
    Option("api_host", PREFIX + "API_HOST", str.strip, "127.0.0.1",
           "address the REST API listens on (0.0.0.0: every interface)"),
    Option("api_port", PREFIX + "API_PORT", values.port, "8000", "port the REST API listens on"),
    Option("api_stale_after", PREFIX + "API_STALE_AFTER", values.parse_duration, "5m",
           "/health answers 503 when the newest tick is older than this"),
    Option("api_rank_ttl", PREFIX + "API_RANK_TTL", values.optional_duration, "10s",
           "the volatility ranking is recomputed at most this often (off: every request)"),
    Option("log_level", PREFIX + "LOG_LEVEL", values.choice("debug", "info", "warning", "error"),
           "info", "lowest level logged"),
    Option("log_format", PREFIX + "LOG_FORMAT", values.choice("auto", "json", "console"), "auto",
           "json, console, or auto (console on a terminal, JSON otherwise)"),
)
OPTIONS_BY_FIELD = {o.field: o for o in OPTIONS}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated configuration of one process."""

    database_url: str | None
    source: str
    coins: tuple[str, ...]
    vs_currency: str
    poll_interval: float
    coingecko_url: str
    coingecko_api_key: str | None
    coingecko_rate: float
    binance_url: str
    binance_ws_url: str
    kraken_ws_url: str
    stream_silent_after: float
    stream_buffer_max: int
    http_timeout: float
    http_attempts: int
    alerts_file: pathlib.Path
    rules_file: pathlib.Path | None
    alert_repeat_interval: float
    buffer_max_ticks: int
    spool_dir: pathlib.Path | None
    spool_max_bytes: int
    backfill_horizon: float | None
    receivers_file: pathlib.Path | None
    metrics_addr: str | None
    db_wait: float
    compress_after: float | None
    ticks_retention: float | None
    timescaledb: str
    api_host: str
    api_port: int
    api_stale_after: float
    api_rank_ttl: float | None
    log_level: str
    log_format: str

    @property
    def conninfo(self) -> str:
        """What to hand to psycopg: the URL, or "" so libpq reads the PG* variables."""
        return self.database_url or ""

    def redacted(self) -> dict[str, object]:
        """The settings as a dict fit for a log line: secrets replaced by ``"***"``."""
        out: dict[str, object] = {}
        for option in OPTIONS:
            value = getattr(self, option.field)
            if option.secret and value:
                value = _redact_url(value) if option.field == "database_url" else "***"
            elif option.parse is values.ws_url:
                value = values.without_userinfo(value)
            out[option.field] = str(value) if isinstance(value, pathlib.Path) else value
        return out


def _redact_url(dsn: str) -> str:
    """`dsn` (a URL or key=value conninfo) with its password, wherever it is, as ``***``."""
    if "://" not in dsn:
        try:
            params = psycopg.conninfo.conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            return "***"  # unparseable: hide it whole rather than guess
        if "password" in params:
            params["password"] = "***"  # noqa: S105 (the mask, not a password)
        return psycopg.conninfo.make_conninfo("", **params)
    parts = urllib.parse.urlsplit(dsn)
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        netloc = netloc.replace(":" + parts.password + "@", ":***@", 1)
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    if any(k == "password" for k, _ in pairs):
        query = urllib.parse.urlencode(
            [(k, "***" if k == "password" else v) for k, v in pairs], safe="*")
    shown = urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))
    if not netloc:  # postgresql:///db?host=/socket: urlunsplit drops the empty authority
        shown = shown.replace(":", "://", 1)
    return shown


def load(environ: Mapping[str, str], overrides: Mapping[str, str | None] | None = None) -> Settings:
    """Build `Settings` from an environment and command-line overrides (field name -> text).

    Raises `ConfigError` naming every unknown ``CRYPTOMONITOR_*`` variable, or the first setting
    whose value does not parse.
    """
    _reject_unknown(environ)
    values: dict[str, Any] = {}
    for option in OPTIONS:
        given = (overrides or {}).get(option.field)
        source = option.flag if given is not None else option.env
        text = given if given is not None else environ.get(option.env, option.default)
        try:
            values[option.field] = option.parse(text)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return Settings(**values)


def name_flags(message: str, overrides: Mapping[str, str | None]) -> str:
    """`message` with a setting named by its flag where the flag, not the variable, set it."""
    for option in OPTIONS:
        if overrides.get(option.field) is not None and message.startswith(option.env + ":"):
            return option.flag + message[len(option.env):]
    return message


def _reject_unknown(environ: Iterable[str]) -> None:
    known = {o.env for o in OPTIONS}
    unknown = sorted(k for k in environ if k.startswith(PREFIX) and k not in known)
    if not unknown:
        return
    hints = []
    suffixes = {k[len(PREFIX):]: k for k in known if k.startswith(PREFIX)}
    for name in unknown:
        # Compare what follows the prefix: every name shares it, which made FOO "close" to COINS.
        close = difflib.get_close_matches(name[len(PREFIX):], suffixes, n=1, cutoff=0.75)
        hints.append(f"{name} (did you mean {suffixes[close[0]]}?)" if close else name)
    raise ConfigError(f"unknown setting {', '.join(hints)}; see .env.example for the list")
