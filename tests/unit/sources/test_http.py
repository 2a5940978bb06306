"""The CoinGecko source against a fake CoinGecko on 127.0.0.1: retries, faults, garbage."""

from __future__ import annotations

import time

import pytest
import structlog

from cryptomonitor.exceptions import ResponseError, SourceUnavailable
from cryptomonitor.sources import coingecko
from cryptomonitor.sources.http import JsonClient, parse_retry_after
from tests.support.fakeapi import Answer, FakeCoinGecko

NOW = int(time.time()) - 10


def source(
    fake: FakeCoinGecko,
    attempts: int = 3,
    timeout: float = 2.0,
    key: str | None = None,
    **kw: float,
) -> coingecko.CoinGecko:
    client = JsonClient(
        timeout=timeout, attempts=attempts, backoff_initial=0.01, backoff_max=0.05, **kw
    )
    return coingecko.CoinGecko(fake.url, ["bitcoin", "zcash"], "usd", key, client)


def test_request_format(fake_api: FakeCoinGecko) -> None:
    fake_api.set_price("bitcoin", 67187.33, 31260929299.52, NOW)
    r = source(fake_api, key="CG-secret").fetch()
    assert [t.symbol for t in r.ticks] == ["bitcoin"] and r.missing == ["zcash"]
    req = fake_api.requests[0]
    assert req.path == "/api/v3/simple/price"
    assert req.query == {
        "ids": "bitcoin,zcash",
        "vs_currencies": "usd",
        "include_24hr_vol": "true",
        "include_last_updated_at": "true",
        "precision": "full",
    }
    assert req.headers["x-cg-demo-api-key"] == "CG-secret"


def test_429_waits_for_retry_after(fake_api: FakeCoinGecko) -> None:
    fake_api.set_price("bitcoin", 1.5, 2.0, NOW)
    fake_api.script.append(Answer(429, {"status": {"error_code": 429}}, {"Retry-After": "1"}))
    with structlog.testing.capture_logs() as logs:
        r = source(fake_api).fetch()
    assert len(r.ticks) == 1
    first, second = fake_api.requests
    assert second.at - first.at >= 1.0
    assert [e["event"] for e in logs if e["event"] == "http_retry"] == ["http_retry"]


def test_429_beyond_the_deadline_pauses_later_polls(fake_api: FakeCoinGecko) -> None:
    fake_api.script.append(Answer(429, {}, {"Retry-After": "120"}))
    s = source(fake_api, deadline=5)
    with pytest.raises(SourceUnavailable, match="Retry-After 120s"):
        s.fetch()
    with pytest.raises(SourceUnavailable, match="rate limited"):
        s.fetch()
    assert len(fake_api.requests) == 1  # the second poll did not hit the server


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_transient_errors_are_retried(fake_api: FakeCoinGecko, status: int) -> None:
    fake_api.set_price("zcash", 30.0, 1.0, NOW)
    fake_api.script.extend([Answer(status, "oops"), Answer(status, "oops")])
    assert len(source(fake_api).fetch().ticks) == 1
    assert len(fake_api.requests) == 3


def test_gives_up_after_the_attempts(fake_api: FakeCoinGecko) -> None:
    fake_api.script.extend([Answer(503, "down")] * 5)
    with pytest.raises(SourceUnavailable, match="HTTP 503 after 3 attempt"):
        source(fake_api).fetch()
    assert len(fake_api.requests) == 3


def test_html_block_page_is_not_retried(fake_api: FakeCoinGecko) -> None:
    fake_api.script.append(Answer(403, "<html>blocked</html>", {"Content-Type": "text/html"}))
    with pytest.raises(SourceUnavailable, match=r"HTTP 403 .*text/html"):
        source(fake_api).fetch()
    assert len(fake_api.requests) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html>maintenance</html>", "not JSON"),
        ('{"bitcoin": {"usd": 1', "not JSON"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_garbage_is_a_response_error(fake_api: FakeCoinGecko, body: str, message: str) -> None:
    fake_api.script.append(Answer(200, body))
    with pytest.raises(ResponseError, match=message):
        source(fake_api).fetch()


def test_huge_body_is_refused(fake_api: FakeCoinGecko) -> None:
    fake_api.script.append(Answer(200, b"[" + b"1," * 600_000 + b"1]"))
    with pytest.raises(ResponseError, match="larger than"):
        source(fake_api, max_body_bytes=1_000_000).fetch()


def test_slow_answer_times_out_and_is_retried(fake_api: FakeCoinGecko) -> None:
    fake_api.set_price("bitcoin", 2.0, 1.0, NOW)
    fake_api.script.append(Answer(200, {}, delay=1.5))
    started = time.monotonic()
    r = source(fake_api, timeout=0.5).fetch()
    assert len(r.ticks) == 1 and time.monotonic() - started < 3


def test_connection_refused_is_unavailable() -> None:
    client = JsonClient(timeout=1, attempts=2, backoff_initial=0.01)
    s = coingecko.CoinGecko("http://127.0.0.1:1/api/v3", ["bitcoin"], "usd", None, client)
    with pytest.raises(SourceUnavailable, match="ConnectionError"):
        s.fetch()


def test_nan_and_strings_in_a_real_answer(fake_api: FakeCoinGecko) -> None:
    fake_api.script.append(
        Answer(
            200,
            f'{{"bitcoin": {{"usd": NaN, "last_updated_at": {NOW}}},'
            f' "zcash": {{"usd": 31.5, "usd_24h_vol": "12",'
            f' "last_updated_at": {NOW}}}}}',
        )
    )
    with structlog.testing.capture_logs() as logs:
        r = source(fake_api).fetch()
    assert [(t.symbol, t.price, t.volume_24h) for t in r.ticks] == [("zcash", 31.5, None)]
    rejected = [(e["symbol"], e["field"]) for e in logs if e["event"] == "value_rejected"]
    assert rejected == [("bitcoin", "usd"), ("zcash", "usd_24h_vol")]


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
