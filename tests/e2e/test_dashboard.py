"""The dashboard at `/` in a real browser: Debian's chromium, headless, driven by Selenium
through chromium-driver, over the demo data. Nothing but 127.0.0.1 is loaded.

The figures the page makes itself (5m, 15m and 4h candles, volume sums) are checked against an
aggregation written here of the API's own 1m and 1h candles."""

from __future__ import annotations

import datetime as dt
import math
import os
import pathlib
import shutil
import statistics
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import requests

from cryptomonitor.alerting import episodes, lineformat
from tests.support import helpers, pgserver
from tests.support.procs import Proc, cli

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--lang=en-US",  # the page groups digits in the reader's locale: 104,500.5 here
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(
            "the browser test needs Debian's chromium and chromium-driver "
            "(scripts/test installs them as root)"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--window-size=1400,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def site_db(pg_server: pgserver.Server) -> Iterator[str]:
    with pgserver.database(pg_server) as url:
        yield url


#: Rules of several conditions that raise alerts on every day of the demo's three-day cycle on
#: demo-eth (at least 4 episodes in any 24 hours; the defaults raise none on some days).
RULES = """
[[rule]]
name = "price_dev_5m"
condition = "deviation_above"
window = "5m"
threshold = 0.004
recover = 0.003
min_samples = 3

[[rule]]
name = "move_15m"
condition = "move"
lookback = "15m"
threshold = 0.01

[[rule]]
name = "zscore_1h"
condition = "zscore"
window = "1h"
threshold = 4
recover = 2
min_samples = 30

[[rule]]
name = "volume_2pct_5m"
metric = "volume_24h"
condition = "deviation_above"
window = "5m"
threshold = 0.02
min_samples = 3

[[rule]]
name = "surge_5m"
condition = "surge"
window = "5m"
baseline = "1h"
threshold = 3
recover = 2
min_samples = 30

[[rule]]
name = "moving_on_volume"
condition = "all"
of = ["move_15m", "surge_5m"]
"""


@pytest.fixture(scope="module")
def site(site_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo (three real days ending now) with `RULES` in `site_db`, and `cryptomonitor
    api` on it."""
    url = site_db
    alerts_file = tmp_path_factory.mktemp("dash") / "alerts.txt"
    rules_file = alerts_file.with_name("rules.toml")
    rules_file.write_text(RULES)
    env = {"DATABASE_URL": url, "CRYPTOMONITOR_RULES_FILE": str(rules_file)}
    demo = cli("demo", CRYPTOMONITOR_ALERTS_FILE=str(alerts_file), **env)
    assert demo.returncode == 0, demo.stderr
    port = pgserver.free_port()
    api = Proc(
        "api",
        "--api-host",
        "127.0.0.1",
        "--api-port",
        str(port),
        CRYPTOMONITOR_API_RANK_TTL="off",
        **env,
    )
    try:
        api.wait_for(lambda: bool(api.named("api_serving")))
        yield f"http://127.0.0.1:{port}"
    finally:
        api.stop()


def wait(driver: Any, condition: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {condition}")
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(
        f"timed out waiting for {condition}; "
        f"page error: {driver.find_element('id', 'error').text!r}"
    )


def renders(driver: Any) -> int:
    return int(driver.execute_script("return Number(document.body.dataset.renders || 0)"))


def chart(driver: Any) -> list[dict[str, float]]:
    return list(driver.execute_script("return window.cryptomonitor.series.data()"))


def api_candles(site: str, symbol: str, interval: str, days: float) -> list[dict[str, Any]]:
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat()
    answer = requests.get(
        f"{site}/metrics/{symbol}", params={"interval": interval, "from": start}, timeout=10
    )
    candles: list[dict[str, Any]] = answer.json()["candles"]
    return candles


def epoch(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp())


def candles_from(site: str, symbol: str, interval: str, start: str) -> list[dict[str, Any]]:
    answer = requests.get(
        f"{site}/metrics/{symbol}", params={"interval": interval, "from": start}, timeout=10
    )
    candles: list[dict[str, Any]] = answer.json()["candles"]
    return candles


def aggregated(candles: list[dict[str, Any]], seconds: int) -> list[dict[str, Any]]:
    """The oracle: candles of `seconds` (UTC-aligned) from the API's shorter ones."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for c in candles:
        groups.setdefault(epoch(c["bucket"]) // seconds * seconds, []).append(c)
    out = []
    for bucket, group in sorted(groups.items()):
        volumes = [c["volume"] for c in group if c["volume"] is not None]
        total = None
        for v in volumes:  # in time order, as the page adds them
            total = v if total is None else total + v
        out.append(
            {
                "time": bucket,
                "open": group[0]["open"],
                "high": max(c["high"] for c in group),
                "low": min(c["low"] for c in group),
                "close": group[-1]["close"],
                "volume": total,
            }
        )
    return out


def requests_made(driver: Any, path: str) -> list[dict[str, list[str]]]:
    """The query of each request the page made to `path`, oldest first."""
    urls = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    parts = [urllib.parse.urlsplit(u) for u in urls]
    return [urllib.parse.parse_qs(p.query) for p in parts if p.path == path]


def open_page(driver: Any, url: str) -> None:
    """A fresh load of `url` (from a blank page: not a jump within the last one), drawn."""
    driver.get("about:blank")
    driver.get(url)
    wait(driver, "document.body.dataset.state === 'ready'")


def severe(driver: Any) -> list[Any]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_the_page_draws_candles_markers_rank_and_alerts(
    browser: Any, site: str, tmp_path: pathlib.Path
) -> None:
    browser.get(f"{site}/#demo-eth/1m")
    wait(browser, "document.body.dataset.state === 'ready'")
    ready_ms = browser.execute_script("return window.cryptomonitor.state.readyAt")
    helpers.SUMMARY.append(
        f"dashboard: ready {ready_ms:.0f} ms after navigation (demo data, 1,440 one-minute candles)"
    )
    drawn = chart(browser)
    expected = api_candles(site, "demo-eth", "1m", 1)
    assert abs(len(drawn) - len(expected)) <= 1 and len(drawn) >= 1400
    last = expected[-1]
    assert drawn[-1] == {
        "time": epoch(last["bucket"]),
        "open": last["open"],
        "high": last["high"],
        "low": last["low"],
        "close": last["close"],
    }
    # Every alert of the period is a marker on the candle of its minute.
    start = drawn[0]["time"]
    alerts = requests.get(f"{site}/alerts", params={"symbol": "demo-eth"}, timeout=10).json()
    wanted = {epoch(a["time"]) // 60 * 60 for a in alerts["alerts"] if epoch(a["time"]) >= start}
    markers = browser.execute_script("return window.cryptomonitor.markers()")
    assert wanted and wanted <= {m["time"] for m in markers}
    assert {m["shape"] for m in markers} >= {"circle"}  # resolved ones look different
    # The volume pane holds the API's traded volume of each candle.
    volumes = browser.execute_script("return window.cryptomonitor.volume()")
    traded = {epoch(c["bucket"]): c["volume"] for c in expected if c["volume"] is not None}
    # The page and this test each asked for the last day: a minute may have turned in between.
    common = range(max(drawn[0]["time"], min(traded)), min(drawn[-1]["time"], max(traded)) + 1)
    assert {v["time"]: v["value"] for v in volumes if v["time"] in common} == {
        t: v for t, v in traded.items() if t in common
    }
    assert len(traded) >= 1400  # the demo's candles carry traded volume
    candle = {c["time"]: c for c in drawn}
    rising = {
        v["color"] for v in volumes if candle[v["time"]]["close"] >= candle[v["time"]]["open"]
    }
    falling = {
        v["color"] for v in volumes if candle[v["time"]]["close"] < candle[v["time"]]["open"]
    }
    assert len(rising) == len(falling) == 1 and rising != falling
    assert not browser.find_element("id", "volume-note").is_displayed()
    # The ranking, in the API's order.
    ranking = requests.get(f"{site}/rank", timeout=10).json()["ranking"]
    # Read in one script: the page's refresh replaces the rows every 5 s.
    shown = browser.execute_script(
        "return [...document.querySelectorAll('#rank tbody tr')].map(r => r.dataset.symbol)"
    )
    assert shown == [r["symbol"] for r in ranking]
    assert browser.execute_script("return document.querySelectorAll('#alerts li').length") == min(
        20, len(requests.get(f"{site}/alerts", timeout=10).json()["alerts"])
    )
    health = browser.find_element("id", "health").text
    assert health.startswith("ok · newest tick")
    # Rising candles hollow, falling ones filled: not told apart by colour alone.
    options = browser.execute_script("return window.cryptomonitor.series.options()")
    assert options["upColor"] == "rgba(0,0,0,0)" and options["downColor"] != options["upColor"]
    browser.save_screenshot(str(tmp_path / "dashboard.png"))
    if os.environ.get("CMTEST_SCREENSHOT_DIR"):
        browser.save_screenshot(os.path.join(os.environ["CMTEST_SCREENSHOT_DIR"], "dashboard.png"))
    # Nothing from another host: every resource the page loaded is the API's.
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert loaded and all(u.startswith(f"{site}/") for u in loaded), loaded
    assert severe(browser) == []


def test_a_long_candle_holds_one_marker_per_kind_that_counts_its_alerts(
    browser: Any, site: str
) -> None:
    open_page(browser, f"{site}/#demo-doge/4h/7d")
    start = browser.execute_script("return window.cryptomonitor.state.from")
    alerts = requests.get(
        f"{site}/alerts", params={"symbol": "demo-doge", "from": start, "limit": 1000}, timeout=10
    ).json()["alerts"]
    # The oracle: the alerts of each 4-hour candle, by kind.
    kinds: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for a in alerts:
        if a["condition"] == "all":
            against = 0.0  # a combination's marker points up
        else:
            against = a["figures"]["reference"] if a["condition"] == "move" else a["window_avg"]
        kind = "resolved" if a["event"] == "RESOLVED" else "up" if a["value"] >= against else "down"
        kinds.setdefault((epoch(a["time"]) // 14400 * 14400, kind), []).append(a)
    assert any(len(group) > 1 for group in kinds.values())  # some candles hold several
    shape = {"resolved": "circle", "up": "arrowUp", "down": "arrowDown"}
    markers = browser.execute_script("return window.cryptomonitor.markers()")
    assert len(markers) == len(kinds)
    for m in markers:
        kind = next(k for k, s in shape.items() if s == m["shape"])
        group = sorted(kinds[(m["time"], kind)], key=lambda a: a["time"])
        more = f" (+{len(group) - 1})" if len(group) > 1 else ""
        assert m["text"].endswith(more) and m["id"] == group[0]["alert_id"], (m, group)
        named = {"price": "", "volume_24h": " vol", "volume": " volume", "rules": ""}
        named = named[group[0]["metric"]]
        assert m["text"].removesuffix(more).endswith(named)


def test_switching_symbol_and_interval(browser: Any, site: str) -> None:
    from selenium.webdriver.support.ui import Select

    browser.get(f"{site}/#demo-eth/1m")
    wait(browser, "document.body.dataset.state === 'ready'")
    before = renders(browser)
    Select(browser.find_element("id", "symbol")).select_by_value("demo-doge")
    wait(
        browser,
        f"Number(document.body.dataset.renders) > {before} && "
        "window.cryptomonitor.state.symbol === 'demo-doge'",
    )
    assert chart(browser)[-1]["close"] == api_candles(site, "demo-doge", "1m", 1)[-1]["close"]
    before = renders(browser)
    browser.find_element("css selector", "#intervals button[data-interval='1h']").click()
    wait(
        browser,
        f"Number(document.body.dataset.renders) > {before} && "
        "window.cryptomonitor.state.interval === '1h'",
    )
    hourly = api_candles(site, "demo-doge", "1h", 7)
    assert abs(len(chart(browser)) - len(hourly)) <= 1
    pressed = browser.find_element("css selector", "#intervals button[aria-pressed='true']")
    assert pressed.text == "1h"
    assert browser.current_url.endswith("#demo-doge/1h/7d")
    # A ranking row charts its symbol.
    browser.execute_script("document.querySelector('#rank tbody tr[data-symbol=demo-eth]').click()")
    wait(browser, "window.cryptomonitor.state.symbol === 'demo-eth'")
    assert severe(browser) == []


def test_it_updates_live_without_reloading(browser: Any, site: str, site_db: str) -> None:
    browser.get(f"{site}/#demo-btc/1m")
    wait(browser, "document.body.dataset.state === 'ready'")
    body = requests.get(f"{site}/metrics/demo-btc", timeout=10).json()
    newest = dt.datetime.fromisoformat(body["summary"]["latest"]["time"])
    new_time = max(newest + dt.timedelta(seconds=1), dt.datetime.now(dt.UTC))
    with psycopg.connect(site_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO ticks (time, symbol, price, volume_24h, source) "
            "VALUES (%s, 'demo-btc', 123456.5, NULL, 'test')",
            (new_time,),
        )
    wait(browser, "window.cryptomonitor.series.data().slice(-1)[0].close === 123456.5", timeout=15)
    assert (
        browser.execute_script("return performance.getEntriesByType('navigation').length") == 1
    )  # no reload


def test_phone_width_fits_without_sideways_scrolling(browser: Any, site: str) -> None:
    browser.set_window_size(390, 844)
    try:
        browser.get(f"{site}/#demo-btc/1h")
        wait(browser, "document.body.dataset.state === 'ready'")
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        wide = browser.execute_script(
            "const w = document.documentElement.clientWidth;"
            "return [...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > w + 1)"
            ".map(e => e.tagName + (e.id ? '#' + e.id : '') + ' ' +"
            " Math.round(e.getBoundingClientRect().right)).slice(0, 8)"
        )
        assert overflow <= 1, wide  # the elements past the right edge
        # The ranking's six columns fit too (its box would scroll rather than the page).
        assert (
            browser.execute_script(
                "const box = document.querySelector('.scroll-x');"
                "return box.scrollWidth - box.clientWidth"
            )
            <= 1
        )
        width = browser.execute_script("return document.getElementById('chart').clientWidth")
        assert 300 <= width <= 390
    finally:
        browser.set_window_size(1400, 900)


@pytest.mark.parametrize(("interval", "base", "seconds"), [("15m", "1m", 900), ("4h", "1h", 14400)])
def test_the_page_makes_15m_and_4h_candles_exactly(
    browser: Any, site: str, interval: str, base: str, seconds: int
) -> None:
    open_page(browser, f"{site}/#demo-eth/{interval}")
    start = browser.execute_script("return window.cryptomonitor.state.from")
    assert epoch(start) % seconds == 0  # the period starts on a whole candle
    query = requests_made(browser, "/metrics/demo-eth")[0]
    assert query["interval"] == [base] and query["from"] == [start]
    oracle = aggregated(candles_from(site, "demo-eth", base, start), seconds)
    assert len(oracle) >= 5
    assert chart(browser) == [
        {k: c[k] for k in ("time", "open", "high", "low", "close")} for c in oracle
    ]
    volumes = browser.execute_script("return window.cryptomonitor.volume()")
    assert [(v["time"], v["value"]) for v in volumes] == [
        (c["time"], c["volume"]) for c in oracle if c["volume"] is not None
    ]
    assert browser.current_url.endswith(
        f"#demo-eth/{interval}/7d" if interval == "15m" else f"#demo-eth/{interval}/30d"
    )


def test_5m_candles_and_the_range_choice(browser: Any, site: str) -> None:
    from selenium.webdriver.support.ui import Select

    open_page(browser, f"{site}/#demo-btc/5m/24h")
    start = browser.execute_script("return window.cryptomonitor.state.from")
    oracle = aggregated(candles_from(site, "demo-btc", "1m", start), 300)
    drawn = chart(browser)
    assert drawn[:-1] == [
        {k: c[k] for k in ("time", "open", "high", "low", "close")} for c in oracle[:-1]
    ]
    now = time.time()
    assert now - 86400 <= epoch(start) < now - 86400 + 300
    assert [o.text for o in Select(browser.find_element("id", "range")).options] == [
        "24h",
        "3d",
        "7d",
    ]
    # Another range: the request's `from` moves, the URL says so.
    before = renders(browser)
    Select(browser.find_element("id", "range")).select_by_value("3d")
    wait(browser, f"Number(document.body.dataset.renders) > {before}")
    latest = requests_made(browser, "/metrics/demo-btc")[-1]
    asked = epoch(latest["from"][0])
    assert asked % 300 == 0 and abs(asked - (time.time() - 3 * 86400)) < 400
    assert browser.current_url.endswith("#demo-btc/5m/3d")
    # Switching the interval opens that interval's own range.
    browser.find_element("css selector", "#intervals button[data-interval='1m']").click()
    wait(browser, "window.cryptomonitor.state.interval === '1m'")
    assert browser.current_url.endswith("#demo-btc/1m/24h")
    wait(browser, "document.body.dataset.state === 'ready'")  # the 1m/24h chart drawn
    before = renders(browser)
    Select(browser.find_element("id", "range")).select_by_value("6h")
    # Drawn anew: "ready" alone may still be the 24-hour chart's, before the 6h one comes.
    wait(
        browser,
        f"window.cryptomonitor.state.range === '6h' && Number(document.body.dataset.renders) > "
        f"{before} && document.body.dataset.state === 'ready'",
    )
    # A refresh of the 24-hour chart in flight when the range changed may land after it:
    # the 6-hour one follows within a refresh.
    deadline = time.monotonic() + 15
    while not 355 <= len(chart(browser)) <= 361:
        assert time.monotonic() < deadline, len(chart(browser))
        time.sleep(0.2)
    # A link to another chart, followed within the page.
    browser.execute_script("location.hash = '#demo-eth/4h/7d'")
    wait(
        browser,
        "window.cryptomonitor.state.symbol === 'demo-eth' && "
        "window.cryptomonitor.state.interval === '4h' && window.cryptomonitor.state.range === '7d'",
    )
    assert severe(browser) == []


def test_prices_are_grouped_and_keep_their_digits(browser: Any, site: str) -> None:
    open_page(browser, f"{site}/#demo-btc/1m")
    fmt = "window.cryptomonitor.series.priceFormatter()"
    # Bybit's BTC prices have one decimal, DOGE's five.
    assert browser.execute_script(f"return {fmt}.format(104500.5)") == "104,500.5"
    # Tick marks 150 px from the last price's label, and one 5 px from it.
    prices, labels = browser.execute_script(
        "const s = window.cryptomonitor.series;"
        "const f = s.options().priceFormat.tickmarksFormatter;"
        "const y = s.priceToCoordinate(window.cryptomonitor.state.lastClose);"
        "const p = [y + 150, y - 150, y + 5].map(c => Math.round(s.coordinateToPrice(c)));"
        "return [p, f(p)];"
    )
    assert labels[:2] == [f"{prices[0]:,}", f"{prices[1]:,}"] and "," in labels[0]
    assert labels[2] == ""  # under the last price's label: not drawn
    open_page(browser, f"{site}/#demo-doge/1m")
    wait(
        browser,
        "window.cryptomonitor.state.symbol === 'demo-doge' && "
        "document.body.dataset.state === 'ready'",
    )
    assert browser.execute_script(f"return {fmt}.format(0.16354)") == "0.16354"
    close = chart(browser)[-1]["close"]
    assert browser.execute_script(f"return {fmt}.format({close})") == f"{close:.5f}"


def test_the_ranking_shows_last_price_change_and_what_ranks(browser: Any, site: str) -> None:
    open_page(browser, f"{site}/#demo-eth/1m")
    rows = browser.execute_script(
        "return [...document.querySelectorAll('#rank tbody tr')].map(r =>"
        " [r.dataset.symbol, ...[...r.cells].map(c => c.textContent)])"
    )
    ranking = requests.get(f"{site}/rank", timeout=10).json()["ranking"]
    assert [r[0] for r in rows] == [r["symbol"] for r in ranking]
    ranked_by = browser.execute_script(
        "return document.querySelector('#rank th[aria-sort=descending]').dataset.by"
    )
    assert ranked_by == ranking[0].get("by", "stddev")
    for row, api in zip(rows, ranking, strict=True):
        assert row[6] == f"{api['stddev']:,.4g}" or float(row[6].replace(",", "")) == pytest.approx(
            api["stddev"], rel=1e-3
        )
    # The ranking by the other measure is asked for when its header is clicked.
    other = "stddev" if ranked_by == "cv" else "cv"
    browser.execute_script(f"document.querySelector('#rank th[data-by={other}] button').click()")
    wait(
        browser,
        f"performance.getEntriesByType('resource').some(e => e.name.endsWith('/rank?by={other}'))",
    )
    if "last_price" not in ranking[0]:
        assert all(row[3:6] == ["—", "—", "—"] for row in rows)  # today's API: shown as unknown
        pytest.skip(
            "GET /rank gives no last_price, change_24h_pct or cv_pct yet (issue 24's "
            "/rank change is on another branch): the page shows —"
        )
    for row, api in zip(rows, ranking, strict=True):
        # The oracle: the symbol's raw ticks of the last 24 hours.
        points = requests.get(f"{site}/metrics/{api['symbol']}", timeout=10).json()["points"]
        prices = [p["price"] for p in points]
        assert float(row[3].replace(",", "")) == prices[-1] == api["last_price"]
        cv = statistics.stdev(prices) / statistics.mean(prices) * 100
        assert float(row[5].rstrip("%")) == pytest.approx(cv, abs=0.02)  # shown to 0.01
        change = api["change_24h_pct"]
        if change is None:
            assert row[4] == "—"
        else:
            assert float(row[4].rstrip("%")) == pytest.approx(change, abs=0.006)
            assert row[4].startswith("+" if change > 0 else "-" if change < 0 else "0")


def test_resolved_alerts_say_the_condition_cleared(browser: Any, site: str) -> None:
    open_page(browser, f"{site}/#demo-eth/1m")
    items = browser.execute_script(
        "return [...document.querySelectorAll('#alerts li')].map(li => li.textContent)"
    )
    alerts = requests.get(f"{site}/alerts", params={"limit": 20}, timeout=10).json()["alerts"]
    assert len(items) == len(alerts) and any(a["event"] == "RESOLVED" for a in alerts)
    for text, a in zip(items, alerts, strict=True):
        if a["event"] == "RESOLVED":
            assert "no longer" in text and " is " not in text, text  # " is " reads as alerting
        else:
            assert text.count("ALERT") == 1 and "no longer" not in text, text
        if a["condition"] != "deviation_above":
            continue
        # The oracle of a deviation: its figures, from the value and the window's average.
        pct = (a["value"] - a["window_avg"]) / a["window_avg"] * 100
        limit = a["threshold"] * 100
        if a["event"] == "RESOLVED":
            side = "above" if pct >= 0 else "below"
            assert f"no longer {limit:g}% {side} its {a['window_seconds'] / 60:g}m average" in text
            # Where it is now, with the digits that read inside the recovery level (1.496, not
            # 1.5) where the rule has one.
            cleared = a["figures"].get("recover", a["threshold"]) * 100
            now = float(text.split("(now ")[1].split("%")[0])
            assert abs(now) < cleared and now == pytest.approx(pct, abs=0.01), text
        else:
            shown_pct = float(text.split(" is ")[1].split("%")[0])
            assert shown_pct > limit and shown_pct == pytest.approx(abs(pct), abs=0.01), text
    # Word for word the alerts file's sentence (cryptomonitor/alerting/lineformat.py): a
    # volume of 1,249,413,065 is not rounded to 1,249,413,100.
    for text, a in zip(items, alerts, strict=True):
        fields = {k: v for k, v in a.items() if k != "summary"}
        event = episodes.Event(
            **{
                **fields,
                "time": dt.datetime.fromisoformat(a["time"]),
                "alert_id": uuid.UUID(a["alert_id"]),
                "episode_id": uuid.UUID(a["episode_id"]),
            }
        )
        assert f"{lineformat.describe(event)} ({a['rule']})" in text, (text, event)
    shown = browser.execute_script("return window.cryptomonitor.markers()")
    resolved = [m for m in shown if m["shape"] == "circle"]
    assert resolved and all(m["text"].startswith("✓ ") for m in resolved)
    assert all("✓" not in m["text"] for m in shown if m["shape"] != "circle")


def test_a_source_without_traded_volume_says_so(browser: Any, site: str, site_db: str) -> None:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    with psycopg.connect(site_db, autocommit=True) as conn:
        for minute in range(30):
            conn.execute(
                "INSERT INTO ticks (time, symbol, price, volume_24h, source) "
                "VALUES (%s, 'test-novolume', %s, 5e9, 'test')",
                (now - dt.timedelta(minutes=minute), 100 + math.sin(minute)),
            )
    open_page(browser, f"{site}/#test-novolume/1m")
    wait(
        browser,
        "window.cryptomonitor.state.symbol === 'test-novolume' && "
        "document.body.dataset.state === 'ready'",
    )
    assert browser.execute_script("return window.cryptomonitor.volume()") is None
    assert browser.execute_script("return window.cryptomonitor.chart.panes().length") == 1
    note = browser.find_element("id", "volume-note")
    assert note.is_displayed() and "this source gives no traded volume" in note.text
    open_page(browser, f"{site}/#demo-eth/1m")  # and back: the pane again
    wait(
        browser,
        "window.cryptomonitor.state.symbol === 'demo-eth' && "
        "document.body.dataset.state === 'ready' && window.cryptomonitor.volume() !== null",
    )
    assert not browser.find_element("id", "volume-note").is_displayed()
    assert severe(browser) == []
