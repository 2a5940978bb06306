"""Email over SMTP: one message per event, STARTTLS and authentication when configured.

Subject: ``[CryptoMonitor] ALERT bitcoin price 312,000 is 3.10x its 1h average 100,500``
(the event's sentence); body: the sentence, every field, and the alert line. ``Message-ID``
is derived from the ``alert_id``, so a mail client shows a message sent twice (delivery is at
least once) once.
"""

from __future__ import annotations

import email.message
import email.utils
import smtplib
import ssl
from collections.abc import Sequence
from typing import ClassVar

from cryptomonitor.alerting import episodes, lineformat
from cryptomonitor.alerting.receivers.base import Route, event_fields, failure
from cryptomonitor.exceptions import DeliveryError


class Email:
    kind: ClassVar[str] = "email"
    batch = 20

    def __init__(
        self,
        name: str,
        route: Route,
        host: str,
        port: int,
        sender: str,
        to: Sequence[str],
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 20.0,
    ) -> None:
        self.name = name
        self.route = route
        self.host, self.port = host, port
        self.sender, self.to = sender, list(to)
        self.starttls = starttls
        self.username, self.password = username, password
        self.timeout = timeout

    def message(self, event: episodes.Event) -> email.message.EmailMessage:
        msg = email.message.EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["Subject"] = f"[CryptoMonitor] {event.event} {lineformat.describe(event)}"
        msg["Date"] = email.utils.format_datetime(event.time)
        msg["Message-ID"] = f"<{event.alert_id}@cryptomonitor>"
        fields = event_fields(event)
        body = [lineformat.describe(event), ""]
        body += [f"{k}: {v}" for k, v in fields.items() if k not in ("line", "summary")]
        body += ["", fields["line"]]
        msg.set_content("\n".join(body) + "\n")
        return msg

    def send(self, events: Sequence[episodes.Event]) -> None:
        sent = 0
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as server:
                if self.starttls:
                    server.starttls(context=ssl.create_default_context())
                if self.username:
                    server.login(self.username, self.password or "")
                for event in events:
                    server.send_message(self.message(event))
                    sent += 1
        except smtplib.SMTPResponseException as exc:  # the server's own words: no secret
            raise DeliveryError(
                f"SMTP {exc.smtp_code} from {self.host}: {exc.smtp_error[:200]!r}", sent
            ) from exc
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            raise DeliveryError(failure(exc, f"{self.host}:{self.port}"), sent) from exc
