"""The alert line: how an event reads in ``alerts/alerts.txt`` (`format_line`) and how a line
is read back (`parse_line`: crash recovery, tests, tools). Bump `LINE_FORMAT` with any change.
"""

from __future__ import annotations

import re
import uuid

from cryptomonitor.alerting import episodes
from cryptomonitor.util import times

#: The version of the alerts-file line format (the ``v=`` field). 1: before 0.2, all key=value.
LINE_FORMAT = 2


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


def human_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}s"


def change_pct(e: episodes.Event) -> float:
    """How far the value is from the window average, in percent of the average."""
    return (e.value - e.window_avg) / e.window_avg * 100


def describe(e: episodes.Event) -> str:
    """The human part of a line: what moved, by how much, against which average."""
    head = f"{e.symbol} {e.metric} {human_number(e.value)} is"
    average = f"its {human_duration(e.window_seconds)} average {human_number(e.window_avg)}"
    change = change_pct(e)
    if e.condition == "ratio_above":
        ratio = f"{e.value / e.window_avg:.2f}x"
        if e.event == episodes.RESOLVED:
            return f"{head} back under {e.threshold:g}x {average} (now {ratio})"
        return f"{head} {ratio} {average}"
    moved = f"{abs(change):.1f}% {'above' if change >= 0 else 'below'}"
    if e.event == episodes.RESOLVED:
        return f"{head} back within {e.threshold * 100:g}% of {average} (now {moved})"
    return f"{head} {moved} {average}"


def format_line(e: episodes.Event) -> str:
    """The alerts-file line of an event, without the newline. See docs/alerts.md.

    ``TIME EVENT SYMBOL METRIC <the rest of the sentence> | key=value ...``: a sentence for
    people, whose first four words are fixed fields, then the figures for programs.
    """
    fields = (
        ("rule", e.rule),
        ("value", format_number(e.value)),
        ("avg", format_number(e.window_avg, AVG_DIGITS)),
        ("change_pct", f"{change_pct(e):+.2f}"),
        ("samples", str(e.window_samples)),
        ("id", short_id(e.alert_id)),
        ("episode", short_id(e.episode_id)),
        ("v", str(LINE_FORMAT)),
    )
    return f"{times.format_time(e.time)} {e.event} {describe(e)} | " + " ".join(
        f"{k}={v}" for k, v in fields
    )


_LINE_V1 = re.compile(r"^(\S+) (ALERT|RESOLVED)((?: [a-z_]+=\S+)+)$")
_LINE = re.compile(r"^(\S+) (ALERT|RESOLVED) (\S+) (\S+) (.*?) \| ((?:[a-z_]+=\S+ ?)+)$")


def parse_line(line: str) -> dict[str, str]:
    """The fields of an alerts-file line: ``time``, ``event``, ``symbol``, ``metric``, ``text``
    (the sentence) and every key=value.

    Reads lines of format 1 too (all key=value, full UUIDs): their ``alert_id`` and
    ``episode_id`` are given as ``id`` and ``episode``, shortened as format 2 shows them.
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
