"""`docker compose up`, for real: the README's quick start, run as an operator would run it.

A copy of this checkout is set up with the quick start's own commands, as the user running the
tests (as root, the quick start gives ./alerts to the image's user, 10001, so that no container
runs as root; as anyone else, that user is HOST_UID). Then the real docker-compose.yml runs with one
override (tests/compose/docker-compose.test.yml) that adds a scripted CoinGecko on the stack's
network. The images are this machine's: the project's Dockerfile on a locally built Python base,
and a PostgreSQL image with the official image's contract (tests/docker/). Traffic stays on
127.0.0.1 and on the network compose makes for the project.

The tests run in file order against one stack (module fixture); each step needs the previous.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import requests

from cryptomonitor.alerting import lineformat
from tests.support import dockerenv, helpers
from tests.support.paths import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow]

OVERRIDE = "tests/compose/docker-compose.test.yml"
COINS = ("bitcoin", "ethereum", "zcash")
UP = "docker compose up -d --build --wait"


def quick_start() -> tuple[str, list[str]]:
    """The README's quick start: the set-up lines before the first docker command, and the rest."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start (Docker)", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert block, "README: no sh block under 'Quick start (Docker)'"
    lines = [line.split("  #", 1)[0].rstrip() for line in block.group(1).splitlines()]
    first_docker = next(i for i, line in enumerate(lines) if line.startswith("docker "))
    return "\n".join(lines[:first_docker]), lines[first_docker:]


def free_low_ports(n: int) -> list[int]:
    """`n` distinct free ports below the ephemeral range: the test restarts what listens on
    them (a client retrying an ephemeral port can take it itself)."""
    ports: set[int] = set()
    for _ in range(500):
        port = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.add(port)
        if len(ports) == n:
            return sorted(ports)
    raise RuntimeError("no free ports in 20000-32000")


def copy_checkout(dest: pathlib.Path) -> None:
    """The files a fresh clone has (tracked, plus new ones not ignored), and the wheelhouse."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    if (ROOT / ".wheelhouse").is_dir():
        shutil.copytree(ROOT / ".wheelhouse", dest / ".wheelhouse")


@dataclasses.dataclass
class Stack:
    dir: pathlib.Path
    env: dict[str, str]
    alerts_owner: tuple[int, int]  # uid, gid: who the fetcher runs as
    project: str
    timings: dict[str, float] = dataclasses.field(default_factory=dict)

    def compose(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return dockerenv.run(
            "docker",
            "compose",
            *args,
            check=check,
            timeout=timeout,
            env=self.env,
            cwd=str(self.dir),
        )

    def shell(self, script: str) -> None:
        """Run an operator's shell commands in the checkout."""
        subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=self.dir, check=True, timeout=60
        )

    def logs(self, service: str = "") -> str:
        args = ["logs", "--no-color", "--tail", "60"] + ([service] if service else [])
        return self.compose(*args, check=False).stdout[-6000:]

    def dotenv(self) -> dict[str, str]:
        return dict(
            re.findall(
                r"^([A-Z][A-Z0-9_]+)=(.*)$", (self.dir / ".env").read_text(), flags=re.MULTILINE
            )
        )

    def db(self, user: str, password: str) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(
            host="127.0.0.1",
            port=int(self.env["DB_PORT"]),
            user=user,
            password=password,
            dbname=self.dotenv()["POSTGRES_DB"],
            autocommit=True,
            connect_timeout=5,
        )

    def owner(self) -> psycopg.Connection[tuple[Any, ...]]:
        env = self.dotenv()
        return self.db(env["POSTGRES_USER"], env["POSTGRES_PASSWORD"])

    def http(self, port_var: str, path: str, method: str = "GET") -> tuple[int, Any]:
        answer = requests.request(
            method, f"http://127.0.0.1:{self.env[port_var]}{path}", timeout=10
        )
        return answer.status_code, answer.json()

    def container(self, service: str) -> dict[str, Any]:
        ids = self.compose("ps", "-a", "-q", service).stdout.split()
        assert len(ids) == 1, (service, ids)
        inspected: list[dict[str, Any]] = json.loads(
            dockerenv.run("docker", "inspect", ids[0]).stdout
        )
        return inspected[0]

    def stored(self) -> set[tuple[str, int]]:
        with self.owner() as conn:
            rows = conn.execute(
                "SELECT symbol, extract(epoch FROM time)::bigint FROM ticks "
                "WHERE source = 'coingecko'"
            ).fetchall()
        return {(str(s), int(t)) for s, t in rows}

    def served(self) -> set[tuple[str, int]]:
        status, body = self.http("FAKEPRICE_PORT", "/control/served")
        assert status == 200
        return {(str(t["symbol"]), int(t["time"])) for t in body}

    def alert_lines(self) -> list[str]:
        path = self.dir / "alerts" / "alerts.txt"
        return path.read_text().splitlines() if path.exists() else []


