"""The cryptomonitor command as a user runs it: a real process, real signals, real files."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import psycopg
import pytest
import requests

from cryptomonitor.alerting import lineformat
from cryptomonitor.commands import run
from tests.support import pgserver
from tests.support.fakeapi import Answer, FakeCoinGecko
from tests.support.helpers import lines
from tests.support.paths import FIXTURES
from tests.support.procs import cli, env


@pytest.mark.parametrize(
    "command",
    [[], ["migrate"], ["run"], ["replay"], ["backfill"], ["demo"], ["api"], ["rules"]],
)
def test_help(command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.returncode == 0 and "usage: cryptomonitor" in result.stdout


def test_rules_check_prints_each_rule_as_a_sentence(tmp_path: pathlib.Path) -> None:
    good = tmp_path / "rules.toml"
    good.write_text(
        '[[rule]]\nname = "btc_100k"\ncondition = "above"\nsymbols = ["bitcoin"]\n'
        'threshold = 100000\nrecover = 99500\n\n[[rule]]\nname = "off"\ncondition = "below"\n'
        "threshold = 1\nenabled = false\n"
    )
    # No database is needed (none is configured here, and none is started).
    result = cli("rules", "check", str(good), DATABASE_URL="postgresql://nobody@127.0.0.1:1/x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{good}: 1 rule(s) enabled, 1 disabled",
        "  btc_100k: ALERT when bitcoin's price rises above 100,000; RESOLVED when it falls "
        "to 99,500 or below; severity warning",
        "  off (disabled): ALERT when a symbol's price falls below 1; RESOLVED when it rises "
        "to 1 or above; severity warning",
    ]
    defaults = cli("rules", "check")
    assert defaults.returncode == 0 and "the built-in rules: 4 rule(s)" in defaults.stdout


def test_rules_check_names_file_line_rule_and_key_of_a_bad_rule(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text('[[rule]]\nname = "dump"\ncondition = "move"\nlookback = "soon"\n')
    result = cli("rules", "check", str(bad))
    assert result.returncode == 2
    assert f"{bad}:4: rule 'dump', key 'lookback': 'soon' is not a duration" in result.stderr
    # `run` refuses it the same way, before it polls anything.
    started = cli("run", "--once", CRYPTOMONITOR_RULES_FILE=str(bad), timeout=120)
    assert started.returncode == 2 and "key 'lookback'" in started.stderr


def test_bad_setting_exits_2_naming_it() -> None:
    result = cli("run", CRYPTOMONITOR_POLL_INTERVAL="-1")
    assert result.returncode == 2
    assert "CRYPTOMONITOR_POLL_INTERVAL" in result.stderr and "positive" in result.stderr


def test_unreachable_database_exits_1_after_waiting() -> None:
    started = time.monotonic()
    result = cli(
        "migrate", "--db-wait", "2", DATABASE_URL="postgresql://x@127.0.0.1:1/x?connect_timeout=1"
    )
    assert result.returncode == 1
    assert time.monotonic() - started >= 2
    fatal = json.loads(result.stderr.strip().splitlines()[-1])
    assert fatal["event"] == "fatal" and "database unavailable" in fatal["error"]
    assert "CRYPTOMONITOR_DB_WAIT" in fatal["error"] and "DATABASE_URL" in fatal["error"]


def test_missing_database_fails_at_once_with_the_fix(db_url: str) -> None:
    """A refusal is not an outage: no waiting out --db-wait, exit 2, the command that fixes it."""
    missing = psycopg.conninfo.make_conninfo(db_url, dbname="cm_no_such_db")
    started = time.monotonic()
    result = cli("migrate", "--db-wait", "30", DATABASE_URL=missing)
    assert result.returncode == 2, result.stderr
    assert time.monotonic() - started < 15
    refused = json.loads(result.stderr.strip().splitlines()[-1])
    assert refused["event"] == "database_refused"
    assert 'database "cm_no_such_db" does not exist' in refused["error"]
    assert "createdb cm_no_such_db" in refused["error"]


def test_unknown_role_fails_at_once_naming_it(db_url: str) -> None:
    stranger = psycopg.conninfo.make_conninfo(db_url, user="cm_no_such_role")
    result = cli("migrate", "--db-wait", "30", DATABASE_URL=stranger)
    assert result.returncode == 2, result.stderr
    refused = json.loads(result.stderr.strip().splitlines()[-1])
    assert refused["event"] == "database_refused"
    # Trust auth says the role does not exist; password auth does not tell: both name it.
    assert (
        "createuser cm_no_such_role" in refused["error"]
        or "ALTER ROLE cm_no_such_role" in refused["error"]
    ), refused


def test_a_database_url_that_is_no_url_is_a_bad_setting() -> None:
    result = cli("migrate", DATABASE_URL="notaurl")
    assert result.returncode == 2
    assert "DATABASE_URL: not a libpq URL" in result.stderr


def test_a_flag_is_named_by_its_flag(tmp_path: pathlib.Path) -> None:
    result = cli("run", "--poll-interval", "-1")
    assert result.returncode == 2 and "--poll-interval:" in result.stderr
    assert "CRYPTOMONITOR_POLL_INTERVAL" not in result.stderr


@pytest.mark.parametrize("target", ["/proc/version", "DIR"])
def test_alerts_file_must_be_a_regular_file(
    db_url: str, tmp_path: pathlib.Path, target: str
) -> None:
    path = str(tmp_path) if target == "DIR" else target
    result = cli("run", "--once", "--alerts-file", path, DATABASE_URL=db_url)
    assert result.returncode == 2, result.stderr
    refused = json.loads(result.stderr.strip().splitlines()[-1])
    assert refused["event"] == "bad_configuration"
    assert refused["error"].startswith(f"--alerts-file: {path}")
    assert "Traceback" not in result.stderr


def test_alerts_file_on_a_pipe_is_refused_not_a_traceback(db_url: str) -> None:
    """`--alerts-file /dev/stdout` with stdout piped."""
    proc = subprocess.run(
        [sys.executable, "-m", "cryptomonitor", "run", "--once", "--alerts-file", "/dev/stdout"],
        env=env(DATABASE_URL=db_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "not a regular file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_once_fails_when_nothing_could_be_fetched(
    db_url: str, tmp_path: pathlib.Path, fake_api: FakeCoinGecko
) -> None:
    """For cron: a poll that got nothing is exit 1, not 0."""
    fake_api.set_price("bitcoin", 100.0, 5e9, int(time.time()))
    common = {
        "DATABASE_URL": db_url,
        "CRYPTOMONITOR_COINGECKO_URL": fake_api.url,
        "CRYPTOMONITOR_COINS": "bitcoin",
        "CRYPTOMONITOR_HTTP_ATTEMPTS": "1",
        "CRYPTOMONITOR_ALERTS_FILE": str(tmp_path / "alerts.txt"),
    }
    assert cli("run", "--once", **common).returncode == 0
    fake_api.script.append(Answer(500, {"error": "down"}))
    result = cli("run", "--once", **common)
    assert result.returncode == 1, result.stderr
    failed = [json.loads(x) for x in result.stderr.splitlines() if '"run_failed"' in x]
    why = failed[0]["why"]  # the hint first, the HTTP library's text after it
    assert why.startswith("the source answered no poll; offline, `cryptomonitor demo` writes")
    assert why.index("cryptomonitor demo") < why.index("Last error: ") < why.index("500")


def test_run_once_offline_says_the_hint_first(db_url: str, tmp_path: pathlib.Path) -> None:
    """No network (a port nobody listens on): the hint leads the failure, the HTTP library's
    hundreds of characters of connection text come after it, cut short."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = cli(
        "run",
        "--once",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_COINGECKO_URL=f"http://127.0.0.1:{port}/api/v3",
        CRYPTOMONITOR_COINS="bitcoin",
        CRYPTOMONITOR_HTTP_ATTEMPTS="1",
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
    )
    assert result.returncode == 1, result.stderr
    (failed,) = [json.loads(x) for x in result.stderr.splitlines() if '"run_failed"' in x]
    assert failed["why"].startswith(
        "the source answered no poll; offline, `cryptomonitor demo` writes three real days of data"
    )
    error = failed["why"].split("Last error: ", 1)[1]
    assert "Connection refused" in error or "connect" in error.lower(), error
    assert len(error) <= run.MAX_ERROR_SHOWN


