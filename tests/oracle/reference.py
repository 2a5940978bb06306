"""The independent, slow, exact test oracle for the alert-rule semantics of docs/alerts.md
(version 2 of the rules, with the addendum's `surge` on the traded volume, then the bands, the
indicators on closed candles, the combinations and the silent rules):
written from the specification alone, without reading or importing ``cryptomonitor.alerting``,
it recomputes every trailing window, every surge window and baseline, and every lookback
reference by scanning the symbol's earlier ticks, and decides every comparison (means, ratios,
deviations, moves, z-scores, bands, volume sums, durations) in exact rational arithmetic on the
floats' exact values, so that a difference between it and the engine points at one of the two
rather than at rounding. The indicators (SMA, EMA, RSI of candle closes) are computed with
pandas over the whole history of closes, a computation independent of the engine's; their
comparisons with the levels are exact on the floats pandas gives.
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

import pandas as pd

from cryptomonitor.models import Tick

#: (event, rule name, symbol, time, value): event is "ALERT" or "RESOLVED"; the time is the tick's,
#: or for a rule judged on candles the close of the candle (its bucket + interval); the value is
#: the tick's metric value, except for a surge: the summed traded volume `recent` of its window;
#: for an indicator level: the indicator; for a cross: the fast line; for a combination: the
#: number of its members firing.
Event = tuple[str, str, str, dt.datetime, float]
#: holds(x) at one tick: whether the condition holds against the level x.
Predicate = Callable[[Fraction], bool]

ALERT = "ALERT"
RESOLVED = "RESOLVED"

LEVEL_CONDITIONS = frozenset({"above", "below"})
WINDOW_CONDITIONS = frozenset({"ratio_above", "deviation_above", "zscore"})
DIRECTION_CONDITIONS = frozenset({"move", "deviation_above", "zscore"})
SURGE = "surge"
#: A band of two levels (`band`), or Bollinger's (`window`, `threshold` k standard deviations).
BAND_CONDITIONS = frozenset({"inside", "outside"})
#: A combination of other rules of the file (`of`): all of them firing, or any.
COMBINATIONS = frozenset({"all", "any"})
#: A fast line crossing a slow one, on closed candles.
CROSS = "cross"
CONDITIONS = (
    LEVEL_CONDITIONS | WINDOW_CONDITIONS | BAND_CONDITIONS | COMBINATIONS | {"move", SURGE, CROSS}
)
METRICS = ("price", "volume_24h")
#: The series a surge reads: the tick's traded volume, `Tick.volume` (never a `metric` value).
TRADED = "volume"
#: Keys a surge refuses (present at all, even with their default value).
SURGE_REFUSED = ("metric", "direction", "lookback", "unit")
DIRECTIONS = frozenset({"up", "down", "either"})
CROSS_DIRECTIONS = frozenset({"up", "down"})
UNITS = frozenset({"relative", "absolute"})
SEVERITIES = frozenset({"info", "warning", "critical"})
#: The indicator of a candle's close: "close" itself, or "sma:N", "ema:N", "rsi:N".
CLOSE = "close"
_INDICATOR = re.compile(r"(?P<kind>sma|ema|rsi):(?P<length>[1-9][0-9]*)")
#: The keys every rule takes, whatever its condition.
COMMON_KEYS = frozenset(
    {
        "name",
        "condition",
        "for",
        "cooldown",
        "repeat",
        "once",
        "expires",
        "severity",
        "symbols",
        "sources",
        "enabled",
        "silent",
    }
)
#: The forms of the conditions added to version 2, and the keys each takes beyond COMMON_KEYS
#: (`direction` only for `outside`, not `inside`); a key present that is not among them is
#: refused, even with its default value.
BAND, BOLLINGER, INDICATOR_LEVEL, COMBINATION = "band", "bollinger", "indicator level", "all/any"
FORM_KEYS: dict[str, frozenset[str]] = {
    BAND: frozenset({"metric", "band", "recover_band", "direction"}),
    BOLLINGER: frozenset(
        {
            "metric",
            "window",
            "threshold",
            "thresholds",
            "recover",
            "recover_thresholds",
            "min_samples",
            "direction",
        }
    ),
    INDICATOR_LEVEL: frozenset(
        {"metric", "interval", "threshold", "thresholds", "recover", "recover_thresholds"}
    ),
    CROSS: frozenset({"fast", "slow", "interval", "direction", "threshold", "recover"}),
    COMBINATION: frozenset({"of"}),
}
#: The keys each new form requires.
FORM_REQUIRED: dict[str, tuple[str, ...]] = {
    BAND: ("band",),
    BOLLINGER: ("window",),
    INDICATOR_LEVEL: ("interval",),
    CROSS: ("fast", "slow", "interval", "direction"),
    COMBINATION: ("of",),
}
#: Keys only the new forms take: refused on the conditions of version 2.
NEW_FORM_KEYS = ("band", "recover_band", "interval", "fast", "slow", "of")
KEYS = frozenset(
    {
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
        *NEW_FORM_KEYS,
    }
    | COMMON_KEYS
)

_NAME = re.compile(r"[a-z0-9][a-z0-9_]{0,62}")
_DURATION = re.compile(r"(?P<number>\d+(?:\.\d+)?|\.\d+)(?P<unit>[smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_PER_SECOND = 1_000_000
_DAY_SECONDS = 86400


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


def _band(value: object, what: str) -> tuple[Fraction, Fraction]:
    """[low, high]: two finite numbers, low < high."""
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(f"{what} must be [low, high], two numbers, got {value!r}")
    low, high = _number(value[0], f"{what}[0]"), _number(value[1], f"{what}[1]")
    if not low < high:
        raise ValueError(f"{what} must have low < high, got {value!r}")
    return low, high


def parse_interval(value: object, what: str) -> int:
    """A candle interval in microseconds: a duration of whole minutes that divides a day."""
    seconds = parse_duration(value, what, zero_allowed=False)
    if seconds % 60 != 0 or _DAY_SECONDS % seconds != 0:
        raise ValueError(
            f"{what} must be whole minutes dividing a day (1m, 5m, 15m, 1h, ...), got {value!r}"
        )
    return int(seconds * _PER_SECOND)


def parse_indicator(value: object, what: str, kinds: tuple[str, ...]) -> str:
    """An indicator's name: CLOSE, or "<kind>:N" with N a whole number >= 1 (>= 2 for rsi), of
    one of the `kinds`."""
    allowed = " or ".join(CLOSE if kind == CLOSE else f"{kind}:N" for kind in kinds)
    if value == CLOSE and CLOSE in kinds:
        return CLOSE
    match = _INDICATOR.fullmatch(value) if isinstance(value, str) else None
    if match is None or match["kind"] not in kinds:
        raise ValueError(f"{what} must be {allowed}, got {value!r}")
    if match["kind"] == "rsi" and int(match["length"]) < 2:
        raise ValueError(f"{what}: rsi:N needs N >= 2, got {value!r}")
    assert isinstance(value, str)
    return value


def _is_indicator(value: object) -> bool:
    """Whether a `metric` names an indicator (then read as one, and refused if malformed)."""
    return isinstance(value, str) and value.partition(":")[0] in ("sma", "ema", "rsi")


@dataclasses.dataclass(frozen=True)
class Rule:
    """One enabled rule, its durations in exact seconds and its numbers exact."""

    name: str
    condition: str
    metric: str  # "price", "volume_24h", TRADED for a surge, or an indicator ("rsi:14")
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
    band: tuple[Fraction, Fraction] | None = None  # inside/outside: [L, H]
    recover_band: tuple[Fraction, Fraction] | None = None
    interval: int | None = None  # judged on closed candles of this many microseconds
    fast: str | None = None  # a cross's lines
    slow: str | None = None
    members: tuple[str, ...] = ()  # a combination's `of`
    silent: bool = False

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
        if self.band is not None or self.condition in COMBINATIONS:
            return True  # no threshold: judged for every symbol in scope
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
        if rule.condition == CROSS:
            if not 0 <= level < 1:
                raise ValueError(f"rule {rule.name}: a cross's threshold must be in [0, 1)")
        elif rule.condition not in LEVEL_CONDITIONS and level <= 0:
            raise ValueError(f"rule {rule.name}: thresholds must be > 0, got {level}")
        if recover is not None and not _on_clearing_side(rule.condition, level, recover):
            raise ValueError(
                f"rule {rule.name}: recover {recover} is not on the clearing side of {level}"
            )


def _on_clearing_side(condition: str, level: Fraction, recover: Fraction) -> bool:
    """below an above's level, above a below's, more deviations than an inside's k (a wider
    Bollinger band), between -1 and a cross's margin, between 0 and the threshold otherwise."""
    if condition == "above":
        return recover < level
    if condition in ("below", "inside"):
        return recover > level
    if condition == CROSS:
        return -1 < recover < level
    return 0 < recover < level


