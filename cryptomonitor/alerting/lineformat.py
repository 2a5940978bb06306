"""The alert line: how an event reads in ``alerts/alerts.txt`` (`format_line`) and how a line
is read back (`parse_line`: crash recovery, tests, tools). Bump `LINE_FORMAT` with any change.
"""

from __future__ import annotations

import math
import re
import uuid

from cryptomonitor.alerting import episodes
from cryptomonitor.util import times

#: The version of the alerts-file line format (the ``v=`` field). 1: before 0.2, all key=value;
#: 2: a sentence, then key=value; 3: a sentence per condition, its figures and ``severity``.
LINE_FORMAT = 3


#: Significant digits of computed figures (window averages): enough for any price, no noise.
AVG_DIGITS = 10


def format_number(x: float, digits: int | None = None) -> str:
    """`x` as text: the shortest that reads back exactly, or rounded to `digits` significant
    digits; whole numbers without ``.0``."""
    text = repr(float(x)) if digits is None else f"{float(x):.{digits}g}"
    return text[:-2] if text.endswith(".0") else text


def short_id(alert_id: uuid.UUID) -> str:
    """The 12 hex digits an alert line shows of an id (48 bits: unique in any one file)."""
    return alert_id.hex[:12]


def human_number(x: float) -> str:
    """A figure as a person reads it: 106,412 / 8,416.75 / 0.1834."""
    if abs(x) >= 100_000:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:,.2f}"
    return f"{x:.4g}"


def level_number(x: float) -> str:
    """A level a person typed, as typed but with thousands separators: 100,000 / 99,500.5."""
    if x == int(x) and abs(x) < 2**53:
        return f"{int(x):,}"
    return f"{x:,.15g}" if abs(x) >= 1 else f"{x:.15g}"


def human_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}s"


#: Decimals of a percent change or a ratio; more only when these would misread the threshold.
FIGURE_DECIMALS = 2
_MAX_DECIMALS = 12


def _beyond(e: episodes.Event) -> bool:
    return e.event != episodes.RESOLVED


def _clearing(e: episodes.Event) -> float:
    """The threshold the event is read against: an ALERT's own, a RESOLVED's recovery level
    where the rule has one (it cleared there)."""
    recover = e.figures.get("recover")
    if e.event == episodes.RESOLVED and isinstance(recover, int | float):
        return float(recover)
    return e.threshold


def figure(x: float, threshold: float, beyond: bool, sign: str = "+") -> str:
    """`x` with `FIGURE_DECIMALS` decimals, or as many more as it takes for the figure shown
    to read on its side of `threshold` (compared by magnitude): above it when `beyond` (an
    ALERT: 2.004 is "2.004", not "2.00"), below it otherwise (a RESOLVED: 1.996 is "1.996",
    not "2.00"). At the threshold (the rule's ``>`` does not hold there) it stays as it is.
    """
    if math.isclose(abs(x), threshold, rel_tol=1e-9):  # at it, but for float noise
        return f"{x:{sign}.{FIGURE_DECIMALS}f}"
    for decimals in range(FIGURE_DECIMALS, _MAX_DECIMALS + 1):
        text = f"{x:{sign}.{decimals}f}"
        shown = abs(float(text))
        if shown > threshold if beyond else shown < threshold:
            return text
    return text


def change_pct(e: episodes.Event) -> float:
    """How far the value is from the window average (a move: from its reference), in percent
    of it."""
    ref = e.window_avg if e.condition != "move" else e.figures.get("reference")
    assert isinstance(ref, int | float)
    assert ref
    return (e.value - ref) / ref * 100


def change_text(e: episodes.Event) -> str:
    """The change in percent as the line shows it, signed: ``+1.96``; the ``change_pct``
    field and the sentence show this same text."""
    if e.condition == "ratio_above":  # the threshold is a ratio, not a change
        return f"{change_pct(e):+.{FIGURE_DECIMALS}f}"
    return figure(change_pct(e), _clearing(e) * 100, _beyond(e))


