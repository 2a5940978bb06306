"""Alert rules: what is compared with what, when an episode opens and clears, loaded from TOML
or the built-in defaults. docs/alerts.md defines every condition and modifier exactly.

A rule judges every new tick of a symbol (in tick-time order) by one condition on one metric
(price, or the rolling 24-hour volume):

- ``above`` / ``below``: the value against a fixed level;
- ``move``: the change from the reference, the last tick at or before ``t - lookback`` (and
  not older than ``t - 2 x lookback``), relative or absolute, up, down or either;
- ``ratio_above``: value > threshold x the average of the trailing window ``[t - window, t)``;
- ``deviation_above``: (value - average) / average beyond the threshold, up, down or either;
- ``zscore``: (value - mean) / sample standard deviation of the trailing window beyond it;
- ``all`` / ``any``: the named rules (``of``) all / any firing for the symbol at this tick;
- ``surge``: the TRADED volume of ``(t - window, t]`` over threshold x its average per window
  over the rest of a longer ``baseline`` (``(t - baseline, t - window]``);
- ``inside`` / ``outside``: the value within / beyond a ``band`` of two levels, or of the
  trailing window's mean +/- threshold x its standard deviation (Bollinger-style);
- ``above`` / ``below`` on an indicator (``metric = "rsi:14"``, ``"ema:20"``, ``"sma:50"``) and
  ``cross`` (a ``fast`` average or the close against a ``slow`` one): judged on the closes of
  closed candles of an ``interval`` when a candle closes (`cryptomonitor.alerting.candles`,
  `cryptomonitor.alerting.indicators`).

Modifiers shape the episodes (`cryptomonitor.alerting.episodes`): ``for`` (a pending period),
``recover`` (hysteresis), ``cooldown``, ``repeat``, ``once`` and ``expires``, ``severity``;
``symbols`` (names or globs), ``sources`` and per-symbol ``thresholds`` scope a rule.

Every problem in a rules file is a `ConfigError` naming the file, the line, the rule and the
key; a rule with an error never reaches the engine.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import math
import pathlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from cryptomonitor.alerting import indicators
from cryptomonitor.config import values
from cryptomonitor.exceptions import ConfigError, RuleKeyError

METRICS = ("price", "volume_24h")
LEVELS = ("above", "below")
TRAILING = ("ratio_above", "deviation_above", "zscore")
COMBINED = ("all", "any")
CHANNEL = ("inside", "outside")
CROSS = "cross"
CONDITIONS = (*LEVELS, "move", *TRAILING, "surge", *CHANNEL, CROSS, *COMBINED)
#: The metric of a surge: the volume traded in each tick's interval (``ticks.volume``).
TRADED = "volume"
#: The metric word of a combination's lines: it judges rules, not a value.
RULES_METRIC = "rules"
DIRECTIONS = ("up", "down", "either")
UNITS = ("relative", "absolute")
SEVERITIES = ("info", "warning", "critical")
_RULE_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,62}$")
_SYMBOL_PATTERN = re.compile(r"^[A-Za-z0-9._*?\[\]!/-]{1,100}$")


@dataclasses.dataclass(frozen=True, eq=True)
class Rule:
    """One rule, validated (`load` builds them; the engine compiles them once)."""

    name: str
    metric: str
    window: float  # seconds; 0 for a condition without a trailing window
    condition: str
    threshold: float | None  # the default threshold; None when only `thresholds` gives them
    min_samples: int = 1
    enabled: bool = True
    direction: str = "either"
    lookback: float = 0.0  # seconds, for `move`
    unit: str = "relative"  # for `move`
    recover: float | None = None
    thresholds: Mapping[str, float] = dataclasses.field(default_factory=dict)
    recover_thresholds: Mapping[str, float] = dataclasses.field(default_factory=dict)
    pending: float = 0.0  # the `for` key, seconds
    cooldown: float = 0.0
    repeat: float | None = None  # None: the global repeat interval; 0: never
    once: bool = False
    expires: dt.datetime | None = None
    severity: str = "warning"
    symbols: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    baseline: float = 0.0  # seconds, for `surge`
    of: tuple[str, ...] = ()  # the members of `all` / `any`
    silent: bool = False  # judged (its state kept, for combinations), but raises no event
    interval: float = 0.0  # seconds: the candles of an indicator rule (0: judged per tick)
    fast: str = ""  # an indicator rule's indicator (``rsi:14``), a cross's fast one (``close``)
    slow: str = ""  # a cross's slow average (``ema:21``)
    band: tuple[float, float] | None = None  # inside / outside: the two levels
    recover_band: tuple[float, float] | None = None  # ... and the band that clears them

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def samples_needed(self) -> int:
        """The fewest window values that decide: a standard deviation needs two."""
        return max(self.min_samples, 2) if self.spread else self.min_samples

    @property
    def spread(self) -> bool:
        """Whether the rule reads its window's standard deviation (a z-score, a Bollinger band)."""
        return self.condition == "zscore" or (self.condition in CHANNEL and self.band is None)

    @property
    def spans(self) -> tuple[int, int]:
        """An indicator rule's candles read, fast and slow (0: none), its warm-up."""
        if not self.interval:
            return 0, 0
        fast = indicators.warmup(*indicators.parse(self.fast))
        slow = indicators.warmup(*indicators.parse(self.slow)) if self.slow else 0
        return fast, slow

    @property
    def lengths(self) -> tuple[float, ...]:
        """The trailing windows (seconds) the rule reads: its window, or for a move the
        span its reference may come from (twice the lookback)."""
        if self.condition in TRAILING or (self.condition in CHANNEL and self.band is None):
            return (self.window,)
        if self.condition == "move":
            return (2 * self.lookback,)
        if self.condition == "surge":  # (t - W, t), (t - B, t), and B's coverage
            return (self.window - 1e-6, self.baseline - 1e-6, self.baseline + self.window)
        return ()

    def threshold_for(self, symbol: str) -> float | None:
        return self.thresholds.get(symbol, self.threshold)

    def recover_for(self, symbol: str) -> float | None:
        return self.recover_thresholds.get(symbol, self.recover)

    def applies(self, symbol: str, source: str) -> bool:
        """Whether the rule judges `symbol`'s ticks from `source`."""
        if self.sources and source not in self.sources:
            return False
        if self.symbols and not any(fnmatch.fnmatchcase(symbol, p) for p in self.symbols):
            return False
        return self.threshold_for(symbol) is not None

    def holds(self, delta: float, scale: float, x: float, clearing: bool = False) -> bool:
        """The condition at threshold `x`, from the engine's figures: for a level, `delta` is
        the value; otherwise the signed distance (value - reference) and `scale` what the
        threshold is a multiple of (the average, the standard deviation, the reference, 1).
        A band of levels (inside / outside) reads the value as `delta`, and its own band, or
        when `clearing` a firing episode its recovery band, instead of `x`."""
        condition = self.condition
        if condition == "above":
            return delta > x
        if condition == "below":
            return delta < x
        if condition in ("ratio_above", "surge"):
            return delta > x * scale
        if condition in COMBINED:  # delta: the members firing; x: how many must be
            return delta >= x
        if condition in CHANNEL:
            return self._in_channel(delta, scale, x, clearing)
        if self.direction == "up":
            return delta > x * scale
        if self.direction == "down":
            return -delta > x * scale
        return abs(delta) > x * scale

    def _in_channel(self, delta: float, scale: float, x: float, clearing: bool) -> bool:
        band = self.recover_band if clearing and self.recover_band else self.band
        if band is not None:  # delta: the value
            above, below = delta > band[1], delta < band[0]
        else:  # delta: value - mean; scale: the standard deviation
            above, below = delta > x * scale, -delta > x * scale
        outside = (
            above
            if self.direction == "up"
            else below
            if self.direction == "down"
            else (above or below)
        )
        return outside if self.condition == "outside" else not outside


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("price_3x_1h", "price", 3600.0, "ratio_above", 3.0, 10, recover=2.5),
    Rule("volume_3x_1h", "volume_24h", 3600.0, "ratio_above", 3.0, 10, recover=2.5),
    Rule("price_2pct_5m", "price", 300.0, "deviation_above", 0.02, 3, recover=0.015),
    Rule("volume_2pct_5m", "volume_24h", 300.0, "deviation_above", 0.02, 3, recover=0.015),
)

