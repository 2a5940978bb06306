"""The exception tree: every error CryptoMonitor raises on purpose is a `CryptoMonitorError`.

Every exception class of the package is defined here, one class and one docstring each
(tests/unit/test_exceptions.py checks it), as in psycopg_pool's ``errors.py``. Driver
(psycopg) and HTTP (requests) errors are translated once, where they cross into our code,
with ``raise ... from exc`` so the original stays in the traceback.

Some of them never leave the module that raises them: control-flow signals caught a few lines
up the stack (`AlreadyStored`, `RetryableStatus`, `StreamSilent`, `SubscriptionRefused`,
`DeliveryError`). They are named subclasses of the root all the same, so that the tree is the
whole story; where each is raised and caught is said on it.
"""

from __future__ import annotations


class CryptoMonitorError(Exception):
    """Root of all CryptoMonitor errors."""


class ConfigError(CryptoMonitorError):
    """A setting is missing, misspelled or invalid; the message names it."""


class RuleKeyError(ConfigError):
    """A bad value of one key of an alert rule: the message, and the key (`key`), which the
    rules loader turns into the file, the line and the rule."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class SourceError(CryptoMonitorError):
    """A price source could not deliver a usable answer."""


class SourceUnavailable(SourceError):
    """The source could not be reached or kept failing after the bounded retries."""


class ResponseError(SourceError):
    """The source answered, but the body is not a response of the documented format."""


class RetryableStatus(SourceError):
    """One HTTP answer with a status worth retrying; `retry_after` in seconds if the server
    gave one. Raised and caught inside `sources.http.JsonClient.get_json`, which retries it
    and, past its attempts, raises `SourceUnavailable` instead."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class StreamSilent(SourceError):
    """A WebSocket server sent nothing for longer than the silence timeout. Raised and caught
    in the connection's thread (`sources.streams.connection`): the connection is replaced."""


class SubscriptionRefused(SourceError):
    """A WebSocket server refused a subscription for a reason that names no stream. Raised by
    an exchange's frame handler, caught in the connection's thread: it reconnects later."""


class DatabaseError(CryptoMonitorError):
    """The database refused or failed an operation that retrying will not fix."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached now; the operation may succeed later."""


class DatabaseRefused(DatabaseUnavailable):
    """The server answered but refused us (no such database or role, wrong password, pg_hba).

    Waiting at start-up does not fix it, so start-up fails at once with the fix in the message;
    a running fetcher treats it as an outage (buffers and retries), since it may be a restore.
    """


class EmbeddedServerError(DatabaseError):
    """The embedded PostgreSQL (`db.embedded`) could not be made or started; the message ends
    with the last lines of initdb's output or of the server's log."""


class MigrationError(DatabaseError):
    """The schema cannot be brought to the version this code needs."""


class AlreadyStored(CryptoMonitorError):
    """A tick the alert cache proved new was stored already: another writer raced this one.

    A signal, not a `DatabaseError` (the data is fine): raised by the ingest repository and
    the batch writer, caught by `ingest.writer.BatchWriter.write`, which reloads `symbols` and
    starts the batch again (`DatabaseUnavailable` after its last attempt)."""

    def __init__(self, symbols: set[str]) -> None:
        super().__init__(f"ticks stored by another writer for {sorted(symbols)}")
        self.symbols = symbols


class DeliveryError(CryptoMonitorError):
    """A receiver did not take the events from the `sent`-th on; they are tried again later.

    Raised by a receiver's ``send``, caught by its delivery thread (`alerting.delivery`)."""

    def __init__(self, message: str, sent: int = 0) -> None:
        super().__init__(message)
        self.sent = sent


class ReplayError(CryptoMonitorError):
    """A replay input file is unreadable or not in the expected CSV format."""
