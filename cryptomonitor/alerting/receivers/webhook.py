"""A webhook: one POST per event, a JSON body with every field of the event.

The body is signed with HMAC-SHA256 over its exact bytes when a secret is set, in the header
``X-CryptoMonitor-Signature: sha256=<hex>`` (verify it before trusting the body); the event's
id is also in ``X-CryptoMonitor-Alert-Id``: a receiver that may get an event twice (delivery
is at least once) de-duplicates by it. Any 2xx is success; anything else, a timeout or a
refused connection is retried later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import ClassVar

import requests

from cryptomonitor.alerting import episodes
from cryptomonitor.alerting.receivers.base import Route, event_fields, failure
from cryptomonitor.exceptions import DeliveryError

SIGNATURE_HEADER = "X-CryptoMonitor-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    kind: ClassVar[str] = "webhook"
    batch = 1

    def __init__(
        self,
        name: str,
        route: Route,
        url: str,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.route = route
        self.url = url
        self.host = urllib.parse.urlsplit(url).hostname or "?"
        self.secret = secret
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.session = requests.Session()

    def send(self, events: Sequence[episodes.Event]) -> None:
        for sent, event in enumerate(events):
            body = json.dumps(event_fields(event), separators=(",", ":")).encode()
            headers = {
                **self.headers,
                "Content-Type": "application/json",
                "User-Agent": "cryptomonitor",
                "X-CryptoMonitor-Alert-Id": str(event.alert_id),
            }
            if self.secret:
                headers[SIGNATURE_HEADER] = signature(self.secret, body)
            try:
                response = self.session.post(
                    self.url, data=body, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                raise DeliveryError(failure(exc, self.host), sent) from exc
            if not 200 <= response.status_code < 300:
                raise DeliveryError(
                    f"HTTP {response.status_code} from {self.host}: {response.text[:200]!r}", sent
                )