_KEYS = {
    "name",
    "metric",
    "window",
    "condition",
    "threshold",
    "thresholds",
    "min_samples",
    "enabled",
    "direction",
    "lookback",
    "unit",
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
    "baseline",
    "of",
    "silent",
    "interval",
    "fast",
    "slow",
    "band",
    "recover_band",
}


def load(path: pathlib.Path | None) -> tuple[Rule, ...]:
    """The enabled rules of the TOML file at `path`, or the defaults when `path` is None.

    The file holds ``[[rule]]`` tables; see ``rules.example.toml`` and docs/alerts.md. Any
    problem raises `ConfigError` naming the file, the line, the rule and the key.
    """
    if path is None:
        return DEFAULT_RULES
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"CRYPTOMONITOR_RULES_FILE: cannot read {path}: {exc}") from exc
    return tuple(r for r in loads(text, str(path)) if r.enabled)


def loads(text: str, origin: str = "<rules>") -> tuple[Rule, ...]:
    """Every rule of a rules file's `text` (disabled ones included), validated; `origin`
    names the file in errors."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML: {exc}") from exc
    extra = set(document) - {"rule"}
    if extra:
        raise ConfigError(f"{origin}: unknown top-level key(s) {sorted(extra)}; expected [[rule]]")
    tables = document.get("rule", [])
    if not isinstance(tables, list):
        raise ConfigError(f"{origin}: 'rule' must be an array of tables ([[rule]])")
    rules = tuple(_parse_rule(origin, text, i, table) for i, table in enumerate(tables))
    _check_unique(origin, text, rules)
    _check_members(origin, text, rules)
    return rules


def _parse_rule(origin: str, text: str, index: int, table: Any) -> Rule:
    def fail(message: str, key: str | None = None) -> ConfigError:
        line = _line_of(text, index, key)
        name = table.get("name") if isinstance(table, dict) else None
        rule = f"rule {name!r}" if isinstance(name, str) else f"rule #{index + 1}"
        at = f"{origin}:{line}" if line else origin
        return ConfigError(f"{at}: {rule}" + (f", key {key!r}" if key else "") + f": {message}")

    if not isinstance(table, dict):
        raise fail("is not a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise fail(f"unknown key(s) {unknown}; known: {', '.join(sorted(_KEYS))}", unknown[0])
    for key in ("name", "condition"):
        if key not in table:
            raise fail("is missing", key)
    try:
        return _build(table)
    except RuleKeyError as exc:
        raise fail(str(exc), exc.key) from None


def _number(table: Mapping[str, Any], key: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RuleKeyError(key, f"{value!r} must be a finite number")
    return float(value)


def _duration(table: Mapping[str, Any], key: str, zero: bool = False) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RuleKeyError(key, f'{value!r} must be a duration such as "5m", "1h" or 300')
    if zero and (value == 0 or value == "0"):
        return 0.0
    try:
        return values.parse_duration(str(value))
    except ValueError as exc:
        raise RuleKeyError(key, str(exc)) from None


def _choice(table: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
    value = table.get(key, default)
    if value not in choices:
        raise RuleKeyError(key, f"{value!r} is not one of {', '.join(choices)}")
    return str(value)


def _table(table: Mapping[str, Any], key: str) -> dict[str, float]:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise RuleKeyError(key, "must be a table of symbol = number, e.g. { bitcoin = 100000 }")
    out = {}
    for symbol, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise RuleKeyError(key, f"{symbol} = {number!r}: the value must be a number")
        if not math.isfinite(number):
            raise RuleKeyError(key, f"{symbol} = {number!r}: the value must be finite")
        out[symbol] = float(number)
    return out


def _names(table: Mapping[str, Any], key: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or (not value and key in table):
        raise RuleKeyError(key, 'must be a non-empty list of names, e.g. ["bitcoin", "eth*"]')
    for item in value:
        if not isinstance(item, str) or not pattern.match(item):
            raise RuleKeyError(key, f"{item!r} is not a name or a glob")
    return tuple(value)


def _build(table: dict[str, Any]) -> Rule:
    name, condition = table["name"], table["condition"]
    if not isinstance(name, str) or not _RULE_NAME.match(name):
        raise RuleKeyError("name", f"{name!r} must be lower-case letters, digits and _")
    if condition not in CONDITIONS:
        raise RuleKeyError("condition", f"{condition!r} is not one of {', '.join(CONDITIONS)}")
    if condition in COMBINED:
        return _combined(table, name, condition)
    if "of" in table:
        raise RuleKeyError("of", "applies only to the conditions 'all' and 'any'")
    candle = _candle_keys(table, condition)
    if candle:
        return _indicator_rule(table, name, condition, candle)
    band, recover_band = _band(table, condition)
    window, lookback = _span(table, condition, band is not None)
    threshold, thresholds, recover, recovers = (
        _levels(table, condition) if band is None else (0.0, {}, None, {})
    )
    min_samples = table.get("min_samples", 1)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise RuleKeyError("min_samples", f"{min_samples!r} must be a whole number >= 1")
    return Rule(
        name=name,
        metric=TRADED if condition == "surge" else _choice(table, "metric", METRICS, "price"),
        window=window,
        condition=condition,
        threshold=threshold,
        min_samples=min_samples,
        direction=_choice(table, "direction", DIRECTIONS, "either"),
        lookback=lookback,
        unit=_choice(table, "unit", UNITS, "relative"),
        recover=recover,
        thresholds=thresholds,
        recover_thresholds=recovers,
        baseline=_duration(table, "baseline") or 0.0,
        band=band,
        recover_band=recover_band,
        **_episode_keys(table),
    )


#: Candle intervals: whole minutes that divide a day (so a bucket never straddles midnight).
_DAY = 86400


def _candle_keys(table: Mapping[str, Any], condition: str) -> dict[str, Any]:
    """An indicator rule's interval and indicators (empty for a rule judged per tick)."""
    metric = table.get("metric", "price")
    indicator = condition == CROSS or (
        condition in LEVELS and isinstance(metric, str) and ":" in metric
    )
    if isinstance(metric, str) and ":" in metric and not indicator:
        raise RuleKeyError("metric", f"{metric!r}: an indicator takes the conditions above, below")
    if condition == CROSS and "metric" in table:
        raise RuleKeyError("metric", "does not apply to a cross (it compares fast and slow)")
    if not indicator:
        for key in ("interval", "fast", "slow"):
            if key in table:
                raise RuleKeyError(
                    key, "applies to a 'cross' and to levels of an indicator metric (rsi:14)"
                )
        return {}
    interval = _interval(table)
    if condition == CROSS:
        return {"interval": interval, **_cross_specs(table)}
    for key in ("fast", "slow"):
        if key in table:
            raise RuleKeyError(key, "applies to condition 'cross' (an indicator level: metric)")
    try:
        indicators.parse(metric)
    except ValueError as exc:
        raise RuleKeyError("metric", str(exc)) from None
    return {"interval": interval, "fast": metric, "slow": ""}


