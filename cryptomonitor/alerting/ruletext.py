"""A rule as a sentence for people: what `cryptomonitor rules check` prints and ``GET /rules``
serves ("ALERT when bitcoin's price rises above 100,000; RESOLVED when it falls to 99,500 or
below"). Pure."""

from __future__ import annotations

from cryptomonitor.alerting import indicators
from cryptomonitor.alerting.lineformat import human_duration, level_number
from cryptomonitor.alerting.rules import Rule, human_interval

_METRIC = {"price": "price", "volume_24h": "rolling 24-hour volume", "volume": "traded volume"}


def _whose(rule: Rule) -> str:
    """Whose value the rule watches: "a symbol's price", "bitcoin or eth*'s RSI(14,1h)"."""
    names = " or ".join(rule.symbols) if rule.symbols else "a symbol"
    return f"{names}'s {_METRIC.get(rule.metric, rule.metric)}"


def _on_candles(rule: Rule, x: float, y: float) -> tuple[str, str]:
    """An indicator rule: when it holds at a candle's close, and when it clears."""
    close = f"at the close of a {human_interval(rule.interval)} candle"
    if rule.condition == "cross":
        side = "above" if rule.direction == "up" else "below"
        slow = indicators.label(rule.slow, human_interval(rule.interval))
        margin = f" by more than {x * 100:g}%" if x else ""
        other = "below" if side == "above" else "above"
        if y > 0:
            back = f"it is no more than {y * 100:g}% {side} it"
        elif y < 0:
            back = f"it is {-y * 100:g}% or more {other} it"
        else:
            back = f"it is at or {other} it"
        return f"crosses {side} {slow}{margin} {close}", back
    if rule.condition == "above":
        return f"is above {level_number(x)} {close}", f"it is {level_number(y)} or below"
    return f"is below {level_number(x)} {close}", f"it is {level_number(y)} or above"


def _channel(rule: Rule, x: float, y: float) -> tuple[str, str]:
    """A band of levels or a Bollinger band: when it holds, and when it clears."""
    if rule.band is not None:
        low, high = (level_number(v) for v in rule.band)
        back = rule.recover_band or rule.band
        b_low, b_high = (level_number(v) for v in back)
        if rule.condition == "inside":
            return f"is inside {low}-{high}", f"it leaves {b_low}-{b_high}"
        holds = {"up": f"rises above {high}", "down": f"falls below {low}"}.get(
            rule.direction, f"leaves {low}-{high}"
        )
        return holds, f"it is back inside {b_low}-{b_high}"
    mean = f"its {human_duration(rule.window)} mean"
    if rule.condition == "inside":
        return (
            f"is within {x:g} standard deviations of {mean}",
            f"it is more than {y:g} standard deviations from it",
        )
    side = {"up": "above", "down": "below", "either": "away from"}[rule.direction]
    return (
        f"is more than {x:g} standard deviations {side} {mean}",
        f"it is within {y:g} standard deviations of it",
    )


def _amount(rule: Rule, x: float) -> str:
    c = rule.condition
    if c in ("above", "below") or (c == "move" and rule.unit == "absolute"):
        return level_number(x)
    if c in ("ratio_above", "surge"):
        return f"{x:g}x"
    if c == "zscore":
        return f"{x:g} standard deviations"
    return f"{x * 100:g}%"


def _threshold(rule: Rule) -> float:
    x = rule.threshold
    if x is None:  # only per-symbol thresholds: the sentence shows the first
        x = next(iter(rule.thresholds.values()))
    return x


def _holds(rule: Rule, x: float) -> str:
    """The condition at threshold `x`, after "ALERT when ...'s price"."""
    c, amount = rule.condition, _amount(rule, x)
    span = human_duration(rule.window or rule.lookback)
    if c == "above":
        return f"rises above {amount}"
    if c == "below":
        return f"falls below {amount}"
    if c == "ratio_above":
        return f"is over {amount} its {span} average"
    if c == "surge":
        base = human_duration(rule.baseline)
        return f"over {span} is more than {amount} its average per {span} over {base}"
    if c == "move":
        verb = {"up": "rises", "down": "falls", "either": "moves"}[rule.direction]
        return f"{verb} more than {amount} in {span}"
    against = f"its {span} {'mean' if c == 'zscore' else 'average'}"
    side = {"up": "above", "down": "below", "either": "away from"}[rule.direction]
    return f"is more than {amount} {side} {against}"


