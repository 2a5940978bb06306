"""The REST API against a real database holding a real day of BTC, checked against an
independent computation over the same ticks."""

from __future__ import annotations

import datetime as dt
import math
import pathlib
import statistics
import time
import urllib.parse
from collections.abc import Iterator

import hypothesis
import hypothesis.strategies
import psycopg
import psycopg.conninfo
import psycopg.sql
import pytest
from fastapi.testclient import TestClient

from cryptomonitor.api import application, deps
from cryptomonitor.models import Tick
from cryptomonitor.util import times
from tests.support import helpers, oracle, pgserver
from tests.support.helpers import pipeline
from tests.support.paths import FIXTURES

Ticks = list[tuple[dt.datetime, float, float]]


@pytest.fixture
def data(conn: psycopg.Connection, flavour: str) -> dict[str, Ticks]:
    now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    bars = oracle.read_bars(FIXTURES / "BTCUSDT_1m_2025-05-30_day1.csv")
    shift = now - dt.timedelta(seconds=90) - bars[-1]["time"]  # type: ignore[operator]
    btc = [(t + shift, p, v) for t, p, v in oracle.bar_ticks(bars)]
    sets = {
        "bitcoin": btc,
        "bitcoin2x": [(t, 2 * p, v) for t, p, v in btc],
        "flat": [(t, 7.0, 1.0) for t, _, _ in btc[-50:]],
        "old": [(btc[0][0] - dt.timedelta(days=3), 5.0, 1.0)],
    }
    for symbol, ticks in sets.items():
        oracle.copy_ticks(conn, symbol, ticks)
    oracle.refresh(conn, flavour)
    return sets


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with TestClient(application.create_app(db_url, rank_ttl=None)) as c:
        yield c


