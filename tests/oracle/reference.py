"""The independent, slow, exact test oracle for the alert-rule semantics of docs/alerts.md
(version 2 of the rules, with the addendum's `surge` on the traded volume): written from the
specification alone, without reading or importing ``cryptomonitor.alerting``, it recomputes every
trailing window, every surge window and baseline, and every lookback reference by scanning the
symbol's earlier ticks, and decides every comparison (means, ratios, deviations, moves, z-scores,
volume sums, durations) in exact rational arithmetic on the floats' exact values, so that a
difference between it and the engine points at one of the two rather than at rounding.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import math
import re
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any

from cryptomonitor.models import Tick

#: (event, rule name, symbol, tick time, value): event is "ALERT" or "RESOLVED"; the value is the
#: tick's metric value, except for a surge: the summed traded volume `recent` of its window.
Event = tuple[str, str, str, dt.datetime, float]
#: holds(x) at one tick: whether the condition holds against the level x.
Predicate = Callable[[Fraction], bool]

ALERT = "ALERT"
RESOLVED = "RESOLVED"

LEVEL_CONDITIONS = frozenset({"above", "below"})
WINDOW_CONDITIONS = frozenset({"ratio_above", "deviation_above", "zscore"})
DIRECTION_CONDITIONS = frozenset({"move", "deviation_above", "zscore"})
SURGE = "surge"
CONDITIONS = LEVEL_CONDITIONS | WINDOW_CONDITIONS | {"move", SURGE}
METRICS = ("price", "volume_24h")
#: The series a surge reads: the tick's traded volume, `Tick.volume` (never a `metric` value).
TRADED = "volume"
#: Keys a surge refuses (present at all, even with their default value).
SURGE_REFUSED = ("metric", "direction", "lookback", "unit")
DIRECTIONS = frozenset({"up", "down", "either"})
UNITS = frozenset({"relative", "absolute"})
SEVERITIES = frozenset({"info", "warning", "critical"})
KEYS = frozenset(
    {
        "name",
        "condition",
        "metric",
        "threshold",
        "thresholds",
        "window",
        "baseline",
        "lookback",
        "unit",
        "direction",
        "min_samples",
        "recover",
        "recover_thresholds",
        "for",
        "cooldown",
        "repeat",
        "once",
        "expires",
        "severity",
        "symbols",
        "sources",
        "enabled",
    }
)

_NAME = re.compile(r"[a-z0-9][a-z0-9_]{0,62}")
_DURATION = re.compile(r"(?P<number>\d+(?:\.\d+)?|\.\d+)(?P<unit>[smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_PER_SECOND = 1_000_000


# --- reading the rule tables ------------------------------------------------------------------


def _number(value: object, what: str) -> Fraction:
    """A TOML number (int or float, finite, not a boolean) as its exact rational value."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return Fraction(value)