def _check_recover_band(rule: Rule) -> None:
    """An outside's recover_band within its band (low <= l2, h2 <= high), an inside's around it
    (l2 <= low, high <= h2): clearing needs at least the way back to the band."""
    if rule.band is None or rule.recover_band is None:
        return
    (low, high), (l2, h2) = rule.band, rule.recover_band
    if rule.condition == "outside" and not (low <= l2 and h2 <= high):
        raise ValueError(f"rule {rule.name}: an outside's recover_band must lie within its band")
    if rule.condition == "inside" and not (l2 <= low and high <= h2):
        raise ValueError(f"rule {rule.name}: an inside's recover_band must contain its band")


def _form(table: Mapping[str, Any], condition: str) -> str | None:
    """The form of a condition added to version 2 (a key of FORM_KEYS), or None for a
    condition of version 2 (an `above` on a metric that is no indicator included)."""
    if condition in BAND_CONDITIONS:
        return BAND if "band" in table else BOLLINGER
    if condition in COMBINATIONS:
        return COMBINATION
    if condition == CROSS:
        return CROSS
    if condition in LEVEL_CONDITIONS and _is_indicator(table.get("metric")):
        return INDICATOR_LEVEL
    return None


def _check_form_keys(table: Mapping[str, Any], name: str, condition: str, form: str) -> None:
    """The keys of FORM_KEYS[form] and COMMON_KEYS only (`direction` not on an inside), and
    the form's FORM_REQUIRED ones."""
    allowed = COMMON_KEYS | FORM_KEYS[form]
    if condition == "inside":
        allowed -= {"direction"}
    refused = sorted(set(table) - allowed)
    if refused:
        raise ValueError(f"rule {name}: {refused} are refused for {condition} ({form})")
    missing = [key for key in FORM_REQUIRED[form] if key not in table]
    if form == BOLLINGER and missing:
        raise ValueError(f"rule {name}: {condition} needs a band, or a window (Bollinger's)")
    if missing:
        raise ValueError(f"rule {name}: {missing} are required for {condition} ({form})")