def _since(body: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(body["from"])


def test_metrics_lists_every_symbol_with_latest_time(client: TestClient, data: dict) -> None:
    r = client.get("/metrics")
    assert r.status_code == 200
    got = {(m["symbol"], m["metric"]): m["latest_time"] for m in r.json()["metrics"]}
    assert set(got) == {(s, m) for s in data for m in ("price", "volume_24h")}
    assert dt.datetime.fromisoformat(got[("bitcoin", "price")]) == data["bitcoin"][-1][0]


def test_symbol_last_24h_and_summary(client: TestClient, data: dict) -> None:
    r = client.get("/metrics/bitcoin")
    assert r.status_code == 200
    body = r.json()
    window = [x for x in data["bitcoin"] if x[0] >= _since(body)]
    prices = [p for _, p, _ in window]
    s = body["summary"]
    assert s["samples"] == len(window) == len(body["points"])
    assert (s["min"], s["max"]) == (min(prices), max(prices))
    assert math.isclose(s["avg"], statistics.fmean(prices), rel_tol=1e-12)
    assert math.isclose(s["stddev"], statistics.stdev(prices), rel_tol=1e-9)
    assert s["latest"]["price"] == data["bitcoin"][-1][1]
    assert [p["price"] for p in body["points"]] == prices
    assert dt.datetime.fromisoformat(body["points"][0]["time"]) == window[0][0]


@pytest.mark.parametrize(("interval", "width"), [("1m", 60), ("1h", 3600)])
def test_symbol_candles(client: TestClient, data: dict, interval: str, width: int) -> None:
    body = client.get("/metrics/bitcoin", params={"interval": interval}).json()
    candles = body["candles"]
    last = candles[-1]
    assert last["close"] == data["bitcoin"][-1][1]
    start = dt.datetime.fromisoformat(last["bucket"])
    inside = [p for t, p, _ in data["bitcoin"] if start <= t < start + dt.timedelta(seconds=width)]
    assert (last["high"], last["low"], last["ticks"]) == (max(inside), min(inside), len(inside))


def test_rank_matches_summary_and_order(client: TestClient, data: dict) -> None:
    by_stddev = {
        s: client.get(f"/rank/{s}?by=stddev").json() for s in ("bitcoin", "bitcoin2x", "flat")
    }
    assert [by_stddev[s]["rank"] for s in ("bitcoin2x", "bitcoin", "flat")] == [1, 2, 3]
    assert {r["of"] for r in by_stddev.values()} == {3} and {
        r["by"] for r in by_stddev.values()
    } == {"stddev"}
    summary = client.get("/metrics/bitcoin").json()["summary"]
    assert math.isclose(by_stddev["bitcoin"]["stddev"], summary["stddev"], rel_tol=1e-9)
    assert by_stddev["bitcoin"]["samples"] == summary["samples"]
    assert math.isclose(by_stddev["bitcoin2x"]["stddev"], 2 * summary["stddev"], rel_tol=1e-9)
    # Relative, the default: twice the price is not twice as volatile.
    by_cv = {s: client.get(f"/rank/{s}").json() for s in ("bitcoin", "bitcoin2x", "flat")}
    assert [by_cv[s]["rank"] for s in ("bitcoin", "bitcoin2x", "flat")] == [1, 1, 3]
    assert {r["by"] for r in by_cv.values()} == {"cv"}
    assert {k: v for k, v in by_cv["bitcoin"].items() if k not in ("rank", "by")} == {
        k: v for k, v in by_stddev["bitcoin"].items() if k not in ("rank", "by")
    }


def _last_at_or_before(ticks: Ticks, when: dt.datetime) -> float | None:
    """The last price in the hour up to `when` (older is not "24 hours ago")."""
    before = [p for t, p, _ in ticks if when - dt.timedelta(hours=1) < t <= when]
    return before[-1] if before else None


def test_the_relative_ranking_against_the_raw_ticks(client: TestClient, data: dict) -> None:
    """cv_pct, mean, last_price and change_24h_pct against statistics over the same ticks."""
    asked = dt.datetime.now(dt.UTC)
    body = client.get("/rank").json()
    answered = dt.datetime.now(dt.UTC)
    assert body["by"] == "cv"
    ranking = {r["symbol"]: r for r in body["ranking"]}
    start = dt.datetime.fromisoformat(client.get("/metrics/bitcoin").json()["from"])
    for symbol in ("bitcoin", "bitcoin2x", "flat"):
        prices = [p for t, p, _ in data[symbol] if t >= start]
        row = ranking[symbol]
        assert row["samples"] == len(prices) and row["stddev_kind"] == "sample (n - 1)"
        assert math.isclose(row["mean"], statistics.fmean(prices), rel_tol=1e-12)
        cv = statistics.stdev(prices) / statistics.fmean(prices) * 100
        assert math.isclose(row["cv_pct"], cv, rel_tol=1e-9, abs_tol=1e-12)
        assert row["last_price"] == data[symbol][-1][1]
        day_ago = {
            _last_at_or_before(data[symbol], t - dt.timedelta(hours=24)) for t in (asked, answered)
        }
        changes = {None if p is None else (prices[-1] - p) / p * 100 for p in day_ago}
        if None in changes:
            assert row["change_24h_pct"] is None
        else:
            assert any(math.isclose(row["change_24h_pct"], c, rel_tol=1e-12) for c in changes)
    assert ranking["bitcoin"]["change_24h_pct"] is not None  # its day starts before the window
    assert ranking["flat"]["change_24h_pct"] is None  # 50 ticks: nothing 24 hours ago
    assert [r["symbol"] for r in body["ranking"]] == ["bitcoin", "bitcoin2x", "flat"]
    assert [r["symbol"] for r in client.get("/rank?by=stddev").json()["ranking"]] == [
        "bitcoin2x",
        "bitcoin",
        "flat",
    ]
    assert client.get("/rank?by=price").status_code == 422


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/metrics/nope", "unknown symbol 'nope'"),
        ("/rank/nope", "unknown symbol 'nope'"),
        ("/rank/old", "no ticks in the last 24 hours"),
    ],
)
def test_not_found_is_json(client: TestClient, data: dict, path: str, message: str) -> None:
    r = client.get(path)
    assert r.status_code == 404 and message in r.json()["detail"]


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/metrics/bitcoin?interval=5m", "interval"),
        ("/alerts?since=yesterday", "since"),
        ("/alerts?since=0.5", "since"),  # numbers are not date-times
        ("/alerts?from=-99999999999", "from"),
        ("/alerts?limit=0", "limit"),
        ("/alerts?limit=10001", "limit"),
        ("/metrics/bitcoin?from=2020-01-01T00:00Z&interval=2h", "interval"),
        ("/metrics/bitcoin?from=2020-01-01T00:00Z%20x", "from"),
        ("/gaps?to=2020-13-01T00:00Z&from=2020-01-01T00:00Z", "to"),
        ("/metrics/bitcoin?limit=100001", "limit"),
        ("/metrics/%00", "symbol"),
        ("/rank/btc%00", "symbol"),
        ("/alerts?symbol=%00", "symbol"),
        ("/metrics/" + "x" * 10_000, "symbol"),
    ],
)
def test_bad_parameters_are_named(client: TestClient, data: dict, path: str, param: str) -> None:
    r = client.get(path)
    assert r.status_code == 422, r.text
    assert [d["loc"][-1] for d in r.json()["detail"]] == [param]
    assert len(r.text) < 1000  # the input is not echoed back whole