def _cross_specs(table: Mapping[str, Any]) -> dict[str, str]:
    """A cross's fast and slow indicators, checked."""
    fast, slow = table.get("fast"), table.get("slow")
    for key, spec, allowed in (
        ("fast", fast, ("close", "sma", "ema")),
        ("slow", slow, ("sma", "ema")),
    ):
        if spec is None:
            raise RuleKeyError(key, "is required by condition 'cross', e.g. \"ema:21\"")
        try:
            kind, _ = indicators.parse(spec)
        except ValueError as exc:
            raise RuleKeyError(key, str(exc)) from None
        if kind not in allowed:
            raise RuleKeyError(key, f"{spec!r}: a cross compares {', '.join(allowed)}")
    if fast == slow:
        raise RuleKeyError("slow", f"{slow!r} is the fast one too: nothing would cross")
    return {"fast": str(fast), "slow": str(slow)}


def _interval(table: Mapping[str, Any]) -> float:
    if "interval" not in table:
        raise RuleKeyError("interval", 'is required: the candles\' interval, e.g. "1h"')
    interval = _duration(table, "interval") or 0.0
    if interval < 60 or interval % 60 or _DAY % interval:
        raise RuleKeyError(
            "interval", f"{table['interval']!r} must be whole minutes that divide a day (1m ... 1d)"
        )
    return interval


