"""Chat and everything else through Apprise (https://github.com/caronc/apprise, BSD-2): one
library for Slack, Discord, Telegram, Microsoft Teams, Matrix, ntfy, Pushover and 100 more,
each a URL (``tgram://bottoken/ChatID``, ``discord://webhook_id/webhook_token``,
``slack://TokenA/TokenB/TokenC/#channel``, ``ntfy://topic``; see Apprise's wiki). One
notification per event: title ``ALERT bitcoin``, body the sentence and the alert line.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import ClassVar

from cryptomonitor.alerting import episodes, lineformat
from cryptomonitor.alerting.receivers.base import Route
from cryptomonitor.exceptions import DeliveryError


class Chat:
    kind: ClassVar[str] = "chat"
    batch = 10

    def __init__(self, name: str, route: Route, urls: Sequence[str]) -> None:
        self.name = name
        self.route = route
        # Its plugins load on first use; one of them imports 'imghdr', deprecated in Python
        # 3.11: loaded here, at start-up, with that warning silenced.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import apprise  # imported only when a chat receiver is configured

            self.apprise = apprise.Apprise()
            for url in urls:
                if not self.apprise.add(url):
                    raise ValueError(f"not a URL Apprise knows: {url.split(':', 1)[0]}://...")

    def send(self, events: Sequence[episodes.Event]) -> None:
        for sent, event in enumerate(events):
            ok = self.apprise.notify(
                title=f"{event.event} {event.symbol}",
                body=f"{lineformat.describe(event)}\n{lineformat.format_line(event)}",
            )
            if not ok:
                raise DeliveryError("Apprise could not notify every URL (see its log lines)", sent)