@pytest.mark.parametrize(
    "path",
    [
        # The fuzzer's: schema-valid, refused as "out of range (2009 to 9999)".
        "/alerts?from=2000-01-01T00:00:00Z",
        "/gaps?from=2000-01-01T00:00:00Z",
        "/metrics/bitcoin?from=2000-01-01T00:00:00Z",
        "/metrics/bitcoin?from=0001-01-01T00:00:00%2B01:00&interval=1d",
        "/gaps?to=0001-01-01T00:00:00Z",
        "/metrics/bitcoin?from=9999-12-31T23:59:59.999999Z&interval=1h",
        "/alerts?to=9999-12-31T23:30:00-01:00",
        # The fuzzer's non-printable symbol: no control character, so the schema allows it.
        "/rank/%C2%A0%E2%80%A8",
        "/metrics/%E2%80%8B",
    ],
)
def test_a_schema_valid_request_is_never_refused(client: TestClient, data: dict, path: str) -> None:
    r = client.get(path)
    assert r.status_code in (200, 404), r.text
    if r.status_code == 404:
        assert r.json()["detail"].startswith("unknown symbol")


@pytest.mark.parametrize("path", ["/metrics/bitcoin", "/gaps"])
def test_any_two_times_make_a_period(client: TestClient, data: dict, path: str) -> None:
    """31 days at most: a longer period is cut to its first 31 days, and says so; one whose
    `to` is not after its `from` is empty. `from` alone runs to now."""
    cut = client.get(path, params={"from": "2020-01-01T00:00Z"}).json()
    assert (cut["from"], cut["to"], cut["truncated"]) == (
        "2020-01-01T00:00:00Z",
        "2020-02-01T00:00:00Z",
        True,
    )
    both = client.get(path, params={"from": "2020-01-01T00:00Z", "to": "2025-01-01T00:00Z"})
    assert (both.json()["to"], both.json()["truncated"]) == ("2020-02-01T00:00:00Z", True)
    recent = data["bitcoin"][-10][0]
    alone = client.get(path, params={"from": recent.isoformat()}).json()
    end = dt.datetime.fromisoformat(alone["to"])
    assert dt.timedelta(0) < end - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=1)
    assert alone["truncated"] is False
    start = data["bitcoin"][-100][0].replace(minute=40, second=0, microsecond=0)
    for end in (start, start - dt.timedelta(minutes=20)):  # [t, t) and a reversed one: empty
        empty = client.get(
            path, params={"from": start.isoformat(), "to": end.isoformat(), "interval": "1h"}
        )
        assert empty.status_code == 200 and empty.json()["to"] == empty.json()["from"]
        body = empty.json()
        assert body.get("candles", []) == [] and body.get("summary", {"samples": 0})["samples"] == 0
        assert body.get("gaps", []) == []
    future = client.get(path, params={"from": "2999-01-01T00:00:00Z"}).json()
    assert future["to"] == "2999-01-01T00:00:00Z"