def _indicator_rule(
    table: Mapping[str, Any], name: str, condition: str, candle: dict[str, Any]
) -> Rule:
    """A rule judged on closed candles: a level of an indicator, or a cross."""
    for key in ("window", "lookback", "unit", "min_samples", "baseline", "band", "recover_band"):
        if key in table:
            raise RuleKeyError(key, f"does not apply to condition {condition!r} on candles")
    if "sources" in table:  # a symbol's candles are built from the ticks of every source
        raise RuleKeyError("sources", "does not apply to a rule on candles (scope it by symbols)")
    label = indicators.label(candle["fast"], human_interval(candle["interval"]))
    if condition == CROSS:
        direction = table.get("direction")
        if direction not in ("up", "down"):
            raise RuleKeyError(
                "direction", f'{direction!r}: a cross needs direction "up" or "down"'
            )
        for key in ("thresholds", "recover_thresholds"):
            if key in table:
                raise RuleKeyError(key, "a cross takes one threshold (a margin), not a table")
        threshold = _number(table, "threshold") or 0.0
        if not 0 <= threshold < 1:
            raise RuleKeyError("threshold", f"{threshold:g}: a cross's margin lies in [0, 1)")
        recover = _number(table, "recover")
        if recover is not None and not -1 < recover < threshold:
            raise RuleKeyError(
                "recover", f"{recover:g} must be below the margin {threshold:g} (and above -1)"
            )
        levels: tuple[float | None, dict[str, float], float | None, dict[str, float]] = (
            threshold,
            {},
            recover,
            {},
        )
    else:
        if "direction" in table:
            raise RuleKeyError("direction", f"does not apply to condition {condition!r}")
        levels = _levels(table, condition)
        direction = "either"
        if candle["fast"].startswith("rsi:"):
            _check_rsi_levels(levels)
    return Rule(
        name=name,
        metric=label,
        window=0.0,
        condition=condition,
        threshold=levels[0],
        direction=direction,
        recover=levels[2],
        thresholds=levels[1],
        recover_thresholds=levels[3],
        **candle,
        **_episode_keys(table),
    )