def _clears(rule: Rule, y: float) -> str:
    """When an episode clears at threshold `y` (the recover level, or the threshold)."""
    c, amount = rule.condition, _amount(rule, y)
    span = human_duration(rule.window or rule.lookback)
    if c == "above":
        return f"it falls to {amount} or below"
    if c == "below":
        return f"it rises to {amount} or above"
    if c == "ratio_above":
        return f"it is {amount} its {span} average or less"
    if c == "surge":
        return f"it is {amount} that average or less"
    if c == "move":
        verb = {"up": "risen", "down": "fallen", "either": "moved"}[rule.direction]
        return f"it has {verb} no more than {amount} in {span}"
    against = f"its {span} {'mean' if c == 'zscore' else 'average'}"
    side = {"up": "above", "down": "below", "either": "from"}[rule.direction]
    return f"it is no more than {amount} {side} {against}"


def _combined(rule: Rule) -> tuple[str, str]:
    scope = " or ".join(rule.symbols) if rule.symbols else "a symbol"
    members = ", ".join(rule.of)
    word = "all" if rule.condition == "all" else "any"
    return (
        f"ALERT when {word} of {members} {'are' if word == 'all' else 'is'} firing for {scope}",
        f"RESOLVED when {'not all are' if word == 'all' else 'none is'}",
    )


def sentence(rule: Rule) -> str:
    """What the rule does, as one sentence."""
    if rule.condition in ("all", "any"):
        head, clears = _combined(rule)
        if rule.pending:
            head += f", holding for {human_duration(rule.pending)}"
        return "; ".join([head, clears, *_modifiers(rule)])
    x = _threshold(rule)
    y = rule.recover if rule.recover is not None else None
    if y is None and rule.recover_thresholds:
        y = next(iter(rule.recover_thresholds.values()))
    if rule.interval:
        holds, clearing = _on_candles(rule, x, x if y is None else y)
    elif rule.condition in ("inside", "outside"):
        holds, clearing = _channel(rule, x, x if y is None else y)
    else:
        holds, clearing = _holds(rule, x), _clears(rule, x if y is None else y)
    head = f"ALERT when {_whose(rule)} {holds}"
    if rule.pending:
        head += f", holding for {human_duration(rule.pending)}"
    clears = f"RESOLVED when {clearing}"
    parts = [head, clears, *_modifiers(rule)]
    return "; ".join(parts)


def _modifiers(rule: Rule) -> list[str]:
    parts = []
    if rule.thresholds:
        per = ", ".join(f"{s} {_amount(rule, v)}" for s, v in rule.thresholds.items())
        parts.append(f"thresholds per symbol: {per}")
    if rule.once:
        parts.append("once per symbol")
    elif rule.repeat == 0:
        parts.append("never repeated")
    elif rule.repeat is not None:
        parts.append(f"repeated every {human_duration(rule.repeat)} while it holds")
    if rule.cooldown:
        parts.append(f"no new ALERT within {human_duration(rule.cooldown)} of a RESOLVED")
    if rule.expires is not None:
        parts.append(f"no new ALERT from {rule.expires.isoformat().replace('+00:00', 'Z')}")
    if rule.sources:
        parts.append(f"ticks of {', '.join(rule.sources)} only")
    if (
        rule.condition in ("ratio_above", "deviation_above", "zscore", "surge") or rule.spread
    ) and (rule.samples_needed > 1):
        span = "baseline" if rule.condition == "surge" else "window"
        parts.append(f"once its {span} holds {rule.samples_needed} values")
    if rule.silent:
        parts.append("silent (for combinations: writes no line)")
    parts.append(f"severity {rule.severity}")
    return parts
