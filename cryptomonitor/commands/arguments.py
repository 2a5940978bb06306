"""The argparse value types the commands share: each returns the parsed value, or raises
`argparse.ArgumentTypeError` with a message argparse prints after the argument's name (exit
status 2), like any other bad argument."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from typing import TypeAlias

from cryptomonitor.util import times

#: What `cryptomonitor.cli` hands each command's ``add_parser`` to add its sub-command to.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def when(text: str) -> dt.datetime:
    """An ISO 8601 time; without a zone, UTC (`times.parse_iso`)."""
    try:
        return times.parse_iso(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not an ISO 8601 time (like 2025-06-01T00:00Z)"
        ) from None


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def symbol(text: str) -> str:
    """A symbol to store ticks under: 1-100 letters, digits and . _ : - (no space, no /)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}", text):
        raise argparse.ArgumentTypeError(
            f"{text[:100]!r}: a symbol is 1-100 letters, digits and . _ : - (no spaces, no /)"
        )
    return text


def positive_int(text: str) -> int:
    value = natural(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def natural(text: str) -> int:
    """A whole number >= 0, in decimal digits (no sign)."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)
