"""The Alertmanager receiver's payload, without a server."""

from __future__ import annotations

import datetime as dt

from cryptomonitor.alerting import episodes, lineformat
from cryptomonitor.alerting.receivers import alertmanager, base

T = dt.datetime(2026, 1, 2, 3, 4, 5, 250_000, tzinfo=dt.UTC)


def event(kind: str, time: dt.datetime) -> episodes.Event:
    some = episodes.alert_id(kind, "spike", "bitcoin", time)
    return episodes.Event(
        some,
        kind,
        time,
        "spike",
        "bitcoin",
        "price",
        3.5,
        1.0,
        20,
        3600.0,
        "ratio_above",
        3.0,
        some,
    )


def test_a_firing_alert_ends_after_the_hold_and_a_resolved_one_at_its_time() -> None:
    receiver = alertmanager.Alertmanager(
        "am", base.Route(), "http://am:9093/", hold=7200.0, labels={"team": "markets"}
    )
    firing = receiver.payload(event(episodes.ALERT, T))
    assert firing["startsAt"] == "2026-01-02T03:04:05.250000Z"
    assert firing["endsAt"] == "2026-01-02T05:04:05.250000Z"
    assert firing["labels"] == {
        "alertname": "spike",
        "rule": "spike",
        "symbol": "bitcoin",
        "metric": "price",
        "severity": "warning",
        "source": "cryptomonitor",
        "team": "markets",
    }
    assert firing["annotations"]["description"] == lineformat.format_line(event(episodes.ALERT, T))
    whole = T.replace(microsecond=0) + dt.timedelta(hours=1)
    resolved = receiver.payload(event(episodes.RESOLVED, whole))
    assert resolved["startsAt"] == resolved["endsAt"] == "2026-01-02T04:04:05Z"
    assert receiver.url == "http://am:9093/api/v2/alerts"