def test_candles_not_whole_in_the_period_are_partial(
    client: TestClient, data: dict, conn: psycopg.Connection, flavour: str
) -> None:
    """The default 24 hours start inside an hour and a day: those first candles hold ticks
    from before `from`; the current hour and day are still open."""
    # The fixture's newest tick is 90 s old: run just after an hour began, it lies in the
    # hour before, which is whole by now. A tick of this instant keeps the current hour in.
    newest = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    oracle.copy_ticks(conn, "bitcoin", [(newest, data["bitcoin"][-1][1], 1.0)])
    oracle.refresh(conn, flavour)
    now = dt.datetime.now(dt.UTC)
    for interval, width in (("1h", dt.timedelta(hours=1)), ("1d", dt.timedelta(days=1))):
        body = client.get("/metrics/bitcoin", params={"interval": interval}).json()
        start = dt.datetime.fromisoformat(body["from"])
        candles = body["candles"]
        for c in candles:
            bucket = dt.datetime.fromisoformat(c["bucket"])
            whole = start <= bucket and bucket + width <= now
            assert c["partial"] is not whole, (interval, c)
        assert candles[0]["partial"] and candles[-1]["partial"]
    hours = client.get("/metrics/bitcoin", params={"interval": "1h"}).json()["candles"]
    assert sum(not c["partial"] for c in hours) >= 22
    first = data["bitcoin"][0][0].replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=2)
    period = {
        "interval": "1h",
        "from": (first + dt.timedelta(minutes=30)).isoformat(),
        "to": (first + dt.timedelta(hours=3)).isoformat(),
    }
    cut = client.get("/metrics/bitcoin", params=period).json()["candles"]
    assert [c["partial"] for c in cut] == [True, False, False]  # from is at :30
    minutes = client.get("/metrics/bitcoin", params={"interval": "1m"}).json()["candles"]
    assert not any(c["partial"] for c in minutes[:-1])  # the window starts on a minute


def test_unknown_symbol_is_404_everywhere(client: TestClient, data: dict) -> None:
    for path in ("/metrics/nosuch", "/rank/nosuch", "/alerts?symbol=nosuch"):
        r = client.get(path)
        assert r.status_code == 404 and "unknown symbol 'nosuch'" in r.json()["detail"], path


def test_a_period_of_ones_choosing(client: TestClient, data: dict) -> None:
    ticks = data["bitcoin"]
    start, end = ticks[100][0], ticks[200][0]
    body = client.get(
        "/metrics/bitcoin", params={"from": start.isoformat(), "to": end.isoformat()}
    ).json()
    assert [p["price"] for p in body["points"]] == [p for _, p, _ in ticks[100:200]]
    assert body["summary"]["samples"] == 100 and body["truncated"] is False
    assert (body["from"], body["to"]) == (
        times.format_time(start),
        times.format_time(end),
    )
    cut = client.get(
        "/metrics/bitcoin", params={"from": start.isoformat(), "to": end.isoformat(), "limit": 10}
    ).json()
    assert len(cut["points"]) == 10 and cut["truncated"] is True
    assert cut["summary"]["samples"] == 100  # the summary covers the whole period
    naive = client.get(
        "/metrics/bitcoin",
        params={"from": start.replace(tzinfo=None).isoformat(), "to": end.isoformat()},
    ).json()
    assert naive["points"] == body["points"]  # a time without a zone is UTC
    candles = client.get(
        "/metrics/bitcoin",
        params={"interval": "1h", "from": "2010-01-01T00:00:00Z", "to": "2010-01-02T00:00:00Z"},
    ).json()
    assert candles["candles"] == [] and candles["summary"]["samples"] == 0


