"""Alert episodes: when a rule starts firing, repeats, and resolves (`step`), and their events.

Per (rule, symbol) an alert behaves as in Prometheus Alertmanager: one ``ALERT`` line when the
condition starts to hold, another every repeat interval while it still holds, and one
``RESOLVED`` line when it stops. All times are tick times (the source's clock), so a replay
gives the same alerts as the live run it records. A tick older than those already judged for its
symbol (a backfill) is stored but raises nothing: the engine judges a symbol's ticks in time
order only, and `step` ignores a tick not newer than its state's last change.

Every event has a deterministic id derived from (event, rule, symbol, tick time): evaluating the
same tick twice, for instance after a crash, yields the same id, which the ``alerts`` table and
the alerts file each hold at most once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from cryptomonitor.alerting.rules import Rule

ALERT = "ALERT"


RESOLVED = "RESOLVED"


_NAMESPACE = uuid.UUID("5b0f1c1e-8a4e-4d59-9c39-6f1d2b7c0a11")


@dataclasses.dataclass(frozen=True, slots=True)
class State:
    """Where one (rule, symbol) stands since its last event: a row of the ``alert_state``
    table, field for column (the repository reads and writes it by these names), and what the
    alert cache (`cryptomonitor.alerting.cache`) holds. Only an event changes it (`step`)."""

    rule: str
    symbol: str
    firing: bool
    episode_id: uuid.UUID | None  # while firing: the id of the ALERT that opened the episode
    last_notified: dt.datetime | None  # while firing: the time of the last ALERT line
    last_changed: dt.datetime  # the time of the tick that raised the last event


@dataclasses.dataclass(frozen=True)
class Event:
    """One alert line: an ``ALERT`` (first or repeated) or a ``RESOLVED``."""

    alert_id: uuid.UUID
    event: str
    time: dt.datetime
    rule: str
    symbol: str
    metric: str
    value: float
    window_avg: float
    window_samples: int
    window_seconds: float
    condition: str
    threshold: float
    episode_id: uuid.UUID


def alert_id(event: str, rule: str, symbol: str, time: dt.datetime) -> uuid.UUID:
    """The deterministic id of an event (a UUIDv5)."""
    return uuid.uuid5(_NAMESPACE, f"{event}|{rule}|{symbol}|{time.astimezone(dt.UTC).isoformat()}")


def step(
    rule: Rule,
    symbol: str,
    time: dt.datetime,
    value: float | None,
    window_avg: float | None,
    window_samples: int,
    state: State | None,
    repeat_interval: float,
) -> tuple[State | None, Event | None]:
    """Advance (rule, symbol) by one tick; return the state after it and the event it raises.

    Only an event changes the state: without one, `state` itself is returned (None, no state
    yet, included). A tick not newer than the state's last change raises nothing; nor does a
    window that decides nothing (too few samples, no positive average, no value): the alert
    stays as it is.
    """
    if state is not None and time <= state.last_changed:
        return state, None
    if (
        value is None
        or window_avg is None
        or window_samples < rule.min_samples
        or not window_avg > 0
    ):
        return state, None
    v, avg = value, window_avg  # narrowed to float for the closure
    breached = rule.breached(v, avg)
    firing = state is not None and state.firing

    def event(kind: str, episode: uuid.UUID | None = None) -> Event:
        new_id = alert_id(kind, rule.name, symbol, time)
        return Event(
            new_id,
            kind,
            time,
            rule.name,
            symbol,
            rule.metric,
            v,
            avg,
            window_samples,
            rule.window,
            rule.condition,
            rule.threshold,
            episode or new_id,
        )

    if breached and not firing:
        opened = event(ALERT)
        return State(rule.name, symbol, True, opened.alert_id, time, time), opened
    if state is None:
        return None, None  # quiet, and never fired
    if (
        breached
        and state.last_notified is not None
        and ((time - state.last_notified).total_seconds() >= repeat_interval)
    ):
        repeated = event(ALERT, state.episode_id)
        return State(rule.name, symbol, True, state.episode_id, time, time), repeated
    if not breached and firing:
        resolved = event(RESOLVED, state.episode_id)
        return State(rule.name, symbol, False, None, None, time), resolved
    return state, None
