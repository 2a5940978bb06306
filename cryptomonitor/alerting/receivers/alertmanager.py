"""Prometheus Alertmanager: events POSTed to ``/api/v2/alerts``, the ecosystem's standard for
grouping, silencing, inhibiting and paging.

Labels: ``alertname`` (the rule), ``rule``, ``symbol``, ``metric``, ``source="cryptomonitor"``
and the receiver's extra labels; annotations: ``summary`` (the sentence), ``description`` (the
alert line), ``alert_id``. An ALERT is firing until ``endsAt`` = its time + `hold` (twice the
repeat interval by default: a repeat or a RESOLVED comes first); a RESOLVED sends the same
labels with ``endsAt`` = its time, which resolves it. Alertmanager keys alerts by their labels,
so sending one twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import requests

from cryptomonitor.alerting import episodes, lineformat
from cryptomonitor.alerting.receivers.base import Route, failure
from cryptomonitor.exceptions import DeliveryError
from cryptomonitor.util import times


class Alertmanager:
    kind: ClassVar[str] = "alertmanager"
    batch = 100

    def __init__(
        self,
        name: str,
        route: Route,
        url: str,
        hold: float = 7200.0,
        labels: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.route = route
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.host = urllib.parse.urlsplit(url).hostname or "?"
        self.hold = dt.timedelta(seconds=hold)
        self.labels = dict(labels or {})
        self.timeout = timeout
        self.session = requests.Session()

    def payload(self, event: episodes.Event) -> dict[str, Any]:
        labels = {
            "alertname": event.rule,
            "rule": event.rule,
            "symbol": event.symbol,
            "metric": event.metric,
            "severity": event.severity,
            "source": "cryptomonitor",
            **self.labels,
        }
        firing = event.event == episodes.ALERT
        return {
            "labels": labels,
            "annotations": {
                "summary": lineformat.describe(event),
                "description": lineformat.format_line(event),
                "alert_id": str(event.alert_id),
            },
            "startsAt": times.format_time(event.time),  # Alertmanager keeps an episode's first
            "endsAt": times.format_time(event.time + self.hold if firing else event.time),
        }

    def send(self, events: Sequence[episodes.Event]) -> None:
        try:
            response = self.session.post(
                self.url, json=[self.payload(e) for e in events], timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise DeliveryError(failure(exc, self.host)) from exc
        if response.status_code != 200:
            raise DeliveryError(
                f"HTTP {response.status_code} from {self.host}: {response.text[:200]!r}"
            )
