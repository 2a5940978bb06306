"""The exception tree: every error CryptoMonitor raises on purpose is a `CryptoMonitorError`.

Driver (psycopg) and HTTP (requests) errors are translated once, where they cross into our code,
with ``raise ... from exc`` so the original stays in the traceback.
"""

from __future__ import annotations


class CryptoMonitorError(Exception):
    """Root of all CryptoMonitor errors."""


class ConfigError(CryptoMonitorError):
    """A setting is missing, misspelled or invalid; the message names it."""


class SourceError(CryptoMonitorError):
    """A price source could not deliver a usable answer."""


class SourceUnavailable(SourceError):
    """The source could not be reached or kept failing after the bounded retries."""


class ResponseError(SourceError):
    """The source answered, but the body is not a response of the documented format."""


class DatabaseError(CryptoMonitorError):
    """The database refused or failed an operation that retrying will not fix."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached now; the operation may succeed later."""


class DatabaseRefused(DatabaseUnavailable):
    """The server answered but refused us (no such database or role, wrong password, pg_hba).

    Waiting at start-up does not fix it, so start-up fails at once with the fix in the message;
    a running fetcher treats it as an outage (buffers and retries), since it may be a restore.
    """


class MigrationError(DatabaseError):
    """The schema cannot be brought to the version this code needs."""


class ReplayError(CryptoMonitorError):
    """A replay input file is unreadable or not in the expected CSV format."""
