"""Settings: every option declared once (`options`), parsed from the environment and flags
(`settings`) by the value parsers (`values`). The face of the package: ``config.load``,
``config.Settings``, ``config.OPTIONS``."""

from __future__ import annotations

from cryptomonitor.config.options import (
    COMMANDS,
    OPTIONS,
    OPTIONS_BY_FIELD,
    PREFIX,
    Option,
    fields_for,
)
from cryptomonitor.config.settings import Settings, load, name_flags, redact_url

__all__ = [
    "COMMANDS",
    "OPTIONS",
    "OPTIONS_BY_FIELD",
    "PREFIX",
    "Option",
    "Settings",
    "fields_for",
    "load",
    "name_flags",
    "redact_url",
]