def parse_duration(value: object, what: str, zero_allowed: bool) -> Fraction:
    """A duration in exact seconds: a number of seconds, or "<number><s|m|h|d>".

    Durations are exact decimals as written: "1.5h" is 5400 s, and a float such as 0.1 is read
    as the decimal it was written as (its shortest repr), not as its binary value.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a duration, got {value!r}")
    if isinstance(value, int):
        seconds = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{what} must be finite, got {value!r}")
        seconds = Fraction(repr(value))
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            raise ValueError(f"{what} must be like 90s, 5m, 1.5h, 2d or seconds, got {value!r}")
        seconds = Fraction(match["number"]) * _UNIT_SECONDS[match["unit"]]
    else:
        raise ValueError(f"{what} must be a duration, got {value!r}")
    if seconds < 0 or (seconds == 0 and not zero_allowed):
        raise ValueError(f"{what} must be {'>= 0' if zero_allowed else '> 0'}, got {value!r}")
    return seconds


def _table(value: object, what: str) -> dict[str, Fraction]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a table symbol -> number, got {value!r}")
    return {str(symbol): _number(number, f"{what}.{symbol}") for symbol, number in value.items()}


def _names(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{what} must be a list of strings, got {value!r}")
    return tuple(value)


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{what} must be true or false, got {value!r}")
    return value


def _choice(value: object, allowed: frozenset[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {sorted(allowed)}, got {value!r}")
    assert isinstance(value, str)
    return value


@dataclasses.dataclass(frozen=True)
class Rule:
    """One enabled rule, its durations in exact seconds and its numbers exact."""

    name: str
    condition: str
    metric: str  # "price", "volume_24h", or TRADED for a surge
    threshold: Fraction | None
    thresholds: dict[str, Fraction]
    window: Fraction | None
    baseline: Fraction | None  # a surge's B
    lookback: Fraction | None
    unit: str
    direction: str
    min_samples: int
    recover: Fraction | None
    recover_thresholds: dict[str, Fraction]
    pending: Fraction  # the rule's `for`
    cooldown: Fraction
    repeat: Fraction | None  # None: the global repeat interval
    once: bool
    expires: dt.datetime | None
    symbols: tuple[str, ...] | None
    sources: tuple[str, ...] | None

    def level(self, symbol: str) -> Fraction | None:
        """x for `symbol`: its `thresholds` entry, else `threshold`, else None (not judged)."""
        return self.thresholds.get(symbol, self.threshold)

    def clearing_level(self, symbol: str, level: Fraction) -> Fraction:
        """y for `symbol`: its `recover_thresholds` entry, else `recover`, else x itself."""
        recover = self.recover_thresholds.get(symbol, self.recover)
        return level if recover is None else recover

    def applies(self, tick: Tick) -> bool:
        if self.symbols is not None and not any(
            fnmatch.fnmatchcase(tick.symbol, pattern) for pattern in self.symbols
        ):
            return False
        if self.sources is not None and tick.source not in self.sources:
            return False
        return self.level(tick.symbol) is not None


def _check_levels(rule: Rule) -> None:
    """Every threshold in range, and every recover level strictly on the clearing side of the
    threshold it goes with (checked for each (x, y) pair a symbol can be judged with)."""
    pairs: list[tuple[Fraction, Fraction | None]] = []
    if rule.threshold is not None:
        pairs.append((rule.threshold, rule.recover))
    for symbol, own_level in rule.thresholds.items():
        pairs.append((own_level, rule.recover_thresholds.get(symbol, rule.recover)))
    for symbol, own_recover in rule.recover_thresholds.items():
        symbol_level = rule.level(symbol)
        if symbol_level is not None:
            pairs.append((symbol_level, own_recover))
    for level, recover in pairs:
        if rule.condition not in LEVEL_CONDITIONS and level <= 0:
            raise ValueError(f"rule {rule.name}: thresholds must be > 0, got {level}")
        if recover is None:
            continue
        if rule.condition == "above":
            clearing_side = recover < level
        elif rule.condition == "below":
            clearing_side = recover > level
        else:
            clearing_side = 0 < recover < level
        if not clearing_side:
            raise ValueError(
                f"rule {rule.name}: recover {recover} is not on the clearing side of {level}"
            )


def parse_rule(table: Mapping[str, Any]) -> Rule:
    """One `[[rule]]` table (as tomllib gives it), checked."""
    unknown = set(table) - KEYS
    if unknown:
        raise ValueError(f"unknown rule keys {sorted(unknown)}")
    name = table.get("name")
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise ValueError(f"rule name must match {_NAME.pattern}, got {name!r}")
    condition = _choice(table.get("condition"), CONDITIONS, f"rule {name}: condition")
    _choice(table.get("severity", "warning"), SEVERITIES, f"rule {name}: severity")
    _check_applicable_keys(table, name, condition)

    def duration(key: str, zero_allowed: bool) -> Fraction | None:
        value = table.get(key)
        return None if value is None else parse_duration(value, f"rule {name}: {key}", zero_allowed)

    threshold = table.get("threshold")
    min_samples = table.get("min_samples", 1)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise ValueError(f"rule {name}: min_samples must be a whole number >= 1")
    expires = table.get("expires")
    if expires is not None and (not isinstance(expires, dt.datetime) or expires.tzinfo is None):
        raise ValueError(f"rule {name}: expires must be a TOML datetime with an offset")
    symbols, sources = table.get("symbols"), table.get("sources")
    recover = table.get("recover")
    metric = (
        TRADED
        if condition == SURGE
        else _choice(table.get("metric", "price"), frozenset(METRICS), f"rule {name}: metric")
    )
    rule = Rule(
        name=name,
        condition=condition,
        metric=metric,
        threshold=None if threshold is None else _number(threshold, f"rule {name}: threshold"),
        thresholds=_table(table.get("thresholds", {}), f"rule {name}: thresholds"),
        window=duration("window", False),
        baseline=duration("baseline", False),
        lookback=duration("lookback", False),
        unit=_choice(table.get("unit", "relative"), UNITS, f"rule {name}: unit"),
        direction=_choice(table.get("direction", "either"), DIRECTIONS, f"rule {name}: direction"),
        min_samples=min_samples,
        recover=None if recover is None else _number(recover, f"rule {name}: recover"),
        recover_thresholds=_table(
            table.get("recover_thresholds", {}), f"rule {name}: recover_thresholds"
        ),
        pending=duration("for", True) or Fraction(0),
        cooldown=duration("cooldown", True) or Fraction(0),
        repeat=duration("repeat", True),
        once=_flag(table.get("once", False), f"rule {name}: once"),
        expires=expires,
        symbols=None if symbols is None else _names(symbols, f"rule {name}: symbols"),
        sources=None if sources is None else _names(sources, f"rule {name}: sources"),
    )
    if rule.threshold is None and "thresholds" not in table:
        raise ValueError(f"rule {name}: threshold (or thresholds) is required")
    if rule.condition == SURGE:
        assert rule.window is not None and rule.baseline is not None
        if rule.baseline < 2 * rule.window:
            raise ValueError(f"rule {name}: baseline must be at least 2 x window")
    _check_levels(rule)
    return rule


def _check_applicable_keys(table: Mapping[str, Any], name: str, condition: str) -> None:
    """window for the windowed conditions and surge only, lookback for move only, baseline for
    surge only (each required there); a surge refuses metric, direction, lookback and unit."""
    windowed = condition in WINDOW_CONDITIONS or condition == SURGE
    if windowed != ("window" in table):
        raise ValueError(f"rule {name}: window is required for, and only for, {condition!r}")
    if (condition == "move") != ("lookback" in table):
        raise ValueError(f"rule {name}: lookback is required for, and only for, move")
    if (condition == SURGE) != ("baseline" in table):
        raise ValueError(f"rule {name}: baseline is required for, and only for, surge")
    if condition == SURGE:
        refused = [key for key in SURGE_REFUSED if key in table]
        if refused:
            raise ValueError(f"rule {name}: {refused} are refused for surge")


def parse_rules(tables: Iterable[Mapping[str, Any]]) -> list[Rule]:
    """The enabled rules, in file order; names are unique over all tables."""
    rules: list[Rule] = []
    seen: set[str] = set()
    for table in tables:
        name = table.get("name")
        if isinstance(name, str) and name in seen:
            raise ValueError(f"duplicate rule name {name!r}")
        if isinstance(name, str):
            seen.add(name)
        if _flag(table.get("enabled", True), f"rule {name}: enabled"):
            rules.append(parse_rule({k: v for k, v in table.items() if k != "enabled"}))
    return rules


# --- the decision at a tick --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sample:
    """An earlier tick's metric value (never None) at `micros` (microseconds since the epoch)."""

    micros: int
    value: Fraction