def test_openapi_describes_every_body(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, item in spec["paths"].items():
        answers = item["get"]["responses"]
        assert answers["200"]["content"]["application/json"]["schema"], path
        if path not in ("/health/live", "/metrics", "/health", "/rank", "/rules"):
            assert {"404", "422", "503"} <= set(answers), path
    assert spec["components"]["schemas"]["SymbolDetail"]["properties"]["from"]
    params = {p["name"]: p for p in spec["paths"]["/alerts"]["get"]["parameters"]}
    assert params["from"]["schema"]["format"] == "date-time"
    assert params["limit"]["schema"]["maximum"] == 10_000


def test_docs_are_served_from_the_package(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "/static/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from a CDN
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        assert client.get(f"/static/swagger-ui/{asset}").status_code == 200


def test_a_pooled_connection_the_server_dropped_is_replaced_unseen(
    db_url: str, conn: psycopg.Connection, data: dict
) -> None:
    """As after a quick database restart: every idle pooled connection is dead."""
    with TestClient(application.create_app(db_url, rank_ttl=None)) as c:
        assert c.get("/metrics").status_code == 200
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name LIKE 'cryptomonitor-api%'"
        ).fetchone()
        assert killed is not None and killed[0] >= 1
        assert c.get("/metrics").status_code == 200
        assert c.get("/health").status_code == 200


def test_health_answers_while_every_api_connection_is_busy(db_url: str, data: dict) -> None:
    app = application.create_app(db_url, pool_size=1, pool_timeout=2)
    with TestClient(app) as c:
        service: deps.Service = app.state.service
        with service.pool.connection():  # the one connection of the main pool, held
            r = c.get("/health")
        assert r.status_code == 200 and r.json()["status"] == "ok"


def test_alerts_endpoint(db_url: str, client: TestClient, tmp_path: pathlib.Path) -> None:
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    p = pipeline(db_url, tmp_path / "a.txt")
    for symbol in ("spiky", "other"):
        p.submit(
            Tick(start + dt.timedelta(minutes=m), symbol, 400.0 if m == 20 else 100.0, 1.0, "test")
            for m in range(30)
        )
    p.flush()
    got = client.get("/alerts", params={"symbol": "spiky"}).json()["alerts"]
    assert {(a["event"], a["rule"]) for a in got} == {
        ("ALERT", "price_3x_1h"),
        ("ALERT", "price_2pct_5m"),
        ("RESOLVED", "price_3x_1h"),
        ("RESOLVED", "price_2pct_5m"),
    }
    assert got == sorted(got, key=lambda a: a["time"], reverse=True)
    assert len(client.get("/alerts").json()["alerts"]) == 8
    later = (start + dt.timedelta(minutes=25)).isoformat()
    assert {
        a["event"] for a in client.get("/alerts", params={"since": later}).json()["alerts"]
    } == {"RESOLVED"}


def test_health(db_url: str, data: dict) -> None:
    with TestClient(application.create_app(db_url, stale_after=600)) as c:
        r = c.get("/health")
        assert r.status_code == 200 and r.json()["status"] == "ok"
        assert 30 < r.json()["newest_tick_age_s"] < 600  # the last tick is ~45 s old
    with TestClient(application.create_app(db_url, stale_after=10)) as c:
        r = c.get("/health")
        assert r.status_code == 503 and r.json()["status"] == "stale"


def test_health_without_database() -> None:
    app = application.create_app("postgresql://x@127.0.0.1:1/x?connect_timeout=1", pool_timeout=1)
    with TestClient(app) as c:
        r = c.get("/health")
        assert r.status_code == 503 and r.json()["database"] == "unreachable"
        assert "connection" not in r.text and "127.0.0.1" not in r.text  # no driver text
        assert c.get("/metrics").status_code == 503
        # Liveness (the compose healthcheck) says the API serves, whatever the database does.
        live = c.get("/health/live")
        assert live.status_code == 200 and live.json()["status"] == "ok"


def test_openapi_is_served(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/metrics", "/metrics/{symbol}", "/rank/{symbol}", "/alerts", "/health"} <= set(paths)


def test_ranking_is_shared_for_its_ttl(db_url: str, conn: psycopg.Connection, data: dict) -> None:
    with TestClient(application.create_app(db_url, rank_ttl=3600)) as c:
        before = c.get("/rank/flat").json()
        # The fixture refreshed the aggregates up to now (unlike the policies, which leave the
        # last minute to real-time aggregation): two minutes ahead is past that watermark.
        later = conn.execute("SELECT now() + interval '2 minutes'").fetchone()[0]  # type: ignore[index]
        oracle.copy_ticks(conn, "flat", [(later, 1000.0, 1.0)])
        assert c.get("/rank/flat").json() == before  # served from the shared ranking
    with TestClient(application.create_app(db_url, rank_ttl=None)) as c:
        after = c.get("/rank/flat").json()  # recomputed: the new tick counts
        assert after["samples"] == before["samples"] + 1 and after["stddev"] > before["stddev"]


@pytest.mark.slow
def test_an_outage_is_503_and_its_end_is_seen_at_once(
    db_url: str, pg_server: pgserver.Server, data: dict
) -> None:
    """The database refuses connections for longer than psycopg_pool's doubling delay takes to
    pass 4 s (attempts at 0, 1, 3, 7 s, then 15 s), then takes them again: the API answers
    503 meanwhile, and 200 within a few seconds of the database's return, not at the pool's
    next attempt."""
    name = str(psycopg.conninfo.conninfo_to_dict(db_url)["dbname"])
    database = psycopg.sql.Identifier(name)
    allow = psycopg.sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}")
    app = application.create_app(db_url, pool_timeout=1, rank_ttl=None)
    with psycopg.connect(pg_server.url, autocommit=True) as admin, TestClient(app) as c:
        assert c.get("/metrics").status_code == 200 and c.get("/health").status_code == 200
        admin.execute(allow.format(database, psycopg.sql.SQL("false")))
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name LIKE 'cryptomonitor-api%%'",
                [name],
            )
            down = time.monotonic()
            while time.monotonic() - down < 8:
                assert c.get("/metrics").status_code == 503
                health = c.get("/health")
                assert health.status_code == 503 and health.json()["database"] == "unreachable"
        finally:
            admin.execute(allow.format(database, psycopg.sql.SQL("true")))
        back = time.monotonic()
        while c.get("/metrics").status_code != 200 or c.get("/health").status_code != 200:
            assert time.monotonic() - back < 4, "the API stayed down after the database's return"
        helpers.SUMMARY.append(
            f"api outage: back {time.monotonic() - back:.1f} s after the database"
        )


