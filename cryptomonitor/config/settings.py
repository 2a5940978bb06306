"""Settings: environment variables, each overridable by a command-line flag, validated at start-up.

The database comes from ``DATABASE_URL`` (a libpq URL or key=value string); when that is
unset, the commands run an embedded server (`cryptomonitor.db.embedded`), or read the standard
libpq ``PG*`` variables if they name a server (``PGHOST``, ``PGPORT``, ...). Everything else
is a ``CRYPTOMONITOR_*`` variable. A misspelled ``CRYPTOMONITOR_*`` variable or an invalid
value stops the program at start-up with a `ConfigError` naming the setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import pathlib
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from cryptomonitor.config import values
from cryptomonitor.config.options import OPTIONS, PREFIX
from cryptomonitor.exceptions import ConfigError


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
    data_dir: pathlib.Path | None
    postgres_bindir: pathlib.Path | None
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
                value = redact_url(value) if option.field == "database_url" else "***"
            elif option.parse is values.ws_url:
                value = values.without_userinfo(value)
            out[option.field] = str(value) if isinstance(value, pathlib.Path) else value
        return out


def redact_url(dsn: str) -> str:
    """`dsn` (a URL or key=value conninfo) with its password, wherever it is, as ``***``."""
    if "://" not in dsn:
        import psycopg

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
            [(k, "***" if k == "password" else v) for k, v in pairs], safe="*"
        )
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
            return option.flag + message[len(option.env) :]
    return message


def _reject_unknown(environ: Iterable[str]) -> None:
    known = {o.env for o in OPTIONS}
    unknown = sorted(k for k in environ if k.startswith(PREFIX) and k not in known)
    if not unknown:
        return
    hints = []
    suffixes = {k[len(PREFIX) :]: k for k in known if k.startswith(PREFIX)}
    for name in unknown:
        # Compare what follows the prefix: every name shares it, which made FOO "close" to COINS.
        close = difflib.get_close_matches(name[len(PREFIX) :], suffixes, n=1, cutoff=0.75)
        hints.append(f"{name} (did you mean {suffixes[close[0]]}?)" if close else name)
    raise ConfigError(f"unknown setting {', '.join(hints)}; see .env.example for the list")