def micros(time: dt.datetime) -> int:
    """`time` (aware) as whole microseconds since the epoch: exact, and exactly comparable."""
    return (time - _EPOCH) // _MICROSECOND


def _elapsed(earlier: int, later: int) -> Fraction:
    """Exact seconds from `earlier` to `later` (microseconds since the epoch)."""
    return Fraction(later - earlier, _PER_SECOND)


def trailing_window(history: list[Sample], now: int, length: Fraction) -> list[Fraction]:
    """The values with time in [now - length, now), found by scanning back from the newest
    (every sample in `history` is older than `now`); `length` in seconds."""
    limit = length * _PER_SECOND  # exact microseconds, possibly fractional
    values: list[Fraction] = []
    for sample in reversed(history):
        if now - sample.micros > limit:
            break
        values.append(sample.value)
    values.reverse()
    return values


def move_reference(history: list[Sample], now: int, lookback: Fraction) -> Fraction | None:
    """The value of the latest sample with time <= now - L, if its time is >= now - 2L."""
    limit = lookback * _PER_SECOND
    for sample in reversed(history):
        age = now - sample.micros
        if age >= limit:
            return sample.value if age <= 2 * limit else None
    return None


def _exceeds(change: Fraction, level: Fraction, direction: str) -> bool:
    """c > x (up), c < -x (down), |c| > x (either)."""
    if direction == "up":
        return change > level
    if direction == "down":
        return change < -level
    return abs(change) > level


def _z_exceeds(diff: Fraction, variance: Fraction, level: Fraction, direction: str) -> bool:
    """z = diff / s against x, with s = sqrt(variance) > 0 and x > 0, squared so it stays exact:
    z > x <=> diff > 0 and diff^2 > x^2 s^2; z < -x <=> diff < 0 and the same; |z| > x <=> the
    square test alone."""
    beyond = diff * diff > level * level * variance
    if direction == "up":
        return diff > 0 and beyond
    if direction == "down":
        return diff < 0 and beyond
    return beyond