def _metric_of(table: Mapping[str, Any], name: str, condition: str, form: str | None) -> str:
    what = f"rule {name}: metric"
    if condition == SURGE:
        return TRADED
    if form == INDICATOR_LEVEL:
        return parse_indicator(table.get("metric"), what, ("sma", "ema", "rsi"))
    if form in (CROSS, COMBINATION):
        return "price"  # unused: a cross reads candles of prices, a combination its members
    return _choice(table.get("metric", "price"), frozenset(METRICS), what)


def _direction_of(table: Mapping[str, Any], name: str, condition: str) -> str:
    what = f"rule {name}: direction"
    if condition == CROSS:
        return _choice(table.get("direction"), CROSS_DIRECTIONS, what)
    return _choice(table.get("direction", "either"), DIRECTIONS, what)


def _members(table: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A combination's `of`: two or more distinct names of other rules (whether they exist is
    for parse_rules to say)."""
    if "of" not in table:
        return ()
    members = _names(table["of"], f"rule {name}: of")
    if len(members) < 2 or len(set(members)) != len(members) or name in members:
        raise ValueError(
            f"rule {name}: of must list two or more distinct other rules, got {list(members)}"
        )
    return members


def _threshold_of(table: Mapping[str, Any], name: str, condition: str) -> Fraction | None:
    threshold = table.get("threshold")
    if threshold is None:
        return Fraction(0) if condition == CROSS else None  # a cross's margin: 0 by default
    return _number(threshold, f"rule {name}: threshold")


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
    form = _form(table, condition)
    if form is None:
        _check_applicable_keys(table, name, condition)
    else:
        _check_form_keys(table, name, condition, form)

    def duration(key: str, zero_allowed: bool) -> Fraction | None:
        value = table.get(key)
        return None if value is None else parse_duration(value, f"rule {name}: {key}", zero_allowed)

    def band(key: str) -> tuple[Fraction, Fraction] | None:
        return None if key not in table else _band(table[key], f"rule {name}: {key}")

    def line(key: str, kinds: tuple[str, ...]) -> str | None:
        return (
            None if key not in table else parse_indicator(table[key], f"rule {name}: {key}", kinds)
        )

    min_samples = table.get("min_samples", 1)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise ValueError(f"rule {name}: min_samples must be a whole number >= 1")
    expires = table.get("expires")
    if expires is not None and (not isinstance(expires, dt.datetime) or expires.tzinfo is None):
        raise ValueError(f"rule {name}: expires must be a TOML datetime with an offset")
    symbols, sources = table.get("symbols"), table.get("sources")
    recover = table.get("recover")
    rule = Rule(
        name=name,
        condition=condition,
        metric=_metric_of(table, name, condition, form),
        threshold=_threshold_of(table, name, condition),
        thresholds=_table(table.get("thresholds", {}), f"rule {name}: thresholds"),
        window=duration("window", False),
        baseline=duration("baseline", False),
        lookback=duration("lookback", False),
        unit=_choice(table.get("unit", "relative"), UNITS, f"rule {name}: unit"),
        direction=_direction_of(table, name, condition),
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
        band=band("band"),
        recover_band=band("recover_band"),
        interval=None
        if "interval" not in table
        else parse_interval(table["interval"], f"rule {name}: interval"),
        fast=line("fast", (CLOSE, "sma", "ema")),
        slow=line("slow", ("sma", "ema")),
        members=_members(table, name),
        silent=_flag(table.get("silent", False), f"rule {name}: silent"),
    )
    _check_rule(rule, table, form)
    return rule


def _check_rule(rule: Rule, table: Mapping[str, Any], form: str | None) -> None:
    """The checks across keys of a rule read."""
    if form in (None, BOLLINGER, INDICATOR_LEVEL) and (
        rule.threshold is None and "thresholds" not in table
    ):
        raise ValueError(f"rule {rule.name}: threshold (or thresholds) is required")
    if rule.condition == SURGE:
        assert rule.window is not None and rule.baseline is not None
        if rule.baseline < 2 * rule.window:
            raise ValueError(f"rule {rule.name}: baseline must be at least 2 x window")
    _check_levels(rule)
    _check_recover_band(rule)


def _check_applicable_keys(table: Mapping[str, Any], name: str, condition: str) -> None:
    """For the conditions of version 2: window for the windowed conditions and surge only,
    lookback for move only, baseline for surge only (each required there); a surge refuses
    metric, direction, lookback and unit; the keys of the later forms are refused."""
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
    later = [key for key in NEW_FORM_KEYS if key in table]
    if later:
        raise ValueError(f"rule {name}: {later} are refused for {condition}")


def parse_rules(tables: Iterable[Mapping[str, Any]]) -> list[Rule]:
    """The enabled rules, in file order; names are unique over all tables; the members of a
    combination are enabled rules of the same tables."""
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
    enabled = {rule.name for rule in rules}
    for rule in rules:
        for member in rule.members:
            if member not in enabled:
                state = "disabled" if member in seen else "not a rule of the file"
                raise ValueError(f"rule {rule.name}: member {member!r} is {state}")
    return rules


def evaluation_order(rules: list[Rule]) -> list[Rule]:
    """The order the rules are judged in at a tick: file order, except that a combination comes
    after all of its members, recursively (a stable topological order: each time the first rule
    in file order not placed yet whose members all are); a cycle of combinations is an error."""
    order: list[Rule] = []
    placed: set[str] = set()
    waiting = list(rules)
    while waiting:
        ready = next((r for r in waiting if all(m in placed for m in r.members)), None)
        if ready is None:
            raise ValueError(f"combinations in a cycle: {sorted(r.name for r in waiting)}")
        order.append(ready)
        placed.add(ready.name)
        waiting.remove(ready)
    return order


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


def _bollinger_predicate(rule: Rule, v: Fraction, window: list[Fraction]) -> Predicate | None:
    """holds(k) of a Bollinger band, with m and s the mean and the sample standard deviation of
    the window: outside: v - m > k s (up), m - v > k s (down), |v - m| > k s (either); inside:
    |v - m| <= k s. Squared as for a z-score (k > 0, s > 0)."""
    n = len(window)
    if n < max(rule.min_samples, 2):
        return None
    mean = exact_mean(window)
    variance = squared_deviations(window) / (n - 1)
    if variance <= 0:
        return None
    if rule.condition == "inside":
        return lambda k: not _z_exceeds(v - mean, variance, k, "either")
    return lambda k: _z_exceeds(v - mean, variance, k, rule.direction)


def band_holds(
    condition: str, direction: str, v: Fraction, band: tuple[Fraction, Fraction]
) -> bool:
    """outside [L, H]: v > H (up), v < L (down), either; inside: L <= v <= H."""
    low, high = band
    if condition == "inside":
        return low <= v <= high
    if direction == "up":
        return v > high
    if direction == "down":
        return v < low
    return v > high or v < low


def predicate(rule: Rule, v: Fraction, history: list[Sample], now: int) -> Predicate | None:
    """holds(x) for the tick at `now` with value `v`, or None for no decision; `history` is the
    symbol's earlier samples of the rule's metric, oldest first. (Not for a band of two levels:
    band_holds.)"""
    if rule.condition == "above":
        return lambda x: v > x
    if rule.condition == "below":
        return lambda x: v < x
    if rule.condition == "move":
        return _move_predicate(rule, v, history, now)
    if rule.condition in BAND_CONDITIONS:
        assert rule.window is not None
        return _bollinger_predicate(rule, v, trailing_window(history, now, rule.window))
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


# --- candles and indicators --------------------------------------------------------------------


@dataclasses.dataclass
class Candles:
    """A symbol's candles of one interval: the open one (its bucket, the start in microseconds
    since the epoch, and its close so far: the price of its latest tick) and the closes of the
    closed ones, oldest first. Only buckets with ticks have a candle."""

    bucket: int
    close: float
    closes: list[float] = dataclasses.field(default_factory=list)


def feed_candles(
    candles: dict[tuple[str, int], Candles], tick: Tick, now: int, intervals: Iterable[int]
) -> dict[int, int]:
    """Adds the tick (newer than its symbol's newest) to its symbol's candles of every interval;
    returns interval -> the bucket b of the candle it closed (one, even after a gap)."""
    closed: dict[int, int] = {}
    for interval in intervals:
        bucket = now - now % interval
        series = candles.get((tick.symbol, interval))
        if series is None:
            candles[(tick.symbol, interval)] = Candles(bucket, tick.price)
        elif bucket > series.bucket:
            series.closes.append(series.close)
            closed[interval] = series.bucket
            series.bucket, series.close = bucket, tick.price
        else:
            series.close = tick.price
    return closed


def _seeded_average(values: pd.Series, length: int, alpha: float) -> float:
    """TradingView's recursive averages (ta.ema, ta.rma) at the last value: the seed is the mean
    of the first `length` values, then a = alpha * x + (1 - alpha) * a for each later x."""
    seed = values.iloc[:length].mean()
    series = pd.concat([pd.Series([seed]), values.iloc[length:]], ignore_index=True)
    return float(series.ewm(alpha=alpha, adjust=False).mean().iloc[-1])


def _rsi(closes: pd.Series, length: int) -> float | None:
    changes = closes.diff().iloc[1:]
    if len(changes) < length:
        return None
    gain = _seeded_average(changes.clip(lower=0), length, 1 / length)
    loss = _seeded_average((-changes).clip(lower=0), length, 1 / length)
    if loss == 0:
        return 100.0 if gain > 0 else None
    return 100 - 100 / (1 + gain / loss)


def indicator(closes: list[float], name: str) -> float | Fraction | None:
    """The indicator `name` (CLOSE, "sma:N", "ema:N", "rsi:N") over the closes of all the closed
    candles (oldest first) at the last of them, computed with pandas over the whole history (an
    SMA exactly, a Fraction: a close often equals the mean of its neighbours in decimal, and
    the comparison of a close with its SMA must not depend on how a float rounds it); None when
    there are too few closes (fewer than N; N + 1 for rsi) or no RSI (no change)."""
    if name == CLOSE:
        return closes[-1]
    kind, _, text = name.partition(":")
    length = int(text)
    series = pd.Series(closes, dtype="float64")
    if kind == "rsi":
        return _rsi(series, length)
    if len(series) < length:
        return None
    if kind == "sma":
        return sum((Fraction(c) for c in closes[-length:]), Fraction(0)) / length
    return _seeded_average(series, length, 2 / (length + 1))  # ema


# --- episodes ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Episode:
    """The state of one (rule, symbol); times in microseconds since the epoch."""

    firing: bool = False
    pending_since: int | None = None
    last_notified: int | None = None
    last_resolved: int | None = None
    done: bool = False


@dataclasses.dataclass(frozen=True)
class Decision:
    """A rule's decision for a symbol: whether its condition holds at the alert level and at
    the clearing level, the event's value, and the decision's time (the tick's, or the close of
    a candle) as microseconds since the epoch and as a datetime."""

    holds: bool
    still: bool
    value: float
    now: int
    time: dt.datetime
    #: A cross: whether it may open an episode (a quiet rule with no pending period running):
    #: it holds AND the candle before had both lines and did not hold at the alert level.
    opens: bool | None = None


def _quiet_step(rule: Rule, state: Episode, now: int, time: dt.datetime, holds: bool) -> bool:
    """A decision while not firing: whether it starts an episode (an ALERT)."""
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
    if not holds:
        state.pending_since = None
        return False
    if rule.pending > 0:
        if state.pending_since is None:
            state.pending_since = now
        if _elapsed(state.pending_since, now) < rule.pending:
            return False
    state.firing, state.last_notified, state.pending_since = True, now, None
    return True


def _firing_step(rule: Rule, state: Episode, now: int, still: bool, repeat: Fraction) -> str | None:
    """A decision while firing: RESOLVED, a repeated ALERT, or nothing."""
    if not still:
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


def _from_micros(at: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=at)


@dataclasses.dataclass
class _Oracle:
    """The state of one run over the ticks: the symbols' earlier samples and ticks, their
    candles, and the episodes of every (rule, symbol)."""

    rules: list[Rule]  # in evaluation order
    global_repeat: Fraction
    newest: dict[str, int] = dataclasses.field(default_factory=dict)
    histories: dict[tuple[str, str], list[Sample]] = dataclasses.field(default_factory=dict)
    times: dict[str, list[int]] = dataclasses.field(default_factory=dict)  # a surge's coverage
    candles: dict[tuple[str, int], Candles] = dataclasses.field(default_factory=dict)
    states: dict[tuple[str, str], Episode] = dataclasses.field(default_factory=dict)

    def intervals(self) -> list[int]:
        return sorted({rule.interval for rule in self.rules if rule.interval is not None})

    def judge(self, tick: Tick) -> list[Event]:
        """The events of one tick, in evaluation order (silent rules' left out)."""
        now = micros(tick.time)
        if tick.symbol in self.newest and now <= self.newest[tick.symbol]:
            return []  # not newer than the symbol's newest tick: ignored entirely
        self.newest[tick.symbol] = now
        closed = feed_candles(self.candles, tick, now, self.intervals())
        lines: dict[
            tuple[int, str], float | Fraction | None
        ] = {}  # the indicators of the closed candles
        events: list[Event] = []
        for rule in self.rules:
            if not rule.applies(tick):
                continue
            decision = self.decide(rule, tick, now, closed, lines)
            if decision is None:
                continue  # no decision: nothing changes
            event = self.step(rule, tick.symbol, decision)
            if event is not None and not rule.silent:
                events.append((event, rule.name, tick.symbol, decision.time, decision.value))
        self.times.setdefault(tick.symbol, []).append(now)
        for metric in (*METRICS, TRADED):  # after judging: a tick is never in its own window
            value = _metric(tick, metric)
            if value is not None:
                sample = Sample(now, Fraction(value))
                self.histories.setdefault((tick.symbol, metric), []).append(sample)
        return events

    def step(self, rule: Rule, symbol: str, decision: Decision) -> str | None:
        state = self.states.setdefault((rule.name, symbol), Episode())
        if state.firing:
            repeat = self.global_repeat if rule.repeat is None else rule.repeat
            return _firing_step(rule, state, decision.now, decision.still, repeat)
        holds = decision.holds
        if decision.opens is not None and state.pending_since is None:
            holds = decision.opens  # only a cross opens an episode
        started = _quiet_step(rule, state, decision.now, decision.time, holds)
        return ALERT if started else None

    def decide(
        self,
        rule: Rule,
        tick: Tick,
        now: int,
        closed: dict[int, int],
        lines: dict[tuple[int, str], float | Fraction | None],
    ) -> Decision | None:
        """The rule's decision at this tick (None: none): a combination's at every tick, a
        candle rule's when the tick closed a candle of its interval (`closed`), the others' on
        the tick's value; `lines` keeps the indicators computed at this tick."""
        if rule.condition in COMBINATIONS:
            return self.combination(rule, tick, now)
        if rule.interval is None:
            return self.on_tick(rule, tick, now)
        if rule.interval not in closed:
            return None  # judged at the close of a candle only
        interval = rule.interval
        closes = self.candles[(tick.symbol, interval)].closes

        def line(name: str, back: int = 0) -> float | Fraction | None:
            """The indicator at this candle (`back` 1: at the candle before), computed once per
            candle closed whatever the rules reading it."""
            key = (interval, f"{name}@{back}")
            if key not in lines:
                lines[key] = indicator(closes[: len(closes) - back], name)
            return lines[key]

        return _on_candle(rule, tick.symbol, closed[interval] + interval, line)

    def combination(self, rule: Rule, tick: Tick, now: int) -> Decision:
        """count: the members firing for the symbol right after their decisions at this tick
        (judged before it); all: count = len(of), any: count >= 1."""
        count = sum(
            1
            for member in rule.members
            if (state := self.states.get((member, tick.symbol))) is not None and state.firing
        )
        holds = count == len(rule.members) if rule.condition == "all" else count >= 1
        return Decision(holds, holds, float(count), now, tick.time)

    def on_tick(self, rule: Rule, tick: Tick, now: int) -> Decision | None:
        """A condition of the tick's metric value (no decision without one)."""
        value = _metric(tick, rule.metric)
        if value is None:
            return None
        v = Fraction(value)
        if rule.band is not None:
            clearing = rule.band if rule.recover_band is None else rule.recover_band
            holds = band_holds(rule.condition, rule.direction, v, rule.band)
            still = band_holds(rule.condition, rule.direction, v, clearing)
            return Decision(holds, still, value, now, tick.time)
        level = rule.level(tick.symbol)
        assert level is not None  # rule.applies
        clearing_level = rule.clearing_level(tick.symbol, level)
        history = self.histories.get((tick.symbol, rule.metric), [])
        shown: float = value
        if rule.condition == SURGE:
            earlier = self.times.get(tick.symbol, [])
            judged = surge_predicate(rule, v, history, earlier, now)
            if judged is None:
                return None
            holds_at, recent = judged
            shown = float(recent)  # Fraction -> float: correctly rounded
        else:
            decided = predicate(rule, v, history, now)
            if decided is None:
                return None
            holds_at = decided
        return Decision(holds_at(level), holds_at(clearing_level), shown, now, tick.time)


def cross_predicate(direction: str, fast: Fraction, slow: Fraction) -> Predicate:
    """holds(L) of a cross (slow > 0): F - S > L S (up), S - F > L S (down)."""
    if direction == "up":
        return lambda margin: fast - slow > margin * slow
    return lambda margin: slow - fast > margin * slow


def _on_candle(
    rule: Rule, symbol: str, close: int, line: Callable[[str, int], float | Fraction | None]
) -> Decision | None:
    """An indicator level or a cross at the close of a candle (at `close`, its bucket + the
    interval); `line(name)` is the indicator `name` of the closes up to this candle's."""
    level = rule.level(symbol)
    assert level is not None  # rule.applies
    clearing_level = rule.clearing_level(symbol, level)
    if rule.condition == CROSS:
        assert rule.fast is not None and rule.slow is not None
        fast, slow = line(rule.fast, 0), line(rule.slow, 0)
        if fast is None or slow is None or slow <= 0:
            return None
        holds_at = cross_predicate(rule.direction, Fraction(fast), Fraction(slow))
        shown = float(fast)
        before_fast, before_slow = line(rule.fast, 1), line(rule.slow, 1)
        crossed = (
            before_fast is not None
            and before_slow is not None
            and not cross_predicate(rule.direction, Fraction(before_fast), Fraction(before_slow))(
                level
            )
        )
        time = _from_micros(close)
        held = holds_at(level)
        return Decision(held, holds_at(clearing_level), shown, close, time, held and crossed)
    else:
        value = line(rule.metric, 0)
        if value is None:
            return None
        decided = predicate(rule, Fraction(value), [], close)  # above / below
        assert decided is not None
        holds_at, shown = decided, float(value)
    time = _from_micros(close)
    return Decision(holds_at(level), holds_at(clearing_level), shown, close, time)


def reference_events(
    rules: list[dict[str, Any]], ticks: Iterable[Tick], repeat_interval: float
) -> list[Event]:
    """Every ALERT and RESOLVED the `rules` (raw `[[rule]]` tables) give on `ticks`, as (event,
    rule name, symbol, time, value), in tick order and, within a tick, in evaluation order
    (file order, a combination after its members), the silent rules' left out; the time is the
    tick's, or for a rule on candles the close of the candle the tick closed; the value is the
    tick's metric value, for a surge the correctly rounded exact `recent`, for an indicator
    level the indicator, for a cross the fast line, for a combination the members firing.
    `repeat_interval` is the global repeat interval in seconds (0: never repeat)."""
    oracle = _Oracle(
        evaluation_order(parse_rules(rules)),
        parse_duration(repeat_interval, "repeat_interval", True),
    )
    events: list[Event] = []
    for tick in ticks:
        events += oracle.judge(tick)
    return events
