"""A running fetcher delivers to a webhook across the webhook's outage and a `kill -9` of the
fetcher: every alert in the table reaches it (by alert_id), and how fast."""

from __future__ import annotations

import contextlib
import http.server
import json
import pathlib
import signal
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.support.fakeapi import Answer, FakeCoinGecko
from tests.support.helpers import SUMMARY
from tests.support.procs import Proc

pytestmark = pytest.mark.slow


class Receiver:
    """A webhook server answering 503 while `down`; records each event and when it came."""

    def __init__(self) -> None:
        self.got: list[tuple[str, float]] = []
        self.down = False

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        me = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not me.down:
                    me.got.append((body["alert_id"], time.time()))
                self.send_response(503 if me.down else 204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()
            server.server_close()


def test_every_alert_reaches_the_webhook_across_its_outage_and_a_kill(
    db_url: str, fake_api: FakeCoinGecko, tmp_path: pathlib.Path
) -> None:
    base = int(time.time()) - 3600
    lock = threading.Lock()
    served = [0]

    def respond(path: str, query: dict[str, str]) -> Answer:
        if path != "/api/v3/simple/price":
            return Answer(404, {})
        with lock:
            n = served[0]
            served[0] += 1
        spike = n % 25 == 20  # a spike every 25 polls: ALERT, then RESOLVED
        return Answer(
            200,
            {
                "bitcoin": {
                    "usd": 400.0 if spike else 100.0,
                    "usd_24h_vol": 5e9,
                    "last_updated_at": base + 10 * n,
                }
            },
        )

    fake_api.responder = respond
    receiver = Receiver()
    with receiver.running() as url:
        receivers = tmp_path / "receivers.toml"
        receivers.write_text(
            f'[[receiver]]\nname = "hook"\ntype = "webhook"\nurl = "{url}"\n'
            'rules = ["price_3x_1h"]\n'
        )
        settings = {
            "DATABASE_URL": db_url,
            "CRYPTOMONITOR_COINGECKO_URL": fake_api.url,
            "CRYPTOMONITOR_COINS": "bitcoin",
            "CRYPTOMONITOR_POLL_INTERVAL": "0.05",
            "CRYPTOMONITOR_ALERTS_FILE": str(tmp_path / "alerts.txt"),
            "CRYPTOMONITOR_RECEIVERS_FILE": str(receivers),
            "CRYPTOMONITOR_SPOOL_DIR": str(tmp_path / "spool"),
        }
        app = Proc("run", **settings)
        try:
            app.wait_for(lambda: len(receiver.got) >= 2)
            receiver.down = True  # the webhook's outage: alerts pile up
            app.wait_for(lambda: served[0] >= 150)
            assert app.stop(signal.SIGKILL) == -signal.SIGKILL
            receiver.down = False
            app = Proc("run", **settings)  # resumes where delivery stopped
            app.wait_for(lambda: served[0] >= 250)
            with psycopg.connect(db_url) as conn:
                expected = {
                    str(i)
                    for (i,) in conn.execute(
                        "SELECT alert_id FROM alerts WHERE rule = 'price_3x_1h'"
                    )
                }
            app.wait_for(lambda: expected <= {i for i, _ in receiver.got}, timeout=60)
        finally:
            assert app.stop() == 0, app.log()
    got = [i for i, _ in receiver.got]
    assert expected and set(got) >= expected
    with psycopg.connect(db_url) as conn:
        created = {
            str(i): t.timestamp()
            for i, t in conn.execute(
                "SELECT alert_id, created_at FROM alerts WHERE rule = 'price_3x_1h'"
            )
        }
        after_outage = conn.execute(
            "SELECT count(*) FROM alert_deliveries WHERE status = 'delivered' AND attempts > 1"
        ).fetchone()
    assert after_outage is not None and after_outage[0] >= 1  # some waited for the outage
    twice = len(got) - len(set(got))
    latencies = sorted(
        1000 * (t - created[i])
        for i, t in receiver.got
        if i in created and 1000 * (t - created[i]) < 2000
    )
    SUMMARY.append(
        f"webhook: {len(set(got))} alerts delivered ({twice} twice, by a kill "
        f"between send and record); commit to arrival p50 "
        f"{statistics.median(latencies):.0f} ms, p90 "
        f"{latencies[int(0.9 * (len(latencies) - 1))]:.0f} ms (those that did not wait "
        f"out the outage)"
    )