def wait_for(what: str, predicate: Callable[[], bool], stack: Stack, timeout: float = 60) -> float:
    """Seconds until `predicate` held; fails with the stack's logs after `timeout`."""
    started = time.monotonic()
    while True:
        try:
            if predicate():
                return time.monotonic() - started
        except (psycopg.OperationalError, requests.RequestException):
            pass
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{stack.logs()}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    reason = dockerenv.unavailable(compose=True)
    if reason:
        pytest.skip(f"compose end-to-end test needs Docker: {reason}")
    owner = (10001, 10001) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    base = pathlib.Path(tempfile.mkdtemp(prefix="cryptomonitor-compose-"))
    checkout = base / "cryptomonitor"
    checkout.mkdir()
    copy_checkout(checkout)
    project = f"cmtest{os.getpid()}"
    db_port, api_port, fake_port = free_low_ports(3)
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CRYPTOMONITOR_", "PG", "CMTEST_", "COMPOSE_"))
        },
        "COMPOSE_PROJECT_NAME": project,
        "COMPOSE_FILE": f"docker-compose.yml:{OVERRIDE}",
        "DB_IMAGE": dockerenv.POSTGRES_IMAGE,
        "PYTHON_IMAGE": dockerenv.PYTHON_IMAGE,
        "DOCKER_BUILDKIT": "0",
        "DB_PORT": str(db_port),
        "API_PORT": str(api_port),
        "FAKEPRICE_PORT": str(fake_port),
    }
    s = Stack(checkout, env, owner, project)
    setup, commands = quick_start()
    assert UP in commands, f"the README's quick start no longer says {UP!r}"
    try:
        s.shell(setup)
        started = time.monotonic()
        s.compose("build", timeout=900)
        s.timings["build"] = time.monotonic() - started
        started = time.monotonic()
        up = s.compose(*UP.split()[2:], check=False)
        s.timings["up --build --wait"] = time.monotonic() - started
        assert up.returncode == 0, f"{up.stderr}\n{s.logs()}"

        def ticking() -> bool:
            with s.owner() as conn:
                row = conn.execute("SELECT count(*) FROM ticks").fetchone()
            return row is not None and row[0] > 0

        s.timings["first tick, from the start of up"] = s.timings["up --build --wait"] + wait_for(
            "the first tick", ticking, s
        )
        yield s
    finally:
        s.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
        shutil.rmtree(base, ignore_errors=True)
        helpers.SUMMARY.append(
            "compose: " + ", ".join(f"{k} {v:.1f} s" for k, v in s.timings.items())
        )


def test_up_starts_every_service_healthy_after_a_successful_migrate(stack: Stack) -> None:
    migrate = stack.container("migrate")
    assert migrate["State"]["Status"] == "exited" and migrate["State"]["ExitCode"] == 0
    for service in ("db", "api", "fakeprice"):
        state = stack.container(service)["State"]
        assert state["Status"] == "running" and state["Health"]["Status"] == "healthy", service
    app = stack.container("app")
    assert app["State"]["Status"] == "running" and app["RestartCount"] == 0, stack.logs("app")