def _common_denominator(values: list[Fraction]) -> tuple[list[int], int]:
    """Integers a_i and d with values[i] == a_i / d exactly: exact sums in integer arithmetic,
    much faster than adding Fractions one by one."""
    d = math.lcm(*(value.denominator for value in values))
    return [value.numerator * (d // value.denominator) for value in values], d


def exact_mean(values: list[Fraction]) -> Fraction:
    """The exact arithmetic mean of `values` (not empty)."""
    scaled, d = _common_denominator(values)
    return Fraction(sum(scaled), len(values) * d)


def squared_deviations(values: list[Fraction]) -> Fraction:
    """The exact sum of (y - mean)^2 over `values` (not empty): with y_i = a_i / d, S = sum(a_i)
    and n values, y_i - mean = (n a_i - S) / (n d)."""
    n = len(values)
    scaled, d = _common_denominator(values)
    total = sum(scaled)
    return Fraction(sum((n * a - total) ** 2 for a in scaled), (n * d) ** 2)


def _window_predicate(rule: Rule, v: Fraction, window: list[Fraction]) -> Predicate | None:
    n = len(window)
    if rule.condition == "zscore":
        if n < max(rule.min_samples, 2):
            return None
        mean = exact_mean(window)
        variance = squared_deviations(window) / (n - 1)
        if variance <= 0:
            return None
        return lambda x: _z_exceeds(v - mean, variance, x, rule.direction)
    if n < rule.min_samples:
        return None
    mean = exact_mean(window)
    if mean <= 0:
        return None
    if rule.condition == "ratio_above":
        return lambda x: v > x * mean
    deviation = (v - mean) / mean  # deviation_above
    return lambda x: _exceeds(deviation, x, rule.direction)


def _move_predicate(rule: Rule, v: Fraction, history: list[Sample], now: int) -> Predicate | None:
    assert rule.lookback is not None
    reference = move_reference(history, now, rule.lookback)
    if reference is None:
        return None
    if rule.unit == "relative":
        if reference <= 0:
            return None
        change = (v - reference) / reference
    else:
        change = v - reference
    return lambda x: _exceeds(change, x, rule.direction)


def predicate(rule: Rule, v: Fraction, history: list[Sample], now: int) -> Predicate | None:
    """holds(x) for the tick at `now` with value `v`, or None for no decision; `history` is the
    symbol's earlier samples of the rule's metric, oldest first."""
    if rule.condition == "above":
        return lambda x: v > x
    if rule.condition == "below":
        return lambda x: v < x
    if rule.condition == "move":
        return _move_predicate(rule, v, history, now)
    assert rule.condition in WINDOW_CONDITIONS and rule.window is not None  # surge: its own
    return _window_predicate(rule, v, trailing_window(history, now, rule.window))


def exact_sum(values: list[Fraction]) -> Fraction:
    """The exact sum of `values` (0 for none)."""
    if not values:
        return Fraction(0)
    scaled, d = _common_denominator(values)
    return Fraction(sum(scaled), d)


def surge_spans(
    volumes: list[Sample], now: int, window: Fraction, baseline: Fraction
) -> tuple[list[Fraction], list[Fraction]]:
    """The earlier traded volumes with time in (now - W, now) and in (now - B, now - W], found by
    scanning back from the newest (every sample is older than `now`); W and B in seconds."""
    w, b = window * _PER_SECOND, baseline * _PER_SECOND  # exact microseconds
    recent: list[Fraction] = []
    rest: list[Fraction] = []
    for sample in reversed(volumes):
        age = now - sample.micros  # > 0
        if age >= b:
            break
        (recent if age < w else rest).append(sample.value)
    return recent, rest


def baseline_covered(times: list[int], now: int, window: Fraction, baseline: Fraction) -> bool:
    """Whether one of the symbol's earlier ticks (any, its volume None or not) has its time in
    [now - B - W, now - B]: the history reaches back a whole baseline."""
    w, b = window * _PER_SECOND, baseline * _PER_SECOND
    for earlier in reversed(times):
        age = now - earlier
        if age > b + w:
            return False
        if age >= b:
            return True
    return False


def surge_predicate(
    rule: Rule, v: Fraction, volumes: list[Sample], times: list[int], now: int
) -> tuple[Predicate, Fraction] | None:
    """holds(x) for a surge at `now` with traded volume `v`, and the event value `recent`; or
    None for no decision. `volumes` are the symbol's earlier non-None traded volumes and `times`
    the times of all its earlier ticks, oldest first."""
    assert rule.window is not None and rule.baseline is not None
    w, b = rule.window, rule.baseline
    if not baseline_covered(times, now, w, b):
        return None
    in_window, in_rest = surge_spans(volumes, now, w, b)
    rest = exact_sum(in_rest)
    if len(in_rest) < rule.min_samples or rest <= 0:
        return None
    recent = v + exact_sum(in_window)
    # recent > x * baseline, baseline = rest * W / (B - W), with B - W >= W > 0:
    # recent * (B - W) > x * rest * W
    return (lambda x: recent * (b - w) > x * rest * w), recent


# --- episodes ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Episode:
    """The state of one (rule, symbol); times in microseconds since the epoch."""

    firing: bool = False
    pending_since: int | None = None
    last_notified: int | None = None
    last_resolved: int | None = None
    done: bool = False


def _quiet_step(
    rule: Rule, state: Episode, now: int, time: dt.datetime, holds: Predicate, level: Fraction
) -> bool:
    """A decided tick while not firing: whether it starts an episode (an ALERT)."""
    if rule.once and state.done:
        return False
    if rule.expires is not None and time >= rule.expires:
        state.pending_since = None
        return False
    if (
        rule.cooldown > 0
        and state.last_resolved is not None
        and _elapsed(state.last_resolved, now) < rule.cooldown
    ):
        return False
    if not holds(level):
        state.pending_since = None
        return False
    if rule.pending > 0:
        if state.pending_since is None:
            state.pending_since = now
        if _elapsed(state.pending_since, now) < rule.pending:
            return False
    state.firing, state.last_notified, state.pending_since = True, now, None
    return True


def _firing_step(
    rule: Rule, state: Episode, now: int, holds: Predicate, clearing: Fraction, repeat: Fraction
) -> str | None:
    """A decided tick while firing: RESOLVED, a repeated ALERT, or nothing."""
    if not holds(clearing):
        state.firing, state.last_resolved = False, now
        if rule.once:
            state.done = True
        return RESOLVED
    assert state.last_notified is not None
    if repeat > 0 and not rule.once and _elapsed(state.last_notified, now) >= repeat:
        state.last_notified = now
        return ALERT
    return None


def _metric(tick: Tick, metric: str) -> float | None:
    if metric == TRADED:
        return tick.volume
    return tick.price if metric == "price" else tick.volume_24h


def reference_events(
    rules: list[dict[str, Any]], ticks: Iterable[Tick], repeat_interval: float
) -> list[Event]:
    """Every ALERT and RESOLVED the `rules` (raw `[[rule]]` tables) give on `ticks`, as (event,
    rule name, symbol, tick time, value), in tick order and, within a tick, in rule order; the
    value is the tick's metric value, or for a surge the correctly rounded exact `recent`.
    `repeat_interval` is the global repeat interval in seconds (0: never repeat)."""
    enabled = parse_rules(rules)
    global_repeat = parse_duration(repeat_interval, "repeat_interval", True)
    newest: dict[str, int] = {}
    histories: dict[tuple[str, str], list[Sample]] = {}
    times: dict[str, list[int]] = {}  # every judged tick of a symbol, for a surge's coverage
    states: dict[tuple[str, str], Episode] = {}
    events: list[Event] = []
    for tick in ticks:
        now = micros(tick.time)
        if tick.symbol in newest and now <= newest[tick.symbol]:
            continue  # not newer than the symbol's newest tick: ignored entirely
        newest[tick.symbol] = now
        for rule in enabled:
            value = _metric(tick, rule.metric)
            level = rule.level(tick.symbol)
            if not rule.applies(tick) or value is None or level is None:
                continue
            history = histories.get((tick.symbol, rule.metric), [])
            shown: float = value
            if rule.condition == SURGE:
                earlier = times.get(tick.symbol, [])
                judged = surge_predicate(rule, Fraction(value), history, earlier, now)
                if judged is None:
                    continue  # no decision: nothing changes
                holds, recent = judged
                shown = float(recent)  # Fraction -> float: correctly rounded
            else:
                decided = predicate(rule, Fraction(value), history, now)
                if decided is None:
                    continue  # no decision: nothing changes
                holds = decided
            state = states.setdefault((rule.name, tick.symbol), Episode())
            event: str | None
            if state.firing:
                repeat = global_repeat if rule.repeat is None else rule.repeat
                clearing = rule.clearing_level(tick.symbol, level)
                event = _firing_step(rule, state, now, holds, clearing, repeat)
            else:
                event = ALERT if _quiet_step(rule, state, now, tick.time, holds, level) else None
            if event is not None:
                events.append((event, rule.name, tick.symbol, tick.time, shown))
        times.setdefault(tick.symbol, []).append(now)
        for metric in (*METRICS, TRADED):  # after judging: a tick is never in its own window
            value = _metric(tick, metric)
            if value is not None:
                histories.setdefault((tick.symbol, metric), []).append(Sample(now, Fraction(value)))
    return events
