"""The dashboard at `/` in a real browser: Debian's chromium, headless, driven by Selenium
through chromium-driver, over the demo data. Nothing but 127.0.0.1 is loaded."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import shutil
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import requests

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


@pytest.fixture(scope="module")
def site(site_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo (a real day ending now) in `site_db`, and `cryptomonitor api` on it."""
    url = site_db
    alerts_file = tmp_path_factory.mktemp("dash") / "alerts.txt"
    demo = cli("demo", DATABASE_URL=url, CRYPTOMONITOR_ALERTS_FILE=str(alerts_file))
    assert demo.returncode == 0, demo.stderr
    port = pgserver.free_port()
    api = Proc(
        "api",
        "--api-host",
        "127.0.0.1",
        "--api-port",
        str(port),
        DATABASE_URL=url,
        CRYPTOMONITOR_API_RANK_TTL="off",
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
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


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
    assert browser.current_url.endswith("#demo-doge/1h")
    browser.execute_script("document.querySelector('#rank tbody tr').click()")  # most volatile
    wait(browser, "window.cryptomonitor.state.symbol === 'demo-btc'")
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


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
        assert overflow <= 1
        width = browser.execute_script("return document.getElementById('chart').clientWidth")
        assert 300 <= width <= 390
    finally:
        browser.set_window_size(1400, 900)
