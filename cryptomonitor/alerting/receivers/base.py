"""What every receiver has: a name, a route (which events it takes) and `send`."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from cryptomonitor.alerting import episodes, lineformat
from cryptomonitor.util import times


def failure(exc: Exception, where: str) -> str:
    """A transport error as a line for logs, the database and /health: its kind and the host,
    never the URL (a chat or webhook URL's path may be its token)."""
    return f"{type(exc).__name__} talking to {where}"


@dataclasses.dataclass(frozen=True)
class Route:
    """Which events a receiver takes: empty means all."""

    rules: frozenset[str] = frozenset()
    symbols: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()

    def takes(self, event: episodes.Event) -> bool:
        return (
            (not self.rules or event.rule in self.rules)
            and (not self.symbols or event.symbol in self.symbols)
            and (not self.events or event.event in self.events)
        )


class Receiver(Protocol):
    kind: ClassVar[str]
    name: str
    route: Route
    #: Events per `send` at most (1: one request or message per event).
    batch: int

    def send(self, events: Sequence[episodes.Event]) -> None:
        """Deliver `events` (oldest first); DeliveryError if the receiver did not take them."""
        ...


def event_fields(event: episodes.Event) -> dict[str, Any]:
    """Every field of the event, JSON-ready, and its alert line (`alert_id`: the idempotency
    key a receiver de-duplicates by)."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif field.name == "time":
            value = times.format_time(value)
        elif field.name == "figures":
            value = dict(value)
        out[field.name] = value
    out["line"] = lineformat.format_line(event)
    out["summary"] = lineformat.describe(event)
    return out
