"""Two ``cryptomonitor run`` replicas against one database: exactly one polls; when it dies
(kill -9), the other takes over within a poll interval or two."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator

import pytest

from tests.support.fakeapi import FakeCoinGecko
from tests.support.procs import Proc

POLL = 0.5


def start(db_url: str, fake_api: FakeCoinGecko, tmp_path: object, coins: str) -> Proc:
    return Proc(
        "run",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_COINGECKO_URL=fake_api.url,
        CRYPTOMONITOR_COINS=coins,
        CRYPTOMONITOR_POLL_INTERVAL=str(POLL),
        CRYPTOMONITOR_ALERTS_FILE=f"{tmp_path}/alerts.txt",
    )


@contextlib.contextmanager
def leader_and_standby(
    db_url: str, fake_api: FakeCoinGecko, tmp_path: object
) -> Iterator[tuple[Proc, Proc]]:
    """Two replicas of one job: the first polling, the second standing by; both killed after
    (continued first, should a test have stopped one)."""
    fake_api.set_price("bitcoin", 100.0, 5e9, int(time.time()) - 30)
    started = [start(db_url, fake_api, tmp_path, "bitcoin")]
    try:
        first = started[0]
        first.wait_for(lambda: len(first.named("poll")) >= 1)
        started.append(start(db_url, fake_api, tmp_path, "bitcoin"))
        second = started[1]
        second.wait_for(lambda: bool(second.named("leader_standby")))
        yield first, second
    finally:
        for proc in started:
            proc.popen.send_signal(signal.SIGCONT)
            proc.stop(signal.SIGKILL)


@pytest.mark.slow
def test_one_replica_polls_and_the_other_takes_over(
    db_url: str, fake_api: FakeCoinGecko, tmp_path: object
) -> None:
    with leader_and_standby(db_url, fake_api, tmp_path) as (first, second):
        polls_before = len(first.named("poll"))
        time.sleep(6 * POLL)
        assert second.named("poll") == [], "the standby polled while the leader was alive"
        assert len(first.named("poll")) >= polls_before + 4
        requests_before = len(fake_api.requests)
        time.sleep(4 * POLL)
        # One poller: about one request per poll interval, not two.
        assert len(fake_api.requests) - requests_before <= 5

        killed_at = time.monotonic()
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        second.wait_for(lambda: bool(second.named("poll")), timeout=10)
        took_over_at = next(t for t, e in second.events if e.get("event") == "poll")
        print(f"takeover after kill -9: {took_over_at - killed_at:.2f} s")
        assert took_over_at - killed_at <= 2 * POLL + 1.0  # + process and network slack
        assert second.named("leader_acquired")
        assert second.stop() == 0


@pytest.mark.slow
def test_replicas_with_different_coins_are_different_jobs(
    db_url: str, fake_api: FakeCoinGecko, tmp_path: object
) -> None:
    now = int(time.time())
    fake_api.set_price("bitcoin", 100.0, 5e9, now - 30)
    fake_api.set_price("ethereum", 10.0, 5e8, now - 30)
    a = start(db_url, fake_api, tmp_path, "bitcoin")
    b = start(db_url, fake_api, tmp_path, "ethereum")
    try:
        a.wait_for(lambda: bool(a.named("poll")))
        b.wait_for(lambda: bool(b.named("poll")))
        assert not a.named("leader_standby") and not b.named("leader_standby")
    finally:
        assert a.stop() == 0 and b.stop() == 0


@pytest.mark.slow
def test_a_frozen_leader_loses_the_lock_and_stands_down(
    db_url: str, fake_api: FakeCoinGecko, tmp_path: object
) -> None:
    """A leader alive but cut off (SIGSTOP: a frozen VM, a partition) stops touching its lock
    session; the server ends it after the idle timeout (30 s HTTP deadline + 3 polls), the
    standby takes over, and the old leader, thawed, stands down instead of polling too."""
    with leader_and_standby(db_url, fake_api, tmp_path) as (first, second):
        first.popen.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        second.wait_for(lambda: bool(second.named("poll")), timeout=60)
        took = next(t for t, e in second.events if e.get("event") == "poll") - frozen_at
        assert 30 <= took <= 30 + 3 * POLL + 2 * POLL + 2
        first.popen.send_signal(signal.SIGCONT)
        first.wait_for(lambda: bool(first.named("leader_standby")), timeout=15)
        polls = len(first.named("poll"))
        time.sleep(4 * POLL)
        assert len(first.named("poll")) <= polls + 1, "the thawed leader kept polling"
        assert first.stop() == 0
        assert second.stop() == 0
