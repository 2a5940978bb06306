"""What the routes depend on, without a database: the pools' settings and psycopg_pool left
as it is."""

from __future__ import annotations

import psycopg_pool
import psycopg_pool.base

from cryptomonitor.api import application, deps


def test_importing_the_api_leaves_psycopg_pool_as_it_is() -> None:
    """The API once replaced psycopg_pool's backoff class for the whole process."""
    assert application.create_app  # every module of the API is imported
    assert psycopg_pool.pool.AttemptWithBackoff is psycopg_pool.base.AttemptWithBackoff
    attempt = psycopg_pool.pool.AttemptWithBackoff(timeout=300)
    delays = []
    for now in range(6):
        attempt.update_delay(float(now))
        delays.append(attempt.delay)
    assert delays[0] < 1.2 and delays[-1] > 16  # its own doubling delay, not capped


def test_the_pools_give_up_a_reconnection_attempt_after_two_seconds() -> None:
    """Given up, an attempt is made again when a request waits: the API sees the database's
    return at once (tests/integration/test_api.py has the outage)."""
    service = deps.Service("postgresql://x@127.0.0.1:1/x", 300.0, 10, 5.0, None)
    assert service.pool.reconnect_timeout == service.health_pool.reconnect_timeout == 2.0
    assert deps.RECONNECT_TIMEOUT == 2.0