def test_ticks_are_stored_and_a_spike_writes_an_alert_line_owned_by_host_uid(stack: Stack) -> None:
    def enough_history() -> bool:
        with stack.owner() as conn:
            counts = dict(
                conn.execute("SELECT symbol, count(*) FROM ticks GROUP BY symbol").fetchall()
            )
        return all(counts.get(coin, 0) >= 5 for coin in COINS)

    wait_for("5 ticks of each coin", enough_history, stack)
    assert stack.http("FAKEPRICE_PORT", "/control/factor?value=1.5", "POST")[0] == 200
    spiked = time.monotonic()

    def alerted() -> bool:
        return {
            lineformat.parse_line(line)["symbol"]
            for line in stack.alert_lines()
            if " ALERT " in line
        } >= set(COINS)

    wait_for("an ALERT line for each coin", alerted, stack, timeout=30)
    stack.timings["first alert line after the spike"] = time.monotonic() - spiked
    for line in stack.alert_lines():
        fields = lineformat.parse_line(line)  # every line is a whole, parseable line
        assert fields["rule"] in (
            "price_2pct_5m",
            "price_3x_1h",
            "volume_2pct_5m",
            "volume_3x_1h",
        ), line
    info = (stack.dir / "alerts" / "alerts.txt").stat()
    assert (info.st_uid, info.st_gid) == stack.alerts_owner


def test_the_api_answers_on_loopback(stack: Stack) -> None:
    assert stack.http("API_PORT", "/health/live") == (200, {"status": "ok", "version": "0.1.0"})
    status, health = stack.http("API_PORT", "/health")
    assert status == 200 and health["status"] == "ok" and health["newest_tick_age_s"] < 60
    status, metrics = stack.http("API_PORT", "/metrics")
    assert status == 200
    assert {(m["symbol"], m["metric"]) for m in metrics["metrics"]} == {
        (coin, metric) for coin in COINS for metric in ("price", "volume_24h")
    }
    page = requests.get(f"http://127.0.0.1:{stack.env['API_PORT']}/", timeout=10)
    assert page.status_code == 200 and "lightweight-charts" in page.text  # the dashboard
    # The same factor moves every coin: bitcoin, the dearest, has the largest deviation in
    # price units, and every coin the same relative one (the default ranking's figure).
    status, rank = stack.http("API_PORT", "/rank/bitcoin?by=stddev")
    assert status == 200 and (rank["rank"], rank["of"], rank["by"]) == (1, 3, "stddev")
    status, ranking = stack.http("API_PORT", "/rank")
    assert status == 200 and len(ranking["ranking"]) == 3
    cv = [row["cv_pct"] for row in ranking["ranking"]]
    assert max(cv) - min(cv) <= 1e-4 * max(cv), cv