def _check_rsi_levels(
    levels: tuple[float | None, dict[str, float], float | None, dict[str, float]],
) -> None:
    """An RSI lies in [0, 100]: a level outside could never be crossed."""
    threshold, thresholds, recover, recovers = levels
    for key, levels_of_key in (
        ("threshold", [threshold]),
        ("thresholds", thresholds.values()),
        ("recover", [recover]),
        ("recover_thresholds", recovers.values()),
    ):
        for x in levels_of_key:
            if x is not None and not 0 <= x <= 100:
                raise RuleKeyError(key, f"{x:g}: an RSI lies between 0 and 100")


def human_interval(seconds: float) -> str:
    """A candle interval as rules and lines name it: 5m, 1h, 1d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _band(
    table: Mapping[str, Any], condition: str
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """An inside / outside rule's band of two levels and its recovery band (None: the
    Bollinger form, from `window` and `threshold`)."""
    if condition not in CHANNEL:
        for key in ("band", "recover_band"):
            if key in table:
                raise RuleKeyError(key, "applies to the conditions 'inside' and 'outside'")
        return None, None
    if condition == "inside" and "direction" in table:
        raise RuleKeyError("direction", "does not apply to condition 'inside'")
    if "band" not in table:
        if "recover_band" in table:
            raise RuleKeyError("recover_band", "needs a band (the Bollinger form takes recover)")
        return None, None
    for key in ("threshold", "thresholds", "recover", "recover_thresholds", "window"):
        if key in table:
            raise RuleKeyError(key, "does not apply to a band of levels (band = [low, high])")
    band = _pair(table, "band")
    recover = _pair(table, "recover_band") if "recover_band" in table else None
    if recover is not None:
        _check_recover_band(condition, band, recover)
    return band, recover


def _check_recover_band(
    condition: str, band: tuple[float, float], recover: tuple[float, float]
) -> None:
    narrower = band[0] <= recover[0] and recover[1] <= band[1]
    wider = recover[0] <= band[0] and band[1] <= recover[1]
    if condition == "outside" and not narrower:
        raise RuleKeyError("recover_band", "must lie within the band (it clears an 'outside')")
    if condition == "inside" and not wider:
        raise RuleKeyError("recover_band", "must contain the band (it clears an 'inside')")


def _pair(table: Mapping[str, Any], key: str) -> tuple[float, float]:
    value = table.get(key)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or not all(math.isfinite(v) for v in value)
        or not value[0] < value[1]
    ):
        raise RuleKeyError(key, f"{value!r} must be two finite levels, low < high: [95000, 105000]")
    return float(value[0]), float(value[1])


def _episode_keys(table: Mapping[str, Any]) -> dict[str, Any]:
    """The keys every rule takes, a combination too: its episodes' modifiers and scope."""
    once = _flag(table, "once", False)
    expires = table.get("expires")
    if expires is not None and (not isinstance(expires, dt.datetime) or expires.tzinfo is None):
        raise RuleKeyError(
            "expires", f"{expires!r} must be a date-time with an offset: 2027-01-01T00:00:00Z"
        )
    repeat = _duration(table, "repeat", zero=True)
    if once and repeat:
        raise RuleKeyError("repeat", "a rule with once = true never repeats")
    return {
        "enabled": _flag(table, "enabled", True),
        "pending": _duration(table, "for", zero=True) or 0.0,
        "cooldown": _duration(table, "cooldown", zero=True) or 0.0,
        "repeat": repeat,
        "once": once,
        "expires": expires.astimezone(dt.UTC) if expires is not None else None,
        "severity": _choice(table, "severity", SEVERITIES, "warning"),
        "symbols": _names(table, "symbols", _SYMBOL_PATTERN),
        "sources": _names(table, "sources", _SYMBOL_PATTERN),
        "silent": _flag(table, "silent", False),
    }