def _zscore(e: episodes.Event) -> float:
    z = e.figures.get("zscore")
    assert isinstance(z, int | float)
    return float(z)


def _z_text(e: episodes.Event) -> str:
    return figure(_zscore(e), _clearing(e), _beyond(e))


def _move_text(e: episodes.Event) -> str:
    """A move as the line shows it: in percent (relative) or in the price unit (absolute)."""
    if e.figures.get("unit") == "absolute":
        ref = e.figures.get("reference")
        assert isinstance(ref, int | float)
        change = e.value - ref
        return ("+" if change >= 0 else "-") + human_number(abs(change))
    return change_text(e) + "%"


def _side(text: str) -> str:
    return "below" if text.startswith("-") else "above"


def describe(e: episodes.Event) -> str:
    """The human part of a line: what moved, by how much, against what; a RESOLVED says that
    the condition no longer holds and where the value is now. docs/alerts.md lists them."""
    condition = e.condition
    if condition in ("all", "any"):
        return _combined(e)
    if condition in ("above", "below"):
        return _level(e)
    if condition == "move":
        return _move(e)
    if condition == "surge":
        return _surge(e)
    if condition == "cross":
        return _cross(e)
    if condition in ("inside", "outside"):
        return _channel(e) if "low" in e.figures else _bollinger(e)
    return _trailing(e)


def _head(e: episodes.Event) -> str:
    return f"{e.symbol} {e.metric} {human_number(e.value)}"


def _combined(e: episodes.Event) -> str:
    members = str(e.figures.get("of", "")).replace(",", ", ")
    firing = str(e.figures.get("firing", "")).replace(",", ", ") or "none"
    count = f"{e.value:g} of {len(members.split(', '))}"
    if e.event == episodes.RESOLVED:
        now = f"now {count}: {firing}"
        return f"{e.symbol} rules no longer {e.condition} of {members} firing ({now})"
    return f"{e.symbol} rules {count} firing: {firing}"


def _level(e: episodes.Event) -> str:
    head, condition, level = _head(e), e.condition, level_number(e.threshold)
    if e.event != episodes.RESOLVED:
        if e.alert_id == e.episode_id:
            return f"{head} crossed {condition} {level}"
        beyond = e.value > e.threshold if condition == "above" else e.value < e.threshold
        recover = e.figures.get("recover")
        if beyond or not isinstance(recover, int | float):  # a repeat: where it stands now
            return f"{head} still {condition} {level}"
        return f"{head} still {condition} {level_number(recover)}, the recovery level of {level}"
    recover = e.figures.get("recover")
    if isinstance(recover, int | float):
        back = "below" if condition == "above" else "above"
        return f"{head} no longer {condition} {level} (back {back} {level_number(recover)})"
    return f"{head} no longer {condition} {level}"


def _move(e: episodes.Event) -> str:
    lookback = e.figures.get("lookback_seconds")
    assert isinstance(lookback, int | float)
    span = human_duration(float(lookback))
    absolute = e.figures.get("unit") == "absolute"
    amount = level_number(e.threshold) if absolute else f"{e.threshold * 100:g}%"
    now = _move_text(e)
    if e.event == episodes.RESOLVED:
        way = {"up": "up", "down": "down"}.get(str(e.figures.get("direction")), "moved")
        return f"{_head(e)} no longer {way} {amount} in {span} (now {now})"
    verb = "fell" if now.startswith("-") else "rose"
    ref = e.figures.get("reference")
    assert isinstance(ref, int | float)
    return f"{_head(e)} {verb} {now[1:]} in {span} (from {human_number(ref)})"


