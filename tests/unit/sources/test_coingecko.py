from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptomonitor.exceptions import ResponseError
from cryptomonitor.sources import coingecko, validation
from tests.support.paths import FIXTURES

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
T0 = int(NOW.timestamp()) - 30


def test_recorded_answer() -> None:
    payload = json.loads((FIXTURES / "simple_price_2020-01-13T1656Z.json").read_text())
    r = coingecko.parse_simple_price(
        payload, ["bitcoin", "ethereum", "zcash", "nosuchcoin"], "usd", now=NOW
    )
    by = {t.symbol: t for t in r.ticks}
    assert by["bitcoin"].price == 8090.66
    assert by["bitcoin"].time == dt.datetime(2020, 1, 13, 16, 55, 26, tzinfo=dt.UTC)
    assert by["zcash"].price == 36.78
    assert by["bitcoin"].volume_24h is None  # that recording did not ask for volumes
    assert r.missing == ["nosuchcoin"]
    assert r.rejected == []
    assert "eos" not in by  # not asked for


def test_volume_and_time() -> None:
    payload = {"bitcoin": {"usd": 67187.33, "usd_24h_vol": 31260929299.52, "last_updated_at": T0}}
    (tick,) = coingecko.parse_simple_price(payload, ["bitcoin"], "usd", now=NOW).ticks
    assert tick.volume_24h == 31260929299.52
    assert tick.time.timestamp() == T0
    assert tick.source == "coingecko"


@pytest.mark.parametrize(
    "bad", [None, 0, -1, "67187.33", True, float("nan"), float("inf"), [1], 10**400]
)  # a whole number past the float range
def test_bad_price_rejected_others_kept(bad: object) -> None:
    payload = {
        "bitcoin": {"usd": bad, "last_updated_at": T0},
        "zcash": {"usd": 30.5, "last_updated_at": T0},
    }
    r = coingecko.parse_simple_price(payload, ["bitcoin", "zcash"], "usd", now=NOW)
    assert [t.symbol for t in r.ticks] == ["zcash"]
    assert [(x.symbol, x.field) for x in r.rejected] == [("bitcoin", "usd")]


@pytest.mark.parametrize(
    "stamp", [None, "yesterday", T0 + 3600, 10**15, 1000, float("nan"), 10**400, [T0]]
)
def test_bad_timestamp_rejected(stamp: object) -> None:
    payload = {"bitcoin": {"usd": 1.0, "last_updated_at": stamp}}
    r = coingecko.parse_simple_price(payload, ["bitcoin"], "usd", now=NOW)
    assert r.ticks == []
    assert r.rejected[0].field == "last_updated_at"


def test_timestamps_equal_as_numbers_are_judged_each_by_its_type() -> None:
    # One parse remembers each timestamp's verdict: 1 and True are equal dict keys, but True
    # is not a number and 1 is a time in 1970: two different reasons, never one for both.
    payload = {
        "a": {"usd": 1.0, "last_updated_at": True},
        "b": {"usd": 1.0, "last_updated_at": 1},
        "c": {"usd": 1.0, "last_updated_at": T0},
        "d": {"usd": 2.0, "last_updated_at": T0},
    }
    r = coingecko.parse_simple_price(payload, ["a", "b", "c", "d"], "usd", now=NOW)
    assert [t.symbol for t in r.ticks] == ["c", "d"]
    assert [(x.symbol, x.reason) for x in r.rejected] == [
        ("a", "not a finite number"),
        ("b", "before 2009"),
    ]


@pytest.mark.parametrize("bad", [-5, "many", float("inf"), False])
def test_bad_volume_dropped_price_kept(bad: object) -> None:
    payload = {"bitcoin": {"usd": 2.0, "usd_24h_vol": bad, "last_updated_at": T0}}
    r = coingecko.parse_simple_price(payload, ["bitcoin"], "usd", now=NOW)
    assert len(r.ticks) == 1 and r.ticks[0].volume_24h is None
    assert r.rejected[0].field == "usd_24h_vol"


@pytest.mark.parametrize("payload", [[], "error", 3, None])
def test_not_an_object_is_a_response_error(payload: object) -> None:
    with pytest.raises(ResponseError, match="JSON object"):
        coingecko.parse_simple_price(payload, ["bitcoin"], "usd", now=NOW)


def test_empty_entry_is_missing() -> None:
    r = coingecko.parse_simple_price({"bitcoin": {}}, ["bitcoin"], "usd", now=NOW)
    assert r.missing == ["bitcoin"] and r.ticks == []


def test_api_key_header_follows_host() -> None:
    assert coingecko.api_key_header("https://pro-api.coingecko.com/api/v3") == "x-cg-pro-api-key"
    assert coingecko.api_key_header("https://api.coingecko.com/api/v3") == "x-cg-demo-api-key"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["usd", "usd_24h_vol", "last_updated_at", "x"]), children, max_size=4
        )
    ),
    max_leaves=12,
)
payloads = json_values | st.dictionaries(
    st.sampled_from(["bitcoin", "zcash", "other"]),
    st.fixed_dictionaries(
        {},
        optional={
            "usd": json_values | st.floats(),
            "usd_24h_vol": json_values | st.floats(),
            "last_updated_at": st.integers(0, 2 * T0) | json_values,
        },
    )
    | json_values,
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(payloads)
def test_parser_returns_valid_ticks_or_raises_response_error(payload: object) -> None:
    try:
        r = coingecko.parse_simple_price(payload, ["bitcoin", "zcash"], "usd", now=NOW)
    except ResponseError:
        return
    for t in r.ticks:
        assert t.symbol in ("bitcoin", "zcash")
        assert isinstance(t.price, float) and math.isfinite(t.price) and t.price > 0
        assert t.volume_24h is None or (math.isfinite(t.volume_24h) and t.volume_24h >= 0)
        assert validation.EARLIEST <= t.time <= NOW + validation.MAX_FUTURE_SKEW
    assert (
        len(r.ticks)
        + len({x.symbol for x in r.rejected if x.field != "usd_24h_vol"})
        + len(r.missing)
        == 2
    )


@pytest.mark.parametrize(
    ("stamp", "reason"),
    [
        ("2026-11-21T11:59:30.123Z", None),
        ("2026-11-21T11:59:30.123+00:00", None),
        ("2026-11-21T11:59:30.123", "no time zone"),  # a changed format: not taken as UTC
        ("yesterday", "not an ISO 8601 time"),
        (" 2026-11-21T11:59:30.123Z", "not an ISO 8601 time"),
        (1763726370, "not an ISO 8601 time"),
        (None, "missing"),
    ],
)
def test_markets_times_are_iso_8601_with_a_zone(stamp: object, reason: str | None) -> None:
    payload = [{"id": "bitcoin", "current_price": 1.0, "last_updated": stamp}]
    r = coingecko.parse_markets(payload, "usd", now=NOW)
    if reason is None:
        assert [t.time for t in r.ticks] == [
            dt.datetime(2026, 11, 21, 11, 59, 30, 123000, tzinfo=dt.UTC)
        ]
    else:
        assert r.ticks == []
        assert [(x.field, x.reason) for x in r.rejected] == [("last_updated", reason)]