#: The keys a combination takes (the others judge a value, which it has not).
_COMBINED_KEYS = {"name", "condition", "of", "for", "cooldown", "repeat", "once", "expires"}
_COMBINED_KEYS |= {"severity", "symbols", "sources", "enabled", "silent"}


def _combined(table: dict[str, Any], name: str, condition: str) -> Rule:
    for key in sorted(set(table) - _COMBINED_KEYS):
        raise RuleKeyError(key, f"does not apply to condition {condition!r}")
    members = table.get("of")
    if (
        not isinstance(members, list)
        or len(members) < 2
        or not all(isinstance(m, str) and _RULE_NAME.match(m) for m in members)
        or len(set(members)) != len(members)
    ):
        raise RuleKeyError("of", 'must name two or more other rules, e.g. ["a", "b"]')
    return Rule(
        name=name,
        metric=RULES_METRIC,
        window=0.0,
        condition=condition,
        threshold=float(len(members) if condition == "all" else 1),
        of=tuple(members),
        **_episode_keys(table),
    )


def _check_members(origin: str, text: str, rules: tuple[Rule, ...]) -> None:
    """Every member of a combination is a rule of the file, enabled with it, and no rule
    reaches itself through them (a cycle)."""
    by_name = {r.name: r for r in rules}
    for index, rule in enumerate(rules):
        problem = None
        for member in rule.of:
            if member not in by_name:
                problem = f"no rule is named {member!r}"
            elif rule.enabled and not by_name[member].enabled:
                problem = f"rule {member!r} is disabled"
            if problem:
                break
        problem = problem or _cycle(by_name, rule.name, [])
        if problem:
            line = _line_of(text, index, "of")
            at = f"{origin}:{line}" if line else origin
            raise ConfigError(f"{at}: rule {rule.name!r}, key 'of': {problem}")


def _cycle(by_name: Mapping[str, Rule], name: str, path: list[str]) -> str | None:
    """A cycle through `of` from `name` (its description), or None."""
    if name in path:
        return "a cycle: " + " -> ".join([*path[path.index(name) :], name])
    for member in by_name[name].of if name in by_name else ():
        found = _cycle(by_name, member, [*path, name])
        if found:
            return found
    return None


