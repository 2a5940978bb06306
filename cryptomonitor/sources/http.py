"""GET a JSON document with explicit timeouts, a size cap and bounded, visible retries.

Retried: connection errors, timeouts, HTTP 408, 429 and 5xx, with jittered exponential
backoff, never sooner than a ``Retry-After`` header asks, within a number of attempts and a
deadline. Everything else (other 4xx, a body that is not JSON) fails at once: retrying would
not help. Errors leave this module as `SourceUnavailable` or `ResponseError` only.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from typing import Any

import requests
import structlog
import tenacity

from cryptomonitor.exceptions import ResponseError, RetryableStatus, SourceUnavailable

log = structlog.get_logger(__name__)

RETRY_STATUSES = frozenset({408, 429, *range(500, 600)})
MAX_BODY_BYTES = 8 * 1024 * 1024


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class JsonClient:
    """A requests session that returns parsed JSON or raises a `SourceError`."""

    def __init__(
        self,
        *,
        timeout: float,
        attempts: int,
        deadline: float = 60.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        min_interval: float = 0.0,
        session: requests.Session | None = None,
    ) -> None:
        """`min_interval`: seconds between the starts of two requests (60 / the plan's rate
        per minute), retries included: a plan's limit is never exceeded."""
        self.timeout = timeout
        self.min_interval = min_interval
        self._last_request = -math.inf
        self.attempts = attempts
        self.deadline = deadline
        self.max_body_bytes = max_body_bytes
        self.session = session or requests.Session()
        self._backoff = tenacity.wait_exponential_jitter(
            multiplier=backoff_initial, max=backoff_max
        )
        #: Set after giving up on a 429: when the server said the next request may come.
        self.retry_after_until: float | None = None

    def get_json(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> Any:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_before_delay(self.deadline),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(
                (requests.ConnectionError, requests.Timeout, RetryableStatus)
            ),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._get_once, url, params, headers)
        except RetryableStatus as exc:
            if exc.retry_after is not None:
                self.retry_after_until = time.monotonic() + exc.retry_after
            raise SourceUnavailable(
                f"{url}: {exc} after {self.attempts} attempt(s)"
                + (f", Retry-After {exc.retry_after:g}s" if exc.retry_after is not None else "")
            ) from exc
        except requests.RequestException as exc:
            raise SourceUnavailable(f"{url}: {type(exc).__name__}: {exc}") from exc

    def _wait(self, state: tenacity.RetryCallState) -> float:
        delay = self._backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableStatus) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return delay

    @staticmethod
    def _log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "http_retry",
            attempt=state.attempt_number,
            wait_s=round(state.upcoming_sleep, 3),
            error=str(exc),
        )

    def _get_once(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> Any:
        wait = self._last_request + self.min_interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        started = self._last_request = time.monotonic()
        with self.session.get(
            url,
            params=params,
            headers=dict(headers),
            stream=True,
            timeout=(self.timeout, self.timeout),
        ) as response:
            if response.status_code in RETRY_STATUSES:
                raise RetryableStatus(
                    response.status_code, parse_retry_after(response.headers.get("Retry-After"))
                )
            body = self._read(response, started)
        if response.status_code != 200:
            raise SourceUnavailable(
                f"{url}: HTTP {response.status_code} "
                f"({response.headers.get('Content-Type', 'no content type')}): {_preview(body)}"
            )
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ResponseError(
                f"{url}: body is not JSON ({response.headers.get('Content-Type', '?')}, "
                f"{len(body)} bytes): {_preview(body)}"
            ) from exc

    def _read(self, response: requests.Response, started: float) -> bytes:
        chunks, size = [], 0
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > self.max_body_bytes:
                raise ResponseError(f"body larger than {self.max_body_bytes} bytes")
            if time.monotonic() - started > 3 * self.timeout:
                raise requests.Timeout(f"body still arriving after {3 * self.timeout:g}s")
            chunks.append(chunk)
        return b"".join(chunks)


def _preview(body: bytes, limit: int = 120) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return repr(text + ("..." if len(body) > limit else ""))
