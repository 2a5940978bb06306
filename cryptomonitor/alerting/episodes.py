"""Alert episodes: when a rule starts firing, repeats, and resolves (`step`), and their events.

Per (rule, symbol) an alert behaves as in Prometheus Alertmanager: one ``ALERT`` line when the
condition starts to hold, another every repeat interval while it still holds, and one
``RESOLVED`` line when it stops. All times are tick times (the source's clock), so a replay
gives the same alerts as the live run it records. A tick older than those already judged for its
symbol (a backfill) is stored but raises nothing: the engine judges a symbol's ticks in time
order only, and `step` ignores a tick not newer than its state's last change.

A rule's modifiers shape the episode (docs/alerts.md, "Episodes"): ``for`` holds the ALERT back
until the condition has held on every deciding tick for that long (Prometheus's pending state);
``recover`` clears it only once the condition fails at a second, easier threshold (hysteresis);
``cooldown`` opens no new episode that soon after a RESOLVED; ``repeat`` overrides the repeat
interval (0: never); ``once`` ends the rule for the symbol after its first episode; ``expires``
opens no episode from then on.

Every event has a deterministic id derived from (event, rule, symbol, tick time): evaluating the
same tick twice, for instance after a crash, yields the same id, which the ``alerts`` table and
the alerts file each hold at most once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping

from cryptomonitor.alerting import indicators
from cryptomonitor.alerting.rules import Rule, human_interval

ALERT = "ALERT"


RESOLVED = "RESOLVED"


_NAMESPACE = uuid.UUID("5b0f1c1e-8a4e-4d59-9c39-6f1d2b7c0a11")


@dataclasses.dataclass(frozen=True, slots=True)
class State:
    """Where one (rule, symbol) stands: a row of the ``alert_state`` table, field for column
    (the repository reads and writes it by these names), and what the alert cache
    (`cryptomonitor.alerting.cache`) holds. Only `step` changes it."""

    rule: str
    symbol: str
    firing: bool
    episode_id: uuid.UUID | None  # while firing: the id of the ALERT that opened the episode
    last_notified: dt.datetime | None  # while firing: the time of the last ALERT line
    last_changed: dt.datetime  # the time of the tick that last changed this state
    pending_since: dt.datetime | None = None  # not firing, `for` running: when it began to hold
    resolved_at: dt.datetime | None = None  # the time of the last RESOLVED (for `cooldown`)
    done: bool = False  # a `once` rule whose episode has ended


Figures = Mapping[str, float | str]


@dataclasses.dataclass(frozen=True)
class Event:
    """One alert line: an ``ALERT`` (first or repeated) or a ``RESOLVED``; a row of ``alerts``.

    ``window_avg``, ``window_samples`` and ``window_seconds`` describe the trailing window of
    the conditions that have one (None for a level or a move); ``figures`` holds the
    condition's own exact figures (a move's reference, a z-score's standard deviation, ...).
    """

    alert_id: uuid.UUID
    event: str
    time: dt.datetime
    rule: str
    symbol: str
    metric: str
    value: float
    window_avg: float | None
    window_samples: int | None
    window_seconds: float | None
    condition: str
    threshold: float
    episode_id: uuid.UUID
    severity: str = "warning"
    figures: Figures = dataclasses.field(default_factory=dict, hash=False)


def alert_id(event: str, rule: str, symbol: str, time: dt.datetime) -> uuid.UUID:
    """The deterministic id of an event (a UUIDv5)."""
    return uuid.uuid5(_NAMESPACE, f"{event}|{rule}|{symbol}|{time.astimezone(dt.UTC).isoformat()}")


@dataclasses.dataclass(frozen=True, slots=True)
class Reading:
    """What a condition reads at one tick, for `step`: `delta` and `scale` as
    `Rule.holds` takes them; `reference` is the trailing average (or mean), or a move's
    reference value; `samples` the window's values; `spread` a z-score's standard
    deviation."""

    value: float
    delta: float
    scale: float
    reference: float | None = None
    samples: int | None = None
    spread: float | None = None
    detail: str | None = None  # a combination: its members firing, by name
    #: Decided exactly by the engine (an indicator rule): whether the condition holds at the
    #: threshold and at the clearing level (`Rule.holds` is not asked then).
    decided: tuple[bool, bool] | None = None


def step(
    rule: Rule,
    symbol: str,
    time: dt.datetime,
    reading: Reading | None,
    state: State | None,
    repeat_interval: float,
) -> tuple[State | None, Event | None]:
    """Advance (rule, symbol) by one tick; return the state after it and the event it raises.

    `reading` is None where the condition decides nothing at this tick (too few samples, no
    reference, no value): then nothing changes, a pending period included. Without a change
    `state` itself is returned (None, no state yet, included). A tick not newer than the
    state's last change raises nothing.
    """
    if reading is None or (state is not None and time <= state.last_changed):
        return state, None
    x = rule.threshold_for(symbol)
    if x is None:
        return state, None
    firing = state is not None and state.firing

    def event(kind: str, episode: uuid.UUID | None = None) -> Event:
        assert reading is not None
        assert x is not None
        new_id = alert_id(kind, rule.name, symbol, time)
        return Event(
            new_id,
            kind,
            time,
            rule.name,
            symbol,
            rule.metric,
            reading.value,
            *_window(rule, reading),
            rule.condition,
            x,
            episode or new_id,
            rule.severity,
            figures(rule, symbol, reading),
        )

    if firing:
        assert state is not None
        y = rule.recover_for(symbol)
        if not (
            reading.decided[1]
            if reading.decided is not None
            else rule.holds(reading.delta, reading.scale, x if y is None else y, clearing=True)
        ):
            resolved = event(RESOLVED, state.episode_id)
            after = State(rule.name, symbol, False, None, None, time, None, time, rule.once)
            return after, resolved
        repeat = repeat_interval if rule.repeat is None else rule.repeat
        if (
            repeat > 0
            and not rule.once
            and state.last_notified is not None
            and (time - state.last_notified).total_seconds() >= repeat
        ):
            repeated = event(ALERT, state.episode_id)
            return dataclasses.replace(state, last_notified=time, last_changed=time), repeated
        return state, None

    pending = state.pending_since if state is not None else None
    blocked = (
        (state is not None and state.done)
        or (rule.expires is not None and time >= rule.expires)
        or (
            rule.cooldown > 0
            and state is not None
            and state.resolved_at is not None
            and (time - state.resolved_at).total_seconds() < rule.cooldown
        )
    )
    holds = (
        reading.decided[0]
        if reading.decided is not None
        else rule.holds(reading.delta, reading.scale, x)
    )
    if blocked or not holds:
        if pending is None:
            return state, None
        assert state is not None
        return dataclasses.replace(state, pending_since=None, last_changed=time), None
    since = time if pending is None else pending
    if (time - since).total_seconds() >= rule.pending:
        opened = event(ALERT)
        resolved_at = state.resolved_at if state is not None else None
        after = State(rule.name, symbol, True, opened.alert_id, time, time, None, resolved_at)
        return after, opened
    if state is None:
        return State(rule.name, symbol, False, None, None, time, since), None
    return dataclasses.replace(state, pending_since=since, last_changed=time), None


def _window(rule: Rule, reading: Reading) -> tuple[float | None, int | None, float | None]:
    if rule.window > 0:
        return reading.reference, reading.samples, rule.window
    return None, None, None


def _band_figures(rule: Rule) -> dict[str, float | str]:
    """A band of levels: the band, and the one that clears it."""
    assert rule.band is not None
    out: dict[str, float | str] = {"low": rule.band[0], "high": rule.band[1]}
    if rule.recover_band is not None:
        out["recover_low"], out["recover_high"] = rule.recover_band
    return out


def _candle_figures(rule: Rule, reading: Reading) -> dict[str, float | str]:
    """An indicator rule's figures: its candles, and a cross's slow average."""
    out: dict[str, float | str] = {
        "interval_seconds": rule.interval,
        "candles": reading.samples or 0,
    }
    if rule.condition == "cross":
        slow = reading.reference
        assert slow is not None
        out["slow"] = slow
        out["against"] = indicators.label(rule.slow, human_interval(rule.interval))
        out["gap_pct"] = (reading.value - slow) / slow * 100
        out["crossed"] = reading.detail or "unknown"
    return out


def figures(rule: Rule, symbol: str, reading: Reading) -> dict[str, float | str]:
    """The exact figures of a reading, by name (the line's key=value fields and the
    ``alerts.figures`` column); see docs/alerts.md for each."""
    out: dict[str, float | str] = {}
    condition, value, ref = rule.condition, reading.value, reading.reference
    if condition in ("all", "any"):
        out["firing"] = reading.detail or ""
        out["of"] = ",".join(rule.of)
        return out
    if condition == "move":
        assert ref is not None
        out["reference"] = ref
        out["lookback_seconds"] = rule.lookback
        out["change"] = value - ref
        if ref:
            out["change_pct"] = (value - ref) / ref * 100
    elif rule.spread:  # a z-score, a Bollinger band
        assert ref is not None
        assert reading.spread is not None
        out["zscore"] = (value - ref) / reading.spread
        out["stddev"] = reading.spread
    elif rule.band is not None or rule.interval:
        out.update(_candle_figures(rule, reading) if rule.interval else _band_figures(rule))
    elif condition == "surge":
        assert ref is not None
        out["baseline"] = ref
        out["baseline_seconds"] = rule.baseline
        out["ratio"] = value / ref
    elif condition in ("ratio_above", "deviation_above") and ref:
        out["ratio" if condition == "ratio_above" else "change_pct"] = (
            value / ref if condition == "ratio_above" else (value - ref) / ref * 100
        )
    if condition not in ("above", "below", "ratio_above", "surge", "inside"):
        out["direction"] = rule.direction
    if condition == "move":
        out["unit"] = rule.unit
    recover = rule.recover_for(symbol)
    if recover is not None:
        out["recover"] = recover
    return out