def evaluation_order(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """`rules` with every combination after its members (the file's order otherwise)."""
    done: dict[str, Rule] = {}
    by_name = {r.name: r for r in rules}

    def place(rule: Rule) -> None:
        if rule.name in done:
            return
        for member in rule.of:
            if member in by_name:
                place(by_name[member])
        done[rule.name] = rule

    for rule in rules:
        place(rule)
    return tuple(done.values())


def _flag(table: Mapping[str, Any], key: str, default: bool) -> bool:
    flag = table.get(key, default)
    if not isinstance(flag, bool):
        raise RuleKeyError(key, f"{flag!r} must be true or false")
    return flag


def _span(table: Mapping[str, Any], condition: str, band: bool = False) -> tuple[float, float]:
    """The window and the lookback of a condition (0 where it has none); a key that does
    not apply to the condition is refused, not ignored."""

    def refused(*keys: str) -> None:
        for key in keys:
            if key in table:
                raise RuleKeyError(key, f"does not apply to condition {condition!r}")

    window, lookback = 0.0, 0.0
    if condition == "surge":
        refused("lookback", "unit", "direction", "metric")
        return _surge_span(table), lookback
    refused("baseline")
    if condition in TRAILING or (condition in CHANNEL and not band):
        if "window" not in table:
            raise RuleKeyError("window", f"is required by condition {condition!r}")
        window = _duration(table, "window") or 0.0
        refused("lookback", "unit")
    elif band:
        refused("window", "lookback", "unit", "min_samples")
    elif condition == "move":
        if "lookback" not in table:
            raise RuleKeyError("lookback", "is required by condition 'move'")
        lookback = _duration(table, "lookback") or 0.0
        refused("window", "min_samples")
    else:
        refused("window", "lookback", "unit", "min_samples", "direction")
    if condition == "ratio_above":
        refused("direction")
    return window, lookback


def _surge_span(table: Mapping[str, Any]) -> float:
    """A surge's window, checked with its baseline."""
    for key in ("window", "baseline"):
        if key not in table:
            raise RuleKeyError(key, "is required by condition 'surge'")
    window = _duration(table, "window") or 0.0
    baseline = _duration(table, "baseline") or 0.0
    if baseline < 2 * window:
        raise RuleKeyError("baseline", "must be at least twice the window")
    return window


def _levels(
    table: Mapping[str, Any], condition: str
) -> tuple[float | None, dict[str, float], float | None, dict[str, float]]:
    """The threshold, the per-symbol thresholds, and their recovery levels, checked."""
    threshold = _number(table, "threshold")
    thresholds = _table(table, "thresholds")
    if threshold is None and not thresholds:
        raise RuleKeyError("threshold", "is missing (or give `thresholds` per symbol)")
    if condition not in LEVELS:
        for key, x in [("threshold", threshold), *(("thresholds", v) for v in thresholds.values())]:
            if x is not None and not x > 0:
                raise RuleKeyError(key, f"{x:g} must be a positive number for {condition!r}")
    recover = _number(table, "recover")
    recovers = _table(table, "recover_thresholds")
    if recover is not None:
        for x in [threshold, *thresholds.values()]:
            if x is not None:
                _check_recover(condition, "recover", x, recover)
    for symbol, y in recovers.items():
        x = thresholds.get(symbol, threshold)
        if x is None:
            raise RuleKeyError("recover_thresholds", f"{symbol} has no threshold to recover from")
        _check_recover(condition, "recover_thresholds", x, y)
    return threshold, thresholds, recover, recovers


def _check_recover(condition: str, key: str, x: float, y: float) -> None:
    """The recovery level must lie on the clearing side of the threshold."""
    if condition == "above" and not y < x:
        raise RuleKeyError(key, f"{y:g} must be below the level {x:g} (it clears an 'above')")
    if condition == "below" and not y > x:
        raise RuleKeyError(key, f"{y:g} must be above the level {x:g} (it clears a 'below')")
    if condition == "inside":
        if not y > x:
            raise RuleKeyError(key, f"{y:g} must be above {x:g} (it clears an 'inside')")
    elif condition not in LEVELS and not 0 < y < x:
        raise RuleKeyError(key, f"{y:g} must be between 0 and the threshold {x:g}")


def _check_unique(origin: str, text: str, rules: Iterable[Rule]) -> None:
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.name in seen:
            line = _line_of(text, index, "name")
            at = f"{origin}:{line}" if line else origin
            raise ConfigError(f"{at}: rule {rule.name!r} is defined twice")
        seen.add(rule.name)


_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]")
_TABLE = re.compile(r"^\s*\[")


def _line_of(text: str, index: int, key: str | None) -> int | None:
    """The line (1-based) of `key` in the `index`-th ``[[rule]]`` table of `text`, or of its
    header; None where it cannot be found (an inline table, say)."""
    lines = text.splitlines()
    headers = [i for i, line in enumerate(lines) if _HEADER.match(line)]
    if index >= len(headers):
        return None
    start = headers[index]
    if key is not None:
        assignment = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*=")
        for i in range(start + 1, len(lines)):
            if _TABLE.match(lines[i]):
                break
            if assignment.match(lines[i]):
                return i + 1
    return start + 1