def _surge(e: episodes.Event) -> str:
    assert e.window_avg is not None
    assert e.window_seconds is not None
    span = human_duration(e.window_seconds)
    ratio = figure(e.value / e.window_avg, _clearing(e), _beyond(e), sign="") + "x"
    base = e.figures.get("baseline_seconds")
    assert isinstance(base, int | float)
    usual = f"the {human_duration(float(base))} average per {span}, {human_number(e.window_avg)}"
    traded = f"{e.symbol} volume {human_number(e.value)} traded in {span}"
    if e.event == episodes.RESOLVED:
        return f"{traded} no longer above {e.threshold:g}x {usual} (now {ratio})"
    return f"{traded} is {ratio} {usual}"


def _cross(e: episodes.Event) -> str:
    """A fast average (or the close) against a slow one, at a candle's close."""
    slow, against = e.figures.get("slow"), e.figures.get("against")
    assert isinstance(slow, int | float)
    side = "above" if e.figures.get("direction") == "up" else "below"
    other = f"{against} {human_number(slow)}"
    if e.event == episodes.RESOLVED:
        return f"{_head(e)} no longer {side} {other}"
    verb = "crossed" if e.figures.get("crossed") == "yes" else "is"
    margin = f" by {abs(_gap(e)):.2f}%" if e.threshold else ""
    return f"{_head(e)} {verb} {side} {other}{margin}"


def _gap(e: episodes.Event) -> float:
    gap = e.figures.get("gap_pct")
    assert isinstance(gap, int | float)
    return float(gap)


def _band_text(low: object, high: object) -> str:
    assert isinstance(low, int | float)
    assert isinstance(high, int | float)
    return f"{level_number(low)}-{level_number(high)}"


def _channel(e: episodes.Event) -> str:
    """A band of two levels: entered (inside) or left (outside)."""
    f = e.figures
    band = _band_text(f.get("low"), f.get("high"))
    back = _band_text(f.get("recover_low"), f.get("recover_high")) if "recover_low" in f else band
    resolved = e.event == episodes.RESOLVED
    if e.condition == "outside":
        if resolved:
            return f"{_head(e)} back inside {back}"
        low = f.get("low")
        assert isinstance(low, int | float)
        return f"{_head(e)} left the band {band} ({'below' if e.value < low else 'above'})"
    if resolved:
        return f"{_head(e)} left {'the band ' + band if back == band else back}"
    return f"{_head(e)} entered the band {band}"


def _bollinger(e: episodes.Event) -> str:
    """The trailing mean +/- threshold standard deviations: left (outside) or entered."""
    assert e.window_avg is not None
    assert e.window_seconds is not None
    z = _z_text(e)
    band = f"its {human_duration(e.window_seconds)} mean {human_number(e.window_avg)}"
    k = f"{_clearing(e):g} standard deviations"
    if (e.condition == "outside") == (e.event != episodes.RESOLVED):
        return f"{_head(e)} is more than {k} from {band} (z={z})"
    return f"{_head(e)} is within {k} of {band} (z={z})"


def _trailing(e: episodes.Event) -> str:
    """A z-score, a ratio or a deviation against a trailing window's mean."""
    assert e.window_avg is not None
    assert e.window_seconds is not None
    head, span, resolved = _head(e), human_duration(e.window_seconds), _beyond(e) is False
    if e.condition == "zscore":
        z = _z_text(e)
        mean = f"its {span} mean {human_number(e.window_avg)}"
        if resolved:
            return f"{head} no longer {e.threshold:g} standard deviations from {mean} (now z={z})"
        return f"{head} is {z[1:]} standard deviations {_side(z)} {mean}"
    average = f"its {span} average {human_number(e.window_avg)}"
    if e.condition == "ratio_above":
        ratio = figure(e.value / e.window_avg, _clearing(e), _beyond(e), sign="") + "x"
        if resolved:
            return f"{head} no longer above {e.threshold:g}x {average} (now {ratio})"
        return f"{head} is {ratio} {average}"
    change = change_text(e)
    if resolved:
        return f"{head} no longer {e.threshold * 100:g}% {_side(change)} {average} (now {change}%)"
    return f"{head} is {change[1:]}% {_side(change)} {average}"