@hypothesis.settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(
    symbol=hypothesis.strategies.text(min_size=1, max_size=300),
    when=hypothesis.strategies.text(max_size=50),
    other=hypothesis.strategies.text(max_size=5000),
)
def test_no_input_is_a_server_error(client: TestClient, symbol: str, when: str, other: str) -> None:
    # Dots quoted too: a client resolves a "." or ".." segment before sending (to "/").
    quoted = urllib.parse.quote(symbol, safe="").replace(".", "%2E")
    for path, params in (
        (f"/metrics/{quoted}", {"from": when, "interval": other}),
        (f"/rank/{quoted}", {}),
        ("/alerts", {"symbol": symbol, "to": when, "limit": other}),
    ):
        r = client.get(path, params=params)
        assert r.status_code in (200, 404, 422), (path, params, r.text)
        assert len(r.text) < 2000  # nothing echoed whole


def test_the_whole_ranking_and_daily_candles(client: TestClient, data: dict) -> None:
    ranking = client.get("/rank", params={"by": "stddev"}).json()["ranking"]
    assert [r["symbol"] for r in ranking] == ["bitcoin2x", "bitcoin", "flat"]
    assert ranking[1] == client.get("/rank/bitcoin?by=stddev").json()
    assert client.get("/rank").json()["ranking"][0] == client.get("/rank/bitcoin").json()
    days = client.get("/metrics/bitcoin", params={"interval": "1d"}).json()["candles"]
    prices = [p for _, p, _ in data["bitcoin"]]
    assert sum(c["ticks"] for c in days) >= len(prices) - 1  # the 24 h touch two days at most
    assert days[-1]["close"] == prices[-1] and max(c["high"] for c in days) == max(prices)


