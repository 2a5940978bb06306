"""The real counterparts: Debian's Prometheus scrapes a running fetcher's metrics and answers a
PromQL query with the figures the database holds; Debian's Alertmanager receives an ALERT
(firing) and its RESOLVED (no longer active). Both on 127.0.0.1, started and stopped here."""

from __future__ import annotations

import datetime as dt
import pathlib
import threading
import time
from typing import Any

import psycopg
import pytest
import requests

from cryptomonitor.alerting import delivery
from cryptomonitor.alerting.receivers.alertmanager import Alertmanager
from cryptomonitor.alerting.receivers.base import Route
from cryptomonitor.models import Tick
from tests.support.daemons import binary, process
from tests.support.fakeapi import FakeCoinGecko
from tests.support.helpers import SUMMARY, pipeline
from tests.support.pgserver import free_port
from tests.support.procs import Proc

pytestmark = pytest.mark.slow


def query(base: str, promql: str) -> list[dict[str, Any]]:
    body = requests.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_prometheus_scrapes_the_fetcher(
    db_url: str, fake_api: FakeCoinGecko, tmp_path: pathlib.Path
) -> None:
    prometheus = binary("prometheus")
    metrics_port, prom_port = free_port(), free_port()
    fake_api.set_price("bitcoin", 100.0, 5e9, int(time.time()))
    app = Proc(
        "run",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_COINGECKO_URL=fake_api.url,
        CRYPTOMONITOR_COINS="bitcoin",
        CRYPTOMONITOR_POLL_INTERVAL="0.2",
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
        CRYPTOMONITOR_METRICS_ADDR=f"127.0.0.1:{metrics_port}",
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: cryptomonitor
    static_configs: [{{targets: ["127.0.0.1:{metrics_port}"]}}]
""")
    base = f"http://127.0.0.1:{prom_port}"
    try:
        app.wait_for(lambda: len(app.named("poll")) >= 5)
        with process(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            f"{base}/-/ready",
        ):
            deadline = time.monotonic() + 30
            while not query(base, 'cryptomonitor_ticks_total{stage="stored"}'):
                assert time.monotonic() < deadline, "Prometheus never scraped the fetcher"
                time.sleep(0.5)
            stored = query(base, 'sum(cryptomonitor_ticks_total{stage="stored"})')
            unchanged = query(base, 'cryptomonitor_ticks_total{stage="unchanged"}')
            polls = query(base, 'cryptomonitor_polls_total{outcome="answered"}')
            up = query(base, 'up{job="cryptomonitor"}')
            age = query(base, 'cryptomonitor_newest_tick_age_seconds{symbol="bitcoin"}')
    finally:
        assert app.stop() == 0, app.log()
    with psycopg.connect(db_url) as conn:
        in_db = conn.execute("SELECT count(*) FROM ticks").fetchone()
    assert in_db == (1,)  # one price, the same last_updated_at at every poll
    assert float(stored[0]["value"][1]) == 1.0
    assert float(unchanged[0]["value"][1]) >= 4
    assert float(polls[0]["value"][1]) >= 5
    assert up[0]["value"][1] == "1" and 0 <= float(age[0]["value"][1]) < 120


def test_alertmanager_gets_the_alert_then_its_resolution(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    alertmanager = binary("prometheus-alertmanager", "alertmanager")
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text("route: {receiver: nobody}\nreceivers: [{name: nobody}]\n")
    base = f"http://127.0.0.1:{port}"
    with process(
        [
            alertmanager,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        f"{base}/-/ready",
    ):
        stop = threading.Event()
        thread = delivery.Delivery(
            Alertmanager("am", Route(rules=frozenset({"price_3x_1h"})), base), db_url, stop
        )
        thread.start()
        time.sleep(0.5)
        start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=40)
        p = pipeline(db_url, tmp_path / "alerts.txt")

        def feed(minutes: range, spike: int) -> float:
            p.submit(
                [
                    Tick(
                        start + dt.timedelta(minutes=m),
                        "btc",
                        400.0 if m == spike else 100.0,
                        1.0,
                        "test",
                    )
                    for m in minutes
                ]
            )
            p.flush()
            committed = time.monotonic()
            thread.wake.set()
            return committed

        def active() -> list[dict[str, Any]]:
            alerts = requests.get(f"{base}/api/v2/alerts", timeout=5).json()
            return [a for a in alerts if a["labels"].get("symbol") == "btc"]

        def wait(predicate: Any) -> float:
            deadline = time.monotonic() + 20
            while not predicate():
                assert time.monotonic() < deadline, active()
                time.sleep(0.02)
            return time.monotonic()

        try:
            committed = feed(range(0, 31), spike=30)
            seen = wait(lambda: len(active()) == 1)
            (firing,) = active()
            committed_resolved = feed(range(31, 33), spike=-1)
            resolved = wait(lambda: not active())
        finally:
            stop.set()
            thread.join(10)
    assert firing["labels"] == {
        "alertname": "price_3x_1h",
        "rule": "price_3x_1h",
        "symbol": "btc",
        "metric": "price",
        "severity": "warning",
        "source": "cryptomonitor",
    }
    assert firing["status"]["state"] == "active"
    assert "4.00x its 1h average" in firing["annotations"]["summary"]
    SUMMARY.append(
        f"alertmanager: ALERT visible {1000 * (seen - committed):.0f} ms after its "
        f"commit, RESOLVED {1000 * (resolved - committed_resolved):.0f} ms after"
    )