def line_fields(e: episodes.Event) -> list[tuple[str, str]]:
    """The key=value fields of an event's line, in order: the figures of its condition, then
    the ids. docs/alerts.md lists them."""
    fields = [("rule", e.rule), ("value", format_number(e.value))]
    condition = e.condition
    if condition in ("all", "any"):
        fields.append(("firing", str(e.figures.get("firing", "")) or "-"))
    elif condition in ("above", "below"):
        fields.append(("level", format_number(e.threshold)))
    elif condition == "cross":
        slow = e.figures.get("slow")
        assert isinstance(slow, int | float)
        fields += [("slow", format_number(float(slow))), ("gap_pct", f"{_gap(e):+.4f}")]
    elif "low" in e.figures:  # a band of levels
        fields.append(("band", _band_text(e.figures.get("low"), e.figures.get("high"))))
    elif condition == "move":
        ref = e.figures.get("reference")
        assert isinstance(ref, int | float)
        fields.append(("ref", format_number(float(ref))))
        if e.figures.get("unit") == "absolute":
            fields.append(("change", format_number(e.value - float(ref), AVG_DIGITS)))
        else:
            fields.append(("change_pct", change_text(e)))
    else:
        assert e.window_avg is not None
        assert e.window_samples is not None
        fields.append(("avg", format_number(e.window_avg, AVG_DIGITS)))
        if "zscore" in e.figures:  # a z-score, a Bollinger band
            fields.append(("z", _z_text(e)))
        elif condition == "surge":
            ratio = figure(e.value / e.window_avg, _clearing(e), _beyond(e), sign="")
            fields.append(("ratio", ratio))
        else:
            fields.append(("change_pct", change_text(e)))
        fields.append(("samples", str(e.window_samples)))
    fields += [
        ("severity", e.severity),
        ("id", short_id(e.alert_id)),
        ("episode", short_id(e.episode_id)),
        ("v", str(LINE_FORMAT)),
    ]
    return fields


def format_line(e: episodes.Event) -> str:
    """The alerts-file line of an event, without the newline. See docs/alerts.md.

    ``TIME EVENT SYMBOL METRIC <the rest of the sentence> | key=value ...``: a sentence for
    people, whose first four words are fixed fields, then the figures for programs.
    """
    return f"{times.format_time(e.time)} {e.event} {describe(e)} | " + " ".join(
        f"{k}={v}" for k, v in line_fields(e)
    )


_LINE_V1 = re.compile(r"^(\S+) (ALERT|RESOLVED)((?: [a-z_]+=\S+)+)$")
_LINE = re.compile(r"^(\S+) (ALERT|RESOLVED) (\S+) (\S+) (.*?) \| ((?:[a-z_]+=\S+ ?)+)$")


def parse_line(line: str) -> dict[str, str]:
    """The fields of an alerts-file line: ``time``, ``event``, ``symbol``, ``metric``, ``text``
    (the sentence) and every key=value.

    Reads every format: 3 and 2 alike (a sentence, then key=value; format 2 has no
    ``severity``), and 1 (all key=value, full UUIDs), whose ``alert_id`` and ``episode_id`` are
    given as ``id`` and ``episode``, shortened as the later formats show them.
    Raises ValueError for a line that is not one.
    """
    text = line.rstrip("\n")
    if match := _LINE.match(text):
        fields = dict(pair.split("=", 1) for pair in match.group(6).split())
        return {
            "time": match.group(1),
            "event": match.group(2),
            "symbol": match.group(3),
            "metric": match.group(4),
            "text": " ".join(match.group(i) for i in (3, 4, 5)),
            **fields,
        }
    if match := _LINE_V1.match(text):
        fields = dict(pair.split("=", 1) for pair in match.group(3).split())
        for old, new in (("alert_id", "id"), ("episode_id", "episode")):
            if old in fields:
                fields[new] = fields.pop(old).replace("-", "")[:12]
        return {"time": match.group(1), "event": match.group(2), "text": "", "v": "1", **fields}
    raise ValueError(f"not an alert line: {line[:200]!r}")
