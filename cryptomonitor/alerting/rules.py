"""Alert rules: what is compared with what, loaded from TOML or the built-in defaults.

A rule compares each new value of a metric with the average of the same metric over the
trailing window before it (the SQL function ``trailing_window``: ticks in [t - window, t)).

- ``ratio_above``: breached when value > threshold x average ("3x its 1-hour average").
- ``deviation_above``: breached when |value - average| > threshold x average ("2% away").

A window holding fewer than ``min_samples`` values, or whose average is not positive, decides
nothing: no alert fires just after start-up or on a metric that is zero.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import re
import tomllib
from collections.abc import Iterable
from typing import Any

from cryptomonitor.config import values
from cryptomonitor.exceptions import ConfigError

METRICS = ("price", "volume_24h")
CONDITIONS = ("ratio_above", "deviation_above")
_RULE_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,62}$")


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    window: float
    condition: str
    threshold: float
    min_samples: int
    enabled: bool = True

    def breached(self, value: float, average: float) -> bool:
        """Whether `value` breaks the rule against a window `average` (which must be > 0)."""
        if self.condition == "ratio_above":
            return value > self.threshold * average
        return abs(value - average) > self.threshold * average


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("price_3x_1h", "price", 3600.0, "ratio_above", 3.0, 10),
    Rule("volume_3x_1h", "volume_24h", 3600.0, "ratio_above", 3.0, 10),
    Rule("price_2pct_5m", "price", 300.0, "deviation_above", 0.02, 3),
    Rule("volume_2pct_5m", "volume_24h", 300.0, "deviation_above", 0.02, 3),
)

_KEYS = {"name", "metric", "window", "condition", "threshold", "min_samples", "enabled"}


def load(path: pathlib.Path | None) -> tuple[Rule, ...]:
    """The enabled rules of the TOML file at `path`, or the defaults when `path` is None.

    The file holds ``[[rule]]`` tables; see ``rules.example.toml``. Any problem raises
    `ConfigError` naming the file, the rule and the key.
    """
    if path is None:
        return DEFAULT_RULES
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"CRYPTOMONITOR_RULES_FILE: cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"CRYPTOMONITOR_RULES_FILE: {path} is not valid TOML: {exc}") from exc
    extra = set(document) - {"rule"}
    if extra:
        raise ConfigError(f"{path}: unknown top-level key(s) {sorted(extra)}; expected [[rule]]")
    tables = document.get("rule", [])
    if not isinstance(tables, list):
        raise ConfigError(f"{path}: 'rule' must be an array of tables ([[rule]])")
    rules = tuple(_parse_rule(path, i, table) for i, table in enumerate(tables))
    _check_unique(path, rules)
    return tuple(r for r in rules if r.enabled)


def _parse_rule(path: pathlib.Path, index: int, table: Any) -> Rule:
    where = f"{path}: rule #{index + 1}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} is not a table")
    if isinstance(table.get("name"), str):
        where = f"{path}: rule {table['name']!r}"
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
    missing = {"name", "metric", "window", "condition", "threshold"} - set(table)
    if missing:
        raise ConfigError(f"{where}: missing key(s) {sorted(missing)}")
    try:
        return _build(table)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _build(table: dict[str, Any]) -> Rule:
    name, metric, condition = table["name"], table["metric"], table["condition"]
    if not isinstance(name, str) or not _RULE_NAME.match(name):
        raise ValueError(f"name {name!r} must be lower-case letters, digits and _")
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not one of {', '.join(METRICS)}")
    if condition not in CONDITIONS:
        raise ValueError(f"condition {condition!r} is not one of {', '.join(CONDITIONS)}")
    window = table["window"]
    if isinstance(window, bool) or not isinstance(window, str | int | float):
        raise ValueError(f'window {window!r} must be a duration such as "5m" or 300')
    threshold = table["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError(f"threshold {threshold!r} must be a number")
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold {threshold!r} must be a positive number")
    min_samples = table.get("min_samples", 1)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise ValueError(f"min_samples {min_samples!r} must be a whole number >= 1")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValueError(f"enabled {enabled!r} must be true or false")
    return Rule(
        name,
        metric,
        values.parse_duration(str(window)),
        condition,
        float(threshold),
        min_samples,
        enabled,
    )


def _check_unique(path: pathlib.Path, rules: Iterable[Rule]) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ConfigError(f"{path}: rule {rule.name!r} is defined twice")
        seen.add(rule.name)
