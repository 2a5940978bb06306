"""A running ``cryptomonitor run`` fed every kind of bad answer in a row: it logs each one,
keeps polling, keeps the good coins of a partly bad answer, and stops cleanly afterwards.
Unknown coin ids are a configuration error: exit 2 naming them."""

from __future__ import annotations

import json
import pathlib
import time

import psycopg
import pytest

from tests.support.fakeapi import Answer, FakeCoinGecko
from tests.support.procs import Proc, cli


def entry(price: object, stamp: object, volume: object = 5e9) -> dict[str, object]:
    return {"usd": price, "usd_24h_vol": volume, "last_updated_at": stamp}


@pytest.mark.slow
def test_every_bad_answer_is_logged_and_survived(
    db_url: str, fake_api: FakeCoinGecko, tmp_path: pathlib.Path
) -> None:
    now = int(time.time())
    good = {"bitcoin": entry(100.0, now - 600), "ethereum": entry(10.0, now - 600)}
    fake_api.script.extend(
        [
            Answer(200, good),
            Answer(
                429,
                {"status": {"error_code": 429, "error_message": "You've exceeded the Rate Limit"}},
                {"Retry-After": "2"},
            ),
            Answer(500, "upstream error", {"Content-Type": "text/plain"}),
            Answer(403, "<html><body>Access denied</body></html>", {"Content-Type": "text/html"}),
            Answer(200, "<!DOCTYPE html><html>maintenance</html>", {"Content-Type": "text/html"}),
            Answer(200, '{"bitcoin": {"usd": 1'),  # truncated JSON
            Answer(200, good, delay=2.0),  # beyond the 0.5 s timeout
            Answer(200, b" " * (9 << 20)),  # beyond the 8 MiB cap
            # json.dumps writes NaN and Infinity bare, as a broken server would.
            Answer(
                200, {"bitcoin": entry(float("nan"), now - 540), "ethereum": entry(11.0, now - 540)}
            ),
            Answer(200, {"bitcoin": entry("101.5", now - 480), "ethereum": entry(12.0, now - 480)}),
            Answer(
                200, {"bitcoin": entry(float("inf"), now - 470), "ethereum": entry(12.0, now - 480)}
            ),  # ethereum: a stale repeat
            Answer(200, {"ethereum": entry(13.0, now - 420)}),  # bitcoin missing
            Answer(
                200, {"bitcoin": entry(102.0, now + 86_400), "ethereum": entry(14.0, now - 360)}
            ),
            Answer(200, {"bitcoin": entry(103.0, 1_000_000), "ethereum": entry(14.0, now - 360)}),
            Answer(
                200,
                {"bitcoin": entry(104.0, now - 300, volume=-5), "ethereum": entry(14.0, now - 360)},
            ),
            Answer(200, [1, 2, 3]),
        ]
    )
    scripted = len(fake_api.script)
    fake_api.set_price("bitcoin", 105.0, 5e9, now - 240)
    fake_api.set_price("ethereum", 15.0, 1e9, now - 240)
    app = Proc(
        "run",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_COINGECKO_URL=fake_api.url,
        CRYPTOMONITOR_COINS="bitcoin,ethereum",
        CRYPTOMONITOR_POLL_INTERVAL="0.1",
        CRYPTOMONITOR_HTTP_TIMEOUT="0.5",
        CRYPTOMONITOR_HTTP_ATTEMPTS="1",
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
    )
    try:
        app.wait_for(lambda: len(fake_api.requests) > scripted + 2, timeout=60)
    finally:
        assert app.stop() == 0, app.log()

    failures = [p["error"] for p in app.named("poll_failed")]
    for expected in (
        "429",
        "HTTP 500",
        "HTTP 403",
        "not JSON",
        '{"bitcoin": {"usd": 1',
        "Timeout",
        "larger than",
        "expected a JSON object",
    ):
        assert any(expected in f for f in failures), (expected, failures)
    assert any("rate limited" in f for f in failures), "polls during Retry-After hit the API"
    # One request per poll (1 attempt): the 2nd got the 429; polls inside its Retry-After
    # must not reach the API.
    assert fake_api.requests[2].at - fake_api.requests[1].at >= 2.0

    rejected = {(r["symbol"], r["field"], r["reason"]) for r in app.named("value_rejected")}
    assert ("bitcoin", "usd", "not a positive finite number") in rejected  # NaN, "101.5", inf
    assert any("in the future" in reason for _, _, reason in rejected)
    assert ("bitcoin", "usd_24h_vol", "not a finite number >= 0; stored as NULL") in rejected
    assert app.named("coins_missing")[0]["symbols"] == ["bitcoin"]
    assert any(p["unchanged"] >= 1 for p in app.named("poll"))

    with psycopg.connect(db_url) as conn:
        stored = conn.execute(
            "SELECT symbol, price, volume_24h FROM ticks ORDER BY symbol, time"
        ).fetchall()
    assert [p for s, p, _ in stored if s == "ethereum"] == [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    # 1,000,000 s after 1970 is before Bitcoin existed: rejected; the negative volume is dropped.
    assert [(p, v) for s, p, v in stored if s == "bitcoin"] == [
        (100.0, 5e9),
        (104.0, None),
        (105.0, 5e9),
    ]


def test_unknown_coin_id_exits_2_naming_it(
    db_url: str, fake_api: FakeCoinGecko, tmp_path: pathlib.Path
) -> None:
    fake_api.set_price("bitcoin", 100.0, 5e9, int(time.time()))
    result = cli(
        "run",
        "--once",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_COINGECKO_URL=fake_api.url,
        CRYPTOMONITOR_COINS="bitcoin,etherium",
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
    )
    assert result.returncode == 2, result.stderr
    fatal = json.loads(result.stderr.strip().splitlines()[-1])
    assert "CRYPTOMONITOR_COINS" in fatal["error"] and "'etherium'" in fatal["error"]
    assert "'bitcoin'" not in fatal["error"].split(":")[1]


def test_coin_missing_later_is_logged_not_fatal(
    db_url: str, fake_api: FakeCoinGecko, tmp_path: pathlib.Path
) -> None:
    now = int(time.time())
    fake_api.script.append(
        Answer(200, {"bitcoin": entry(1.0, now - 60), "zcash": entry(2.0, now - 60)})
    )
    fake_api.set_price("bitcoin", 1.0, 5e9, now)
    app = Proc(
        "run",
        DATABASE_URL=db_url,
        CRYPTOMONITOR_COINGECKO_URL=fake_api.url,
        CRYPTOMONITOR_COINS="bitcoin,zcash",
        CRYPTOMONITOR_POLL_INTERVAL="0.1",
        CRYPTOMONITOR_ALERTS_FILE=str(tmp_path / "alerts.txt"),
    )
    try:
        app.wait_for(lambda: len(app.named("coins_missing")) >= 3)
    finally:
        assert app.stop() == 0, app.log()
    assert not app.named("fatal")
    assert app.named("coins_missing")[-1]["symbols"] == ["zcash"]
