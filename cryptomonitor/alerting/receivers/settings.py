"""Receivers from TOML: the ``[[receiver]]`` tables of CRYPTOMONITOR_RECEIVERS_FILE.

Every table has ``name`` (unique), ``type`` (``webhook``, ``alertmanager``, ``email``,
``chat``) and optionally a route: ``rules``, ``symbols``, ``events`` (lists; absent: all).
Secrets are never in the file: ``secret_env``, ``password_env`` and ``urls_env`` name the
environment variables that hold them. See ``receivers.example.toml``; any problem is a
`ConfigError` naming the file, the receiver and the key.
"""

from __future__ import annotations

import os
import pathlib
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from cryptomonitor.alerting.receivers.alertmanager import Alertmanager
from cryptomonitor.alerting.receivers.base import Receiver, Route
from cryptomonitor.alerting.receivers.chat import Chat
from cryptomonitor.alerting.receivers.smtp import Email
from cryptomonitor.alerting.receivers.webhook import Webhook
from cryptomonitor.config import values
from cryptomonitor.exceptions import ConfigError

ROUTE_KEYS = {"rules", "symbols", "events"}


class _Table:
    """One [[receiver]] table, read key by key with errors that name them."""

    def __init__(self, where: str, table: Mapping[str, Any]) -> None:
        self.where, self.table, self.used = where, table, {"name", "type"} | ROUTE_KEYS

    def get(self, key: str, kind: type, default: Any = None, required: bool = False) -> Any:
        self.used.add(key)
        if key not in self.table:
            if required:
                raise ConfigError(f"{self.where}: '{key}' is required")
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ConfigError(f"{self.where}: '{key}' must be a {kind.__name__}")
        return value

    def url(self, key: str = "url") -> str:
        text = self.get(key, str, required=True)
        try:
            return values.http_url(text)
        except ValueError as exc:
            raise ConfigError(f"{self.where}: '{key}': {exc}") from None

    def duration(self, key: str, default: float) -> float:
        text = self.get(key, str)
        if text is None:
            return default
        try:
            return values.parse_duration(text)
        except ValueError as exc:
            raise ConfigError(f"{self.where}: '{key}': {exc}") from None

    def secret(self, key: str, environ: Mapping[str, str]) -> str | None:
        name = self.get(key, str)
        if name is None:
            return None
        if not environ.get(name):
            raise ConfigError(f"{self.where}: '{key}' names {name}, which is not set")
        return environ[name]

    def strings(self, key: str) -> list[str]:
        items = self.get(key, list, default=[])
        if not all(isinstance(x, str) and x for x in items):
            raise ConfigError(f"{self.where}: '{key}' must be a list of strings")
        return list(items)

    def check_unused(self) -> None:
        unknown = set(self.table) - self.used
        if unknown:
            raise ConfigError(f"{self.where}: unknown key(s) {sorted(unknown)}")


def _webhook(t: _Table, name: str, route: Route, env: Mapping[str, str], repeat: float) -> Receiver:
    headers = t.get("headers", dict, default={})
    if not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"{t.where}: 'headers' values must be strings")
    return Webhook(
        name, route, t.url(), t.secret("secret_env", env), headers, t.duration("timeout", 10.0)
    )


def _alertmanager(
    t: _Table, name: str, route: Route, env: Mapping[str, str], repeat: float
) -> Receiver:
    labels = t.get("labels", dict, default={})
    if not all(isinstance(v, str) for v in labels.values()):
        raise ConfigError(f"{t.where}: 'labels' values must be strings")
    return Alertmanager(
        name, route, t.url(), t.duration("hold", 2 * repeat), labels, t.duration("timeout", 10.0)
    )


def _email(t: _Table, name: str, route: Route, env: Mapping[str, str], repeat: float) -> Receiver:
    to = t.strings("to")
    if not to:
        raise ConfigError(f"{t.where}: 'to' must list at least one address")
    port = t.get("port", int, default=587)
    return Email(
        name,
        route,
        t.get("host", str, required=True),
        port,
        t.get("from", str, required=True),
        to,
        t.get("starttls", bool, True),
        t.get("username", str),
        t.secret("password_env", env),
        t.duration("timeout", 20.0),
    )


def _chat(t: _Table, name: str, route: Route, env: Mapping[str, str], repeat: float) -> Receiver:
    urls = t.strings("urls")
    from_env = t.secret("urls_env", env)
    if from_env:
        urls += from_env.replace(",", " ").split()
    if not urls:
        raise ConfigError(f"{t.where}: give 'urls' or 'urls_env'")
    try:
        return Chat(name, route, urls)
    except ValueError as exc:
        raise ConfigError(f"{t.where}: {exc}") from None


KINDS: dict[str, Callable[[_Table, str, Route, Mapping[str, str], float], Receiver]] = {
    "webhook": _webhook,
    "alertmanager": _alertmanager,
    "email": _email,
    "chat": _chat,
}


def load(
    path: pathlib.Path | None, repeat_interval: float, environ: Mapping[str, str] | None = None
) -> list[Receiver]:
    """The receivers of the file at `path` (none when None)."""
    if path is None:
        return []
    environ = os.environ if environ is None else environ
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"CRYPTOMONITOR_RECEIVERS_FILE: cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"CRYPTOMONITOR_RECEIVERS_FILE: {path} is not valid TOML: {exc}") from exc
    if set(document) - {"receiver"} or not isinstance(document.get("receiver", []), list):
        raise ConfigError(f"{path}: expected only [[receiver]] tables")
    out: list[Receiver] = []
    for i, table in enumerate(document.get("receiver", []), 1):
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: receiver #{i} is not a table")
        t = _Table(f"{path}: receiver #{i}", table)
        name = t.get("name", str, required=True)
        t.where = f"{path}: receiver {name!r}"
        kind = t.get("type", str, required=True)
        if kind not in KINDS:
            raise ConfigError(f"{t.where}: type {kind!r} is not one of {', '.join(KINDS)}")
        if any(r.name == name for r in out) or name == "file":
            raise ConfigError(f"{t.where}: the name is taken")
        route = Route(
            frozenset(t.strings("rules")),
            frozenset(t.strings("symbols")),
            frozenset(t.strings("events")),
        )
        if route.events - {"ALERT", "RESOLVED"}:
            raise ConfigError(f"{t.where}: 'events' may hold ALERT and RESOLVED only")
        out.append(KINDS[kind](t, name, route, environ, repeat_interval))
        t.check_unused()
    return out


def describe(receiver: Receiver) -> str:
    """For the log: kind and host, never a secret (no user, password, path or query)."""
    url = getattr(receiver, "url", None)
    host = (
        urllib.parse.urlsplit(url).hostname
        if isinstance(url, str)
        else getattr(receiver, "host", "")
    )
    return f"{receiver.kind} {host or ''}".strip()