def test_the_dashboard_is_served_with_its_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<title>CryptoMonitor</title>" in page.text
    for asset in (
        "/static/dashboard/dashboard.js",
        "/static/dashboard/format.js",
        "/static/dashboard/candles.js",
        "/static/dashboard/dashboard.css",
        "/static/lightweight-charts/lightweight-charts.standalone.production.js",
    ):
        assert asset in page.text and client.get(asset).status_code == 200
    assert "http" not in page.text.replace('href="/docs"', "")  # nothing from elsewhere


def test_gaps_lists_each_hole_longer_than_asked(db_url: str, client: TestClient) -> None:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    minutes = [m for m in range(-120, 0) if not -90 <= m < -60 and not -30 <= m < -25]
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO ticks (time, symbol, price, source)"
            " SELECT %s + m * interval '1 minute', 'holey', 1.0, 'test'"
            " FROM unnest(%s::int[]) AS m",
            (now, minutes),
        )
    body = client.get("/gaps", params={"symbol": "holey", "min_seconds": 240}).json()
    assert [(g["start"], g["end"], g["seconds"]) for g in body["gaps"]] == [
        (
            times.format_time(now + dt.timedelta(minutes=a)),
            times.format_time(now + dt.timedelta(minutes=b)),
            (b - a) * 60.0,
        )
        for a, b in ((-91, -60), (-31, -25))
    ]
    assert body["count"] == 2 and body["seconds"] == (31 + 6) * 60.0 and not body["truncated"]
    assert client.get("/gaps", params={"symbol": "holey", "min_seconds": 400}).json()["count"] == 1
    assert client.get("/gaps", params={"symbol": "holey", "limit": 1}).json()["truncated"]
    assert client.get("/gaps", params={"symbol": "nope"}).status_code == 404
    assert client.get("/gaps", params={"min_seconds": 0}).status_code == 422


def test_prometheus_metrics_of_the_api(client: TestClient, data: dict) -> None:
    client.get("/metrics")
    client.get("/metrics/nope")
    client.request("BREW", "/metrics")
    text = client.get("/prometheus").text
    assert (
        'cryptomonitor_http_request_duration_seconds_count{method="GET",route="/metrics",'
        'status="200"}' in text
    )
    assert 'route="/metrics/{symbol}",status="404"' in text  # the template, not the symbol
    assert 'method="other"' in text and "BREW" not in text
    assert "cryptomonitor_leader" not in text  # the fetcher's series are not the API's


def test_rules_lists_the_rules_in_force_with_their_sentences(
    db_url: str, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        '[[rule]]\nname = "btc_100k"\ncondition = "above"\nsymbols = ["bitcoin"]\n'
        'threshold = 100000\nseverity = "critical"\nonce = true\n\n[[rule]]\nname = "off"\n'
        'condition = "below"\nthreshold = 1\nenabled = false\n\n[[rule]]\nname = "x"\n'
        'condition = "cross"\nfast = "ema:9"\nslow = "ema:21"\ninterval = "15m"\n'
        'direction = "up"\n'
    )
    with TestClient(application.create_app(db_url, rules_file=path)) as c:
        body = c.get("/rules").json()
    assert body["origin"] == str(path)
    rule, cross = body["rules"]  # the disabled one is not in force
    assert (cross["interval_seconds"], cross["fast"], cross["slow"]) == (900, "ema:9", "ema:21")
    assert cross["metric"] == "EMA(9,15m)" and rule["interval_seconds"] is None
    assert rule["sentence"].startswith("ALERT when bitcoin's price rises above 100,000;")
    assert (rule["severity"], rule["once"], rule["symbols"]) == ("critical", True, ["bitcoin"])
    with TestClient(application.create_app(db_url)) as c:
        names = [r["name"] for r in c.get("/rules").json()["rules"]]
    assert names == ["price_3x_1h", "volume_3x_1h", "price_2pct_5m", "volume_2pct_5m"]