def test_analyst_logs_in_on_loopback_reads_and_may_not_write(stack: Stack) -> None:
    with stack.db("analyst", stack.dotenv()["ANALYST_DB_PASSWORD"]) as conn:
        row = conn.execute("SELECT count(*) FROM ticks").fetchone()
        assert row is not None and row[0] > 0
        assert conn.execute("SELECT count(*) FROM ohlcv_1m").fetchone() is not None
        for statement in (
            "INSERT INTO ticks (time, symbol, price, source) VALUES (now(), 'x', 1, 'analyst')",
            "DELETE FROM ticks",
            "CREATE TABLE mine (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_no_container_runs_as_root(stack: Stack) -> None:
    for service in ("db", "app", "api", "fakeprice"):
        cid = stack.container(service)["Id"]
        top = dockerenv.run("docker", "top", cid, "-eo", "pid,uid,args").stdout
        processes = [line.split(None, 1)[1] for line in top.splitlines()[1:]]
        for process in processes:
            uid, args = process.split(None, 1)
            if args.startswith("pg_isready"):  # the engine's healthcheck, not the service
                continue
            assert uid != "0", (service, process)
    user = stack.container("migrate")["Config"]["User"]
    assert user and user.split(":")[0] not in ("", "0", "root")


def test_database_restart_loses_no_tick_and_the_fetcher_stops_cleanly(stack: Stack) -> None:
    before = len(stack.served())
    restarted = time.monotonic()
    stack.compose("restart", "db", timeout=120)
    stack.timings["db restart"] = time.monotonic() - restarted
    # Polls go on through the restart; wait until a few more were served and stored after it.
    wait_for(
        "ticks after the restart",
        lambda: len(stack.served()) >= before + 3 * len(COINS) and stack.served() <= stack.stored(),
        stack,
        timeout=90,
    )
    stopping = time.monotonic()
    stack.compose("stop", "app", timeout=120)
    took = time.monotonic() - stopping
    state = stack.container("app")["State"]
    assert state["ExitCode"] == 0 and took < 30, (state, took, stack.logs("app"))
    # The clean stop stored what it held: every tick the fake served is stored exactly.
    assert stack.served() == stack.stored()
    with stack.owner() as conn:
        duplicates = conn.execute(
            "SELECT count(*) - count(DISTINCT (symbol, time)) FROM ticks"
        ).fetchone()
    assert duplicates == (0,)
    stack.compose("start", "app")


def test_down_then_up_keeps_the_data_and_writes_no_line_twice(stack: Stack) -> None:
    ticks_before = stack.stored()
    lines_before = stack.alert_lines()
    stack.compose("down", timeout=180)
    assert stack.compose("ps", "-a", "-q").stdout.strip() == ""
    up = stack.compose(*UP.split()[2:], check=False)
    assert up.returncode == 0, f"{up.stderr}\n{stack.logs()}"
    wait_for("new ticks after up", lambda: len(stack.stored()) > len(ticks_before), stack)
    assert ticks_before <= stack.stored()
    lines_after = stack.alert_lines()
    assert lines_after[: len(lines_before)] == lines_before
    ids = [lineformat.parse_line(line)["id"] for line in lines_after]
    assert len(ids) == len(set(ids))


def test_a_migrate_that_cannot_succeed_stops_the_stack_with_its_reason(stack: Stack) -> None:
    # The owner's password changed in .env after the volume was made: the role keeps the old.
    stack.compose("down", timeout=180)
    stack.shell("cp .env .env.good && sed -i 's/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=new/' .env")
    try:
        started = time.monotonic()
        up = stack.compose(*UP.split()[2:], check=False)
        took = time.monotonic() - started
        assert up.returncode != 0 and "migrate" in up.stderr, up.stderr
        migrate = stack.container("migrate")
        assert (migrate["State"]["ExitCode"], migrate["RestartCount"]) == (2, 0)
        log = stack.logs("migrate")
        assert "password authentication failed" in log and "ALTER ROLE" in log, log
        assert stack.container("app")["State"]["Status"] == "created"  # never started
        assert took < 60, took  # not --db-wait long, not a restart loop
    finally:
        stack.shell("mv .env.good .env")


def test_an_unwritable_alerts_directory_stops_the_stack_with_its_reason(stack: Stack) -> None:
    # As when ./alerts did not exist and the engine made it for the bind mount, owned by root.
    stack.compose("down", timeout=180)
    stack.shell("mv alerts alerts.kept && mkdir alerts && chmod 555 alerts")
    try:
        up = stack.compose(*UP.split()[2:], check=False)
        assert up.returncode != 0
        migrate = stack.container("migrate")
        assert (migrate["State"]["ExitCode"], migrate["RestartCount"]) == (2, 0)
        log = stack.logs("migrate")
        assert "cannot append to /app/alerts/alerts.txt" in log and "HOST_UID" in log, log
        assert stack.container("app")["State"]["Status"] == "created"
    finally:
        stack.shell("rmdir alerts && mv alerts.kept alerts")
    up = stack.compose(*UP.split()[2:], check=False)
    assert up.returncode == 0, f"{up.stderr}\n{stack.logs()}"


def test_down_v_removes_containers_network_and_volume(stack: Stack) -> None:
    stack.compose("down", "-v", timeout=180)
    label = f"label=com.docker.compose.project={stack.project}"
    for kind in ("container", "network", "volume"):
        listed = dockerenv.run(
            "docker", kind, "ls", "-q", "--filter", label, *(["-a"] if kind == "container" else [])
        ).stdout.strip()
        assert listed == "", (kind, listed)
