"""Parsers of setting values: text in, a typed value out, or ValueError saying what is wrong.

Pure (no I/O, no database driver): `cryptomonitor.config` names the setting in the error, and
the rules file (`cryptomonitor.alerting.rules`) parses its windows with `parse_duration`.
"""

from __future__ import annotations

import math
import pathlib
import re
import urllib.parse
from collections.abc import Callable, Sequence

_COIN_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_CURRENCY = re.compile(r"^[a-z]{2,10}$")
_DURATION = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Seconds from ``"30"``, ``"0.5"``, ``"250ms"``, ``"5m"``, ``"1h"``, ``"1d"``; must be > 0."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration (examples: 30, 0.5, 250ms, 5m, 1h)")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"{text!r} must be a positive duration")
    return seconds


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{text!r} must be a positive number")
    return value


def coins(text: str) -> tuple[str, ...]:
    coins = tuple(dict.fromkeys(c.strip().lower() for c in text.split(",") if c.strip()))
    if not coins:
        raise ValueError("at least one coin id is needed")
    special = [c for c in coins if c == "*" or c.startswith("top:")]
    if special:
        if len(coins) > 1:
            raise ValueError(f"{special[0]!r} stands alone, not in a list of ids")
        if special[0].startswith("top:") and not (
            special[0][4:].isdigit() and 0 < int(special[0][4:]) <= 20_000
        ):
            raise ValueError(f"{special[0]!r}: expected top:N with N from 1 to 20000")
        return coins
    bad = [c for c in coins if not _COIN_ID.match(c)]
    if bad:
        raise ValueError(f"{', '.join(map(repr, bad))} not CoinGecko ids (like bitcoin, zcash)")
    return coins


def named_coins(coins: Sequence[str]) -> list[str]:
    """The coins named one by one, those a history can be asked for (not ``*`` or ``top:N``)."""
    return [c for c in coins if c != "*" and not c.startswith("top:")]


def currency(text: str) -> str:
    value = text.strip().lower()
    if not _CURRENCY.match(value):
        raise ValueError(f"{text!r} is not a currency code (like usd, eur, btc)")
    return value


def http_url(text: str) -> str:
    parsed = urllib.parse.urlsplit(text.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"{text!r} is not an http(s) URL")
    return text.strip().rstrip("/")


def ws_url(text: str) -> str:
    parsed = urllib.parse.urlsplit(text.strip())
    if parsed.scheme not in ("ws", "wss") or not parsed.netloc:
        raise ValueError(f"{without_userinfo(text.strip())!r} is not a WebSocket URL (wss://...)")
    return text.strip()


def without_userinfo(url: str) -> str:
    """`url` with its user-info (``user:password@``), if any, as ``***@``: fit for a log."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"{text!r} must be a positive whole number")
    return value


def port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise ValueError(f"{text!r} is not a TCP port (1-65535)")
    return value


def choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return value

    return parse


def optional_text(text: str) -> str | None:
    return text.strip() or None


def optional_duration(text: str) -> float | None:
    """A duration, or None for ``off``."""
    return None if text.strip().lower() in ("off", "") else parse_duration(text)


#: Raw-tick retention shorter than this would let ohlcv_1d's refresh window (30 days) see
#: dropped chunks, and the daily candles lose rows.
MIN_TICKS_RETENTION = 31 * 86400.0


def retention(text: str) -> float | None:
    value = optional_duration(text)
    if value is not None and value < MIN_TICKS_RETENTION:
        raise ValueError(
            f"{text!r} is shorter than 31d, the refresh window of the daily "
            "candles plus a day: candles would lose rows"
        )
    return value


def optional_path(text: str) -> pathlib.Path | None:
    return pathlib.Path(text) if text.strip() else None


_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}


def byte_size(text: str) -> int:
    """Bytes from ``"1048576"``, ``"512MB"``, ``"1GiB"``; at least 1 MB."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (examples: 256MB, 1GiB, 1048576)")
    size = int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()]
    if size < 10**6:
        raise ValueError(f"{text!r} is less than 1MB")
    return size


def optional_dir(text: str) -> pathlib.Path | None:
    """A directory, or None for ``off``."""
    return None if text.strip().lower() in ("off", "") else pathlib.Path(text.strip())


def optional_address(text: str) -> str | None:
    """``host:port`` to listen on, or None for ``off``."""
    value = text.strip()
    if value.lower() in ("off", ""):
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not host:port (like 127.0.0.1:9108), or off")
    return value