def test_run_once_of_a_stream_it_cannot_reach_fails_and_says_why(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    """A stream's first poll waits for its connection: one that cannot open is exit 1 with
    the connection's error, not a quiet 0 with nothing fetched."""
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.monotonic()
    result = cli(
        "run",
        "--once",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_SOURCE="binance-ws",
        CRYPTOMONITOR_COINS="btcusdt",
        CRYPTOMONITOR_BINANCE_WS_URL=f"ws://127.0.0.1:{port}/stream",
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
    )
    assert result.returncode == 1, result.stderr
    failed = [json.loads(x) for x in result.stderr.splitlines() if '"run_failed"' in x]
    assert failed and f"not connected to ws://127.0.0.1:{port}/stream" in failed[0]["why"]
    assert "ConnectionRefusedError" in failed[0]["why"] and time.monotonic() - started < 30


def test_a_run_stopped_by_sigterm_succeeds_even_if_the_source_never_answered(
    db_url: str, tmp_path: pathlib.Path, fake_api: FakeCoinGecko
) -> None:
    """A clean stop is exit 0 (compose `down`); only `--once` fails for want of answers."""
    from tests.support.procs import Proc

    fake_api.responder = lambda path, query: Answer(503, {"error": "down"})
    proc = Proc(
        "run",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_COINGECKO_URL=fake_api.url,
        CRYPTOMONITOR_COINS="bitcoin",
        CRYPTOMONITOR_HTTP_ATTEMPTS="1",
        CRYPTOMONITOR_POLL_INTERVAL="0.2",
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
    )
    try:
        proc.wait_for(lambda: len(proc.named("poll_failed")) >= 2)
    finally:
        code = proc.stop()
    assert code == 0, proc.log()[-2000:]


def test_unknown_variables_get_a_suggestion_only_when_close() -> None:
    far = cli("migrate", CRYPTOMONITOR_FOO="1")
    assert far.returncode == 2 and "CRYPTOMONITOR_FOO;" in far.stderr
    assert "did you mean" not in far.stderr
    close = cli("migrate", CRYPTOMONITOR_COINZ="1")
    assert "did you mean CRYPTOMONITOR_COINS?" in close.stderr


def test_a_poll_interval_the_rate_limit_overrules_is_said(
    db_url: str, tmp_path: pathlib.Path, fake_api: FakeCoinGecko
) -> None:
    fake_api.set_price("bitcoin", 100.0, 5e9, int(time.time()))
    result = cli(
        "run",
        "--once",
        "--poll-interval",
        "0.2",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_COINGECKO_URL=fake_api.url,
        CRYPTOMONITOR_COINS="bitcoin",
        CRYPTOMONITOR_COINGECKO_RATE="10",
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
    )
    assert result.returncode == 0, result.stderr
    bounded = [json.loads(x) for x in result.stderr.splitlines() if "poll_interval_bounded" in x]
    assert bounded and (bounded[0]["asked_s"], bounded[0]["effective_s"]) == (0.2, 6.0)


def test_migrate_checks_the_alerts_file_when_asked(db_url: str, tmp_path: pathlib.Path) -> None:
    """Compose runs `migrate --check-alerts-file` as the fetcher's user before the fetcher."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    bad = str(blocker / "alerts.txt")
    good = tmp_path / "alerts" / "alerts.txt"
    assert cli("migrate", "--alerts-file", bad, DATABASE_URL=db_url).returncode == 0  # unasked
    result = cli("migrate", "--check-alerts-file", "--alerts-file", bad, DATABASE_URL=db_url)
    checked = cli("migrate", "--check-alerts-file", "--alerts-file", str(good), DATABASE_URL=db_url)
    if os.geteuid() == 0:  # compose would run the fetcher as root: refused, saying what to do
        for refused in (result, checked):
            assert refused.returncode == 2 and "would run as root" in refused.stderr
            assert "chown 10001:10001 alerts" in refused.stderr
        assert not good.exists()  # refused before creating anything root-owned
    else:
        assert result.returncode == 2
        assert "cannot append" in result.stderr and "HOST_UID" in result.stderr
        assert checked.returncode == 0, checked.stderr


def test_unwritable_alerts_file_exits_2(db_url: str, tmp_path: pathlib.Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli(
        "run", "--once", DATABASE_URL=db_url, CRYPTOMONITOR_ALERTS_FILE=str(blocker / "alerts.txt")
    )
    assert result.returncode == 2 and "CRYPTOMONITOR_ALERTS_FILE" in result.stderr
    assert "cannot append" in result.stderr and "HOST_UID" in result.stderr  # the compose hint


@pytest.mark.slow
def test_run_spike_alert_then_sigterm(
    db_url: str, tmp_path: pathlib.Path, fake_api: FakeCoinGecko
) -> None:
    now = int(time.time())
    for k in range(10):  # ten normal minutes, then a spike; then the spike answer repeats
        fake_api.script.append(
            Answer(
                200,
                {
                    "bitcoin": {
                        "usd": 100.0,
                        "usd_24h_vol": 5e9,
                        "last_updated_at": now - 660 + 60 * k,
                    }
                },
            )
        )
    fake_api.set_price("bitcoin", 400.0, 5e9, now - 60)
    alerts_file = tmp_path / "alerts" / "alerts.txt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryptomonitor", "run"],
        stderr=subprocess.PIPE,
        text=True,
        env=env(
            DATABASE_URL=db_url,
            CRYPTOMONITOR_COINGECKO_URL=fake_api.url,
            CRYPTOMONITOR_COINS="bitcoin",
            CRYPTOMONITOR_POLL_INTERVAL="0.1",
            CRYPTOMONITOR_ALERTS_FILE=str(alerts_file),
        ),
    )
    try:
        deadline = time.monotonic() + 30
        while len(lines(alerts_file)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # a few more polls of the unchanged spike answer
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    got = sorted(
        (f["rule"], f["value"], f["avg"]) for f in map(lineformat.parse_line, lines(alerts_file))
    )
    assert got == [("price_2pct_5m", "400", "100"), ("price_3x_1h", "400", "100")]
    events = [json.loads(x) for x in stderr.splitlines()]
    names = [e["event"] for e in events]
    assert "stop_requested" in names and names[-1] == "run_stop"
    polls = [e for e in events if e["event"] == "poll"]
    assert sum(p["stored"] for p in polls) == 11
    assert any(p["unchanged"] == 1 for p in polls)  # repeated answers were seen and not stored
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM ticks").fetchone() == (11,)


def test_replay_command(db_url: str, tmp_path: pathlib.Path) -> None:
    result = cli(
        "replay",
        str(FIXTURES / "BTCUSDT_1m_2025-05-30_day1.csv"),
        "--symbol",
        "btc",
        "--limit",
        "120",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
    )
    assert result.returncode == 0, result.stderr
    done = next(json.loads(x) for x in result.stderr.splitlines() if '"replay_done"' in x)
    assert done["stored"] == done["ticks"] == 480 and done["shift_minutes"] == 0
    assert result.stderr.splitlines()[-1].startswith("replay: 480 ticks stored for btc")


def test_replay_missing_file_is_clear(db_url: str, tmp_path: pathlib.Path) -> None:
    result = cli(
        "replay",
        str(tmp_path / "nope.csv"),
        "--symbol",
        "x",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
    )
    assert result.returncode == 1 and "cannot read" in result.stderr


def test_settings_are_logged_without_secrets(tmp_path: pathlib.Path) -> None:
    result = cli(
        "migrate",
        "--db-wait",
        "1",
        DATABASE_URL="postgresql://app:hunter2@127.0.0.1:1/x?connect_timeout=1",
    )
    first = json.loads(result.stderr.splitlines()[0])
    assert first["event"] == "settings" and first["command"] == "migrate"
    assert first["database_url"] == "postgresql://app:***@127.0.0.1:1/x?connect_timeout=1"
    assert "hunter2" not in result.stderr


@pytest.mark.slow
def test_api_command_serves_and_stops_on_sigterm(db_url: str) -> None:
    import urllib.request

    port = pgserver.free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cryptomonitor",
            "api",
            "--api-host",
            "127.0.0.1",
            "--api-port",
            str(port),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env(DATABASE_URL=db_url),
    )
    try:
        deadline, body = time.monotonic() + 30, None
        while body is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert body == {"metrics": []}
    assert proc.returncode == 0


@pytest.mark.slow
def test_api_process_logs_its_url_and_requests_and_drops_slow_clients(db_url: str) -> None:
    import socket

    from cryptomonitor.api import server
    from tests.support.procs import Proc

    port = pgserver.free_port()
    api = Proc("api", "--api-host", "127.0.0.1", "--api-port", str(port), DATABASE_URL=db_url)
    try:
        api.wait_for(lambda: bool(api.named("api_serving")))
        assert api.named("api_serving")[0]["url"] == f"http://127.0.0.1:{port}/"
        # A port in use is a bad setting naming it, exit 2 (not uvicorn's 3).
        second = cli("api", "--api-host", "127.0.0.1", "--api-port", str(port), DATABASE_URL=db_url)
        assert second.returncode == 2 and "--api-port: port" in second.stderr
        assert "already in use" in second.stderr
        # A client that sends its headers a byte at a time is cut off.
        slow = socket.create_connection(("127.0.0.1", port))
        started = time.monotonic()
        slow.sendall(b"GET /health/live HTTP/1.1\r\n")
        slow.settimeout(server.HEADER_TIMEOUT + 10)
        closed_after = None
        for _ in range(int(server.HEADER_TIMEOUT) + 8):
            try:
                slow.sendall(b"X-A: b\r\n")
            except OSError:
                closed_after = time.monotonic() - started
                break
            time.sleep(1)
        slow.close()
        assert closed_after is not None
        assert server.HEADER_TIMEOUT - 0.5 <= closed_after < server.HEADER_TIMEOUT + 5
        requests.get(f"http://127.0.0.1:{port}/metrics/nope", timeout=5)
        api.wait_for(lambda: any(e["path"] == "/metrics/nope" for e in api.named("request")))
        line = next(e for e in api.named("request") if e["path"] == "/metrics/nope")
        assert (line["method"], line["status"]) == ("GET", 404) and line["ms"] >= 0
    finally:
        api.stop()


def test_replay_of_several_files_needs_a_symbol_each(tmp_path: pathlib.Path) -> None:
    day = str(FIXTURES / "BTCUSDT_1m_2025-05-30_day1.csv")
    result = cli("replay", day, day, "--symbol", "btc", DATABASE_URL="postgresql:///x")
    assert result.returncode == 2 and "give one per FILE" in result.stderr
    result = cli(
        "replay", day, day, "--symbol", "btc", "--symbol", "btc", DATABASE_URL="postgresql:///x"
    )
    assert result.returncode == 2 and "a symbol of its own" in result.stderr


def test_a_metrics_address_in_use_is_exit_2_naming_it(db_url: str, tmp_path: pathlib.Path) -> None:
    """As the API's port: a metrics address that cannot be bound stops `run` at once, before
    it polls (a scraper would otherwise read another process's metrics, or none)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = cli(
            "run",
            "--once",
            DATABASE_URL=db_url,
            CRYPTOMONITOR_COINGECKO_URL="http://127.0.0.1:9/never-asked",
            CRYPTOMONITOR_METRICS_ADDR=f"127.0.0.1:{port}",
            CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
        )
    assert result.returncode == 2, result.stderr
    (bad,) = [json.loads(x) for x in result.stderr.splitlines() if '"bad_configuration"' in x]
    assert bad["error"].startswith(
        f"CRYPTOMONITOR_METRICS_ADDR: cannot serve metrics on 127.0.0.1:{port}"
    )
    assert "already in use" in bad["error"] and time.monotonic() - started < 30
    events = {json.loads(x)["event"] for x in result.stderr.splitlines() if x.startswith("{")}
    assert not events & {"run_start", "poll", "migration_start"}, events
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_sighup_reloads_the_rules_file_keeping_unchanged_rules(
    db_url: str, tmp_path: pathlib.Path, fake_api: FakeCoinGecko
) -> None:
    """`run` reloads the rules file on SIGHUP: an unchanged rule keeps its open episode, a
    changed one starts afresh, a file with an error keeps the rules in force."""
    rules_file = tmp_path / "rules.toml"
    above = '[[rule]]\nname = "above_{x}"\ncondition = "above"\nthreshold = {x}\n'
    rules_file.write_text(above.format(x=50) + above.format(x=60))
    now = int(time.time())
    fake_api.set_price("bitcoin", 100.0, 5e9, now - 30)
    alerts_file = tmp_path / "alerts.txt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryptomonitor", "run"],
        stderr=subprocess.PIPE,
        text=True,
        env=env(
            DATABASE_URL=db_url,
            CRYPTOMONITOR_COINGECKO_URL=fake_api.url,
            CRYPTOMONITOR_COINS="bitcoin",
            CRYPTOMONITOR_POLL_INTERVAL="0.2",
            CRYPTOMONITOR_ALERTS_FILE=str(alerts_file),
            CRYPTOMONITOR_RULES_FILE=str(rules_file),
            CRYPTOMONITOR_LOG_FORMAT="json",
        ),
    )

    def states() -> dict[str, bool]:
        with psycopg.connect(db_url) as conn:
            rows = conn.execute("SELECT rule, firing FROM alert_state").fetchall()
        return {str(r): bool(f) for r, f in rows}

    def wait(predicate: Any) -> None:
        deadline = time.monotonic() + 30
        while not predicate():
            if proc.poll() is not None:
                raise AssertionError(f"run ended: {proc.communicate()[1][-3000:]}")
            assert time.monotonic() < deadline
            time.sleep(0.1)

    try:
        wait(lambda: len(lines(alerts_file)) == 2)  # both fire on the first tick
        rules_file.write_text(above.format(x=50) + above.format(x=60).replace("60\n", "70\n"))
        proc.send_signal(signal.SIGHUP)
        wait(lambda: states().get("above_60") is False)  # changed: reset
        assert states()["above_50"] is True  # unchanged: still firing, no new line
        rules_file.write_text('[[rule]]\nname = "x"\ncondition = "sideways"\n')
        proc.send_signal(signal.SIGHUP)
        fake_api.set_price("bitcoin", 100.0, 5e9, now - 20)  # one more tick, judged
        time.sleep(1.5)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    reloaded = [e for e in events if e["event"] == "rules_reloaded"]
    assert [e["started_afresh"] for e in reloaded] == [["above_60"]]
    refused = [e for e in events if e["event"] == "rules_not_reloaded"]
    assert refused and "'sideways' is not one of" in refused[0]["error"]
    got = [lineformat.parse_line(line) for line in lines(alerts_file)]
    # above_50 fired once and goes on firing (no repeat within the hour); above_60, changed to
    # 70 and reset, opened a new episode on the next tick (the rules in force after the bad
    # reload are the good file's).
    assert [(f["rule"], f["event"]) for f in got] == [
        ("above_50", "ALERT"),
        ("above_60", "ALERT"),
        ("above_60", "ALERT"),
    ], got
    assert got[1]["level"] == "60" and got[2]["level"] == "70"
