"""Receivers fed from the outbox: at least once per receiver, by alert_id, across failures
and restarts; a real SMTP server, a real webhook server, Apprise to a local URL.

Every server here listens on 127.0.0.1 and is started by the test."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import json
import pathlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from cryptomonitor.alerting import delivery, episodes, lineformat
from cryptomonitor.alerting.receivers import settings, webhook
from cryptomonitor.alerting.receivers.base import Route
from cryptomonitor.alerting.receivers.smtp import Email
from cryptomonitor.exceptions import ConfigError
from cryptomonitor.models import Tick
from tests.support.helpers import pipeline

START = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)


class Hook:
    """A webhook server: records each body; `behaviour` decides the answer."""

    def __init__(self) -> None:
        self.bodies: list[tuple[dict[str, Any], dict[str, str], bytes]] = []
        self.requests = 0
        self.behaviour: Callable[[int], int] = lambda n: 200  # request number -> status

    @contextlib.contextmanager
    def running(self, port: int = 0) -> Iterator[str]:
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                status = hook.behaviour(hook.requests)
                hook.requests += 1
                if status == 0:  # a timeout: answer too late
                    time.sleep(1.5)
                    status = 200
                elif status == 200:
                    hook.bodies.append((json.loads(raw), dict(self.headers), raw))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/hook"
        finally:
            server.shutdown()
            server.server_close()


def raise_alerts(db_url: str, tmp_path: pathlib.Path, spikes: int = 3) -> int:
    """Ticks with `spikes` spikes (ALERT + RESOLVED each, two rules): the events stored."""
    p = pipeline(db_url, tmp_path / "alerts.txt")
    for m in range(40 * spikes):
        spike = m % 40 == 30
        p.submit(
            [Tick(START + dt.timedelta(minutes=m), "btc", 400.0 if spike else 100.0, 1.0, "test")]
        )
    p.flush()
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM alerts").fetchone()
    assert row is not None
    return int(row[0])


@contextlib.contextmanager
def delivering(receiver: Any, db_url: str) -> Iterator[delivery.Delivery]:
    """A delivery thread for `receiver`, registered before the test raises anything (it takes
    the events raised from then on); stopped at the end."""
    thread = delivery.Delivery(receiver, db_url, threading.Event())
    thread.start()
    time.sleep(0.5)
    try:
        yield thread
    finally:
        thread.stop.set()
        thread.join(10)


def until(thread: delivery.Delivery, done: Callable[[], bool], timeout: float = 30) -> None:
    """Wake `thread` until `done()` or `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        thread.wake.set()
        time.sleep(0.05)


def test_a_failing_webhook_gets_every_event_once_signed(
    db_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "MAX_BACKOFF", 0.3)
    hook = Hook()
    # Connection refused (no server yet), then 500, a timeout, 500, then fine.
    script = {0: 500, 1: 0, 2: 500}
    hook.behaviour = lambda n: script.get(n, 200)
    port = free_port_below_32768()
    receiver = webhook.Webhook(
        "ops",
        Route(),
        f"http://127.0.0.1:{port}/hook",
        secret="s3cret",  # noqa: S106
        timeout=1.0,
    )
    with delivering(receiver, db_url) as thread:
        expected = raise_alerts(db_url, tmp_path)
        time.sleep(1.0)  # refused meanwhile
        with hook.running(port):
            until(thread, lambda: len(hook.bodies) >= expected)
    assert expected >= 8
    ids = [body["alert_id"] for body, _, _ in hook.bodies]
    assert len(ids) == len(set(ids)) == expected, "an event was lost or delivered twice"
    for body, headers, raw in hook.bodies:
        assert headers["X-CryptoMonitor-Signature"] == webhook.signature("s3cret", raw)
        assert headers["X-CryptoMonitor-Alert-Id"] == body["alert_id"]
        assert body["line"] == lineformat.format_line(
            episodes.Event(**_event(db_url, body["alert_id"]))
        )
    times = [body["time"] for body, _, _ in hook.bodies]
    assert times == sorted(times), "events out of order"
    with psycopg.connect(db_url) as conn:
        status = conn.execute(
            "SELECT status, count(*), max(attempts) FROM alert_deliveries GROUP BY status"
        ).fetchall()
    assert status[0][:2] == ("delivered", expected) and len(status) == 1
    assert status[0][2] >= 5  # refused at least once, 500, timeout, 500, delivered


def free_port_below_32768() -> int:
    """A port outside the ephemeral range (see the README of this machine's tests)."""
    import random
    import socket

    for _ in range(100):
        port = random.randint(20_000, 32_000)
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port))
            return port
    raise RuntimeError("no free port")


def _event(db_url: str, alert_id: str) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        cur = conn.execute(
            "SELECT alert_id, event, time, rule, symbol, metric, value,"
            " window_avg, window_samples, window_seconds, condition, threshold,"
            " episode_id FROM alerts WHERE alert_id = %s",
            (alert_id,),
        )
        names = [d.name for d in cur.description or []]
        row = cur.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def test_a_restart_resumes_and_a_second_process_waits(db_url: str, tmp_path: pathlib.Path) -> None:
    hook = Hook()
    with hook.running() as url:
        receiver = webhook.Webhook("ops", Route(events=frozenset({"ALERT"})), url)
        first = delivery.Delivery(receiver, db_url, threading.Event())
        first.start()
        time.sleep(0.5)
        expected = raise_alerts(db_url, tmp_path) // 2  # the route takes ALERTs only
        second = delivery.Delivery(receiver, db_url, threading.Event())
        second.start()  # a replica: waits for the lock
        deadline = time.monotonic() + 30
        while len(hook.bodies) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        first.stop.set()  # "killed" mid-way: the replica takes over where it stopped
        first.join(10)
        first.db.close()
        while len(hook.bodies) < expected and time.monotonic() < deadline:
            second.wake.set()
            time.sleep(0.05)
        second.stop.set()
        second.join(10)
    ids = [body["alert_id"] for body, _, _ in hook.bodies]
    assert len(ids) == len(set(ids)) == expected
    assert {body["event"] for body, _, _ in hook.bodies} == {"ALERT"}
    with psycopg.connect(db_url) as conn:
        skipped = conn.execute(
            "SELECT count(*) FROM alert_deliveries WHERE status = 'skipped'"
        ).fetchone()
    assert skipped == (expected,)  # the RESOLVEDs, recorded so they are not looked at again


def test_email_reaches_a_real_smtp_server(db_url: str, tmp_path: pathlib.Path) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received: list[Any] = []

    class Keep(Message):
        def handle_message(self, message: Any) -> None:
            received.append(message)

    port = free_port_below_32768()
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        receiver = Email(
            "mail",
            Route(symbols=frozenset({"btc"})),
            "127.0.0.1",
            port,
            "cryptomonitor@example.org",
            ["ops@example.org"],
            starttls=False,
        )
        with delivering(receiver, db_url) as thread:
            expected = raise_alerts(db_url, tmp_path, spikes=1)
            until(thread, lambda: len(received) >= expected)
    finally:
        controller.stop()
    assert len(received) == expected == 4
    subjects = sorted(" ".join(m["Subject"].split()) for m in received)  # unfolded
    assert subjects[0] == (
        "[CryptoMonitor] ALERT btc price 400.00 is 300.00% above its 5m average 100.00"
    )
    assert all(m["To"] == "ops@example.org" for m in received)
    assert "| rule=price_" in received[0].get_payload(decode=True).decode()


def test_chat_through_apprise_to_a_local_url(db_url: str, tmp_path: pathlib.Path) -> None:
    hook = Hook()
    with hook.running() as url:
        chat_url = url.replace("http://", "json://")  # Apprise's generic JSON endpoint
        receiver = settings.KINDS["chat"](
            settings._Table("t", {"urls": [chat_url]}), "chat", Route(), {}, 3600.0
        )
        with delivering(receiver, db_url) as thread:
            expected = raise_alerts(db_url, tmp_path, spikes=1)
            until(thread, lambda: len(hook.bodies) >= expected)
    assert len(hook.bodies) == expected
    assert {b["title"].split()[0] for b, _, _ in hook.bodies} == {"ALERT", "RESOLVED"}
    assert all("| rule=" in b["message"] for b, _, _ in hook.bodies)


def test_receivers_file_errors_name_the_receiver_and_key(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "receivers.toml"
    cases = {
        '[[receiver]]\nname = "a"\ntype = "pager"\n': "type 'pager' is not one of",
        '[[receiver]]\nname = "a"\ntype = "webhook"\n': "receiver 'a': 'url' is required",
        '[[receiver]]\nname = "a"\ntype = "webhook"\nurl = "ftp://x"\n': "not an http(s) URL",
        '[[receiver]]\nname = "a"\ntype = "webhook"\nurl = "http://x"\nsecret_env = "NOPE"\n': "'secret_env' names NOPE, which is not set",
        '[[receiver]]\nname = "a"\ntype = "webhook"\nurl = "http://x"\nurll = 1\n': "unknown key(s) ['urll']",
        '[[receiver]]\nname = "a"\ntype = "email"\nhost = "h"\nfrom = "f"\nto = []\n': "'to' must list at least one address",
        '[[receiver]]\nname = "a"\ntype = "chat"\nurls = ["nope://x"]\n': "not a URL Apprise knows",
        '[[receiver]]\nname = "a"\ntype = "webhook"\nurl = "http://x"\nevents = ["FIRE"]\n': "'events' may hold ALERT and RESOLVED only",
    }
    for text, message in cases.items():
        path.write_text(text)
        with pytest.raises(
            ConfigError,
            match=message.replace("(", r"\(")
            .replace(")", r"\)")
            .replace("[", r"\[")
            .replace("]", r"\]"),
        ):
            settings.load(path, 3600.0, environ={})
    path.write_text(
        '[[receiver]]\nname = "a"\ntype = "webhook"\nurl = "http://x"\nsecret_env = "HOOK_SECRET"\n'
    )
    (only,) = settings.load(path, 3600.0, environ={"HOOK_SECRET": "x"})
    assert isinstance(only, webhook.Webhook)
    assert only.secret == "x"  # noqa: S105


def test_a_failing_receiver_shows_in_health(db_url: str, tmp_path: pathlib.Path) -> None:
    from fastapi.testclient import TestClient

    from cryptomonitor.api import application

    port = free_port_below_32768()  # nothing listens: connection refused
    receiver = webhook.Webhook("down", Route(), f"http://127.0.0.1:{port}/hook", timeout=1.0)
    stop = threading.Event()
    thread = delivery.Delivery(receiver, db_url, stop)
    thread.start()
    time.sleep(0.5)
    expected = raise_alerts(db_url, tmp_path, spikes=1)
    thread.wake.set()
    deadline = time.monotonic() + 10
    with TestClient(application.create_app(db_url)) as client:
        while True:
            (down,) = client.get("/health").json()["receivers"]
            if down["last_error"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    stop.set()
    thread.join(10)
    assert down["name"] == "down" and down["kind"] == "webhook"
    assert down["pending"] == expected and down["oldest_pending_s"] >= 0
    assert "ConnectionError" in down["last_error"]


def test_the_example_file_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.paths import ROOT

    env = {"OPS_WEBHOOK_SECRET": "x", "SMTP_PASSWORD": "y", "CHAT_URLS": "json://127.0.0.1:9/hook"}
    loaded = settings.load(ROOT / "receivers.example.toml", 3600.0, environ=env)
    assert [(r.name, r.kind) for r in loaded] == [
        ("ops-webhook", "webhook"),
        ("alertmanager", "alertmanager"),
        ("ops-mail", "email"),
        ("chat", "chat"),
    ]


def test_events_of_a_replay_reach_a_receiver_configured_for_it(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    """A receiver is known from the first command that names it (here a replay of the gzipped
    days shipped with the package); `run`'s delivery thread then delivers those events."""
    from cryptomonitor import config
    from cryptomonitor.commands import replay
    from tests.support.paths import ROOT

    hook = Hook()
    with hook.running() as url:
        receivers = tmp_path / "receivers.toml"
        receivers.write_text(f'[[receiver]]\nname = "hook"\ntype = "webhook"\nurl = "{url}"\n')
        settings_ = config.load(
            {
                "DATABASE_URL": db_url,
                "CRYPTOMONITOR_ALERTS_FILE": str(tmp_path / "a.txt"),
                "CRYPTOMONITOR_RECEIVERS_FILE": str(receivers),
            }
        )
        day = ROOT / "cryptomonitor" / "sources" / "demodata" / "ETHUSDT_1m_demo.csv.gz"
        summary = replay.replay_file(settings_, day, "eth", threading.Event())
        assert summary.alerts > 0
        with delivering(settings.load(receivers, 3600.0)[0], db_url) as thread:
            until(thread, lambda: len(hook.bodies) >= summary.alerts)
    assert len({b["alert_id"] for b, _, _ in hook.bodies}) == summary.alerts


def test_settled_events_are_passed_over(
    db_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "SETTLE_EVERY", 0.0)
    hook = Hook()
    hook.behaviour = lambda n: 200
    with hook.running() as url:
        receiver = webhook.Webhook("hook", Route(events=frozenset({"ALERT"})), url)
        with delivering(receiver, db_url) as thread, psycopg.connect(db_url) as conn:
            expected = raise_alerts(db_url, tmp_path)
            until(thread, lambda: len(hook.bodies) >= expected // 2)
            young = conn.execute("SELECT since_seq FROM receivers").fetchone()
            monkeypatch.setattr(delivery, "SETTLE_AFTER", 0.0)  # as if they were old
            time.sleep(1.5)  # a look or two
            (settled,) = conn.execute("SELECT since_seq FROM receivers").fetchone() or (0,)
            (newest,) = conn.execute("SELECT max(seq) FROM alerts").fetchone() or (0,)
    assert young == (0,)  # events younger than SETTLE_AFTER are not passed over
    assert settled == newest  # every ALERT delivered, every RESOLVED skipped: all settled
    assert len(hook.bodies) == expected // 2  # and nothing was sent twice after the move
