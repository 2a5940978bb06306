"""A database outage under a running ``cryptomonitor run``: the server is stopped with pg_ctl
while the fetcher polls, then started again. Every tick fetched meanwhile is stored afterwards,
and the alerts they raise are evaluated and written.

Time is compressed: the fake API's clock advances 2 s per request while the app polls every
0.1 s, so 60 polls during the outage are 120 s of market time.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import threading
import time
from typing import Any

import psycopg
import pytest

from cryptomonitor import alerts
from tests import pgserver
from tests.fakeapi import Answer, FakeCoinGecko
from tests.helpers import lines
from tests.procs import Proc

OUTAGE_POLLS = 60
SECONDS_PER_REQUEST = 2


@pytest.fixture
def stoppable(pg_server: pgserver.Server) -> pgserver.Server:
    if pg_server.bindir is None:
        pytest.skip("needs the suite's own local cluster to stop and start; this run uses "
                    f"{pg_server.description}")
    return pg_server


@pytest.mark.slow
def test_outage_loses_no_tick_and_misses_no_alert(db_url: str, stoppable: pgserver.Server,
                                                  fake_api: FakeCoinGecko,
                                                  tmp_path: pathlib.Path) -> None:
    base = int(time.time()) - 1000
    served: set[tuple[str, int]] = set()
    spike: dict[str, Any] = {"at": None, "time": None}
    lock = threading.Lock()

    def respond(path: str, query: dict[str, str]) -> Answer:
        with lock:
            n = len(fake_api.requests)
            stamp = base + SECONDS_PER_REQUEST * n
            btc = 400.0 if n == spike["at"] else 100.0
            if n == spike["at"]:
                spike["time"] = stamp
            served.update({("bitcoin", stamp), ("ethereum", stamp)})
        return Answer(200, {
            "bitcoin": {"usd": btc, "usd_24h_vol": 5e9, "last_updated_at": stamp},
            "ethereum": {"usd": 10.0, "usd_24h_vol": 1e9, "last_updated_at": stamp},
        })

    fake_api.responder = respond
    alerts_file = tmp_path / "alerts.txt"
    app = Proc("run", DATABASE_URL=db_url, CRYPTOMONITOR_COINGECKO_URL=fake_api.url,
               CRYPTOMONITOR_COINS="bitcoin,ethereum", CRYPTOMONITOR_POLL_INTERVAL="0.1",
               CRYPTOMONITOR_ALERTS_FILE=str(alerts_file))
    try:
        app.wait_for(lambda: sum(p["stored"] for p in app.named("poll")) >= 30)
        pgserver.stop(stoppable)
        try:
            with lock:
                outage_from = len(fake_api.requests)
                spike["at"] = outage_from + OUTAGE_POLLS // 2
            app.wait_for(lambda: len(fake_api.requests) >= outage_from + OUTAGE_POLLS)
        finally:
            pgserver.start(stoppable)
        app.wait_for(lambda: any(p["database_ok"] and p["buffered"] == 0
                                 for p in app.named("poll")[-3:]), timeout=60)
        app.wait_for(lambda: len(lines(alerts_file)) >= 2)
    finally:
        assert app.stop() == 0, app.log()

    down = [p for p in app.named("poll") if not p["database_ok"]]
    assert len(down) >= OUTAGE_POLLS - 5, "the fetcher stopped polling during the outage"
    assert max(p["buffered"] for p in down) >= 2 * (OUTAGE_POLLS - 5)
    assert app.named("database_unavailable")
    with psycopg.connect(db_url) as conn:
        stored = {(str(s), int(t)) for s, t in conn.execute(
            "SELECT symbol, extract(epoch FROM time)::bigint FROM ticks")}
    assert stored == served, "fetched ticks and stored ticks differ"
    assert sum(p["dropped_total"] for p in app.named("poll")[-1:]) == 0
    spiked = [alerts.parse_line(x) for x in lines(alerts_file)]
    assert {(a["event"], a["rule"], a["value"]) for a in spiked if a["symbol"] == "bitcoin"} >= {
        ("ALERT", "price_3x_1h", "400"), ("ALERT", "price_2pct_5m", "400")}
    spike_time = alerts.format_time(dt.datetime.fromtimestamp(spike["time"], dt.UTC))
    assert all(a["time"] == spike_time for a in spiked if a["event"] == "ALERT")
