"""The alert episode state machine and the line format, without a database."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from cryptomonitor.alerting import episodes, lineformat
from cryptomonitor.alerting.rules import Rule

RULE = Rule("price_3x_1h", "price", 3600.0, "ratio_above", 3.0, 2)
DEV = Rule("price_2pct_5m", "price", 300.0, "deviation_above", 0.02, 2)
T = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T + dt.timedelta(minutes=minutes)


def reading(rule: Rule, value: float, avg: float | None, n: int) -> episodes.Reading | None:
    """What the engine reads from a trailing window of `n` values averaging `avg`: nothing
    with too few samples or no positive average."""
    if avg is None or n < rule.min_samples or not avg > 0:
        return None
    delta = value if rule.condition == "ratio_above" else value - avg
    return episodes.Reading(value, delta, avg, avg, n)


def run(rule: Rule, points: list[tuple[float, float, float, int]], repeat: float = 3600):
    state, out = None, []
    for minute, value, avg, n in points:
        got = reading(rule, value, avg, n)
        state, event = episodes.step(rule, "bitcoin", at(minute), got, state, repeat)
        if event:
            out.append(event)
    return state, out


def test_fires_once_repeats_after_interval_then_resolves() -> None:
    points = [
        (0, 100, 100, 5),
        (1, 301, 100, 5),
        (2, 400, 100, 5),
        (30, 350, 100, 5),
        (61, 320, 100, 5),
        (62, 100, 100, 5),
        (63, 100, 100, 5),
    ]
    state, events = run(RULE, points)
    assert [(e.event, e.time) for e in events] == [
        ("ALERT", at(1)),
        ("ALERT", at(61)),
        ("RESOLVED", at(62)),
    ]
    assert events[1].episode_id == events[0].alert_id == events[2].episode_id
    assert len({e.alert_id for e in events}) == 3
    assert state is not None and not state.firing


def test_threshold_is_strict() -> None:
    _, events = run(RULE, [(1, 300, 100, 5)])
    assert events == []
    _, events = run(DEV, [(1, 102, 100, 5), (2, 97.9, 100, 5)])
    assert [(e.event, e.value) for e in events] == [("ALERT", 97.9)]


def test_too_few_samples_or_no_average_decide_nothing() -> None:
    _, events = run(RULE, [(1, 999, 100, 1), (2, 999, 0, 9), (3, 999, None, 0)])  # type: ignore[list-item]
    assert events == []
    # ...and do not resolve a firing alert either.
    _, events = run(RULE, [(1, 999, 100, 5), (2, 1, 100, 1)])
    assert [e.event for e in events] == ["ALERT"]


def test_old_tick_is_ignored() -> None:
    state, events = run(RULE, [(5, 999, 100, 5), (4, 1, 100, 5), (5, 1, 100, 5)])
    assert [e.event for e in events] == ["ALERT"]
    assert state is not None and state.firing and state.last_changed == at(5)


def test_only_an_event_changes_the_state() -> None:
    state, _ = run(RULE, [(1, 999, 100, 5)])
    assert state is not None and (state.rule, state.symbol) == ("price_3x_1h", "bitcoin")
    still = episodes.step(RULE, "bitcoin", at(2), reading(RULE, 999, 100, 5), state, 3600)
    assert still == (state, None) and still[0] is state  # firing, no repeat due yet
    quiet = reading(RULE, 100, 100, 5)
    assert episodes.step(RULE, "bitcoin", at(2), quiet, None, 3600) == (None, None)


def test_ids_are_deterministic() -> None:
    assert episodes.alert_id("ALERT", "r", "s", at(1)) == episodes.alert_id(
        "ALERT", "r", "s", at(1)
    )
    assert episodes.alert_id("ALERT", "r", "s", at(1)) != episodes.alert_id(
        "ALERT", "r", "s", at(2)
    )


def test_line_format_round_trips() -> None:
    _, (event,) = run(RULE, [(1, 301.2, 100.1, 60)])
    line = lineformat.format_line(event)
    short = event.alert_id.hex[:12]
    assert line == (
        "2026-01-01T00:01:00Z ALERT bitcoin price 301.20 is 3.01x its 1h average "
        "100.10 | rule=price_3x_1h value=301.2 avg=100.1 change_pct=+200.90 "
        f"samples=60 severity=warning id={short} episode={short} v=3"
    )
    fields = lineformat.parse_line(line)
    assert (fields["event"], fields["symbol"], fields["metric"]) == ("ALERT", "bitcoin", "price")
    assert fields["id"] == short and float(fields["value"]) == 301.2
    assert "\n" not in line


def _event(
    kind: str, condition: str, threshold: float, value: float, avg: float, window: float = 300
) -> episodes.Event:
    some = episodes.alert_id(kind, "r", "eth", at(1))
    return episodes.Event(
        some, kind, at(1), "r", "eth", "price", value, avg, 20, window, condition, threshold, some
    )


@pytest.mark.parametrize(
    ("event", "sentence"),
    [
        (
            _event("ALERT", "deviation_above", 0.02, 98125.5, 104000.25),
            "eth price 98,125.50 is 5.65% below its 5m average 104,000",
        ),
        (
            _event("RESOLVED", "deviation_above", 0.02, 8542.446, 8389.22925),
            "eth price 8,542.45 no longer 2% above its 5m average 8,389.23 (now +1.83%)",
        ),
        (
            _event("RESOLVED", "ratio_above", 3, 150.0, 100.1, 3600),
            "eth price 150.00 no longer above 3x its 1h average 100.10 (now 1.50x)",
        ),
        (
            _event("ALERT", "deviation_above", 0.025, 0.1834, 0.17, 90),
            "eth price 0.1834 is 7.88% above its 90s average 0.17",
        ),
    ],
)
def test_the_sentence_says_direction_percent_and_window(
    event: episodes.Event, sentence: str
) -> None:
    assert lineformat.parse_line(lineformat.format_line(event))["text"] == sentence


@pytest.mark.parametrize(
    ("event", "now", "change"),
    [
        # The line: 2.0% next to change_pct=+2.00 read as still beyond 2%.
        (_event("RESOLVED", "deviation_above", 0.02, 0.15437, 0.1514), "(now +1.96%)", "+1.96"),
        (_event("RESOLVED", "deviation_above", 0.02, 101.9996, 100), "(now +1.9996%)", "+1.9996"),
        (_event("RESOLVED", "deviation_above", 0.02, 98.0004, 100), "(now -1.9996%)", "-1.9996"),
        (_event("RESOLVED", "deviation_above", 0.07, 107, 100), "(now +7.00%)", "+7.00"),  # at it
        (_event("ALERT", "deviation_above", 0.02, 102.0004, 100), "is 2.0004% above", "+2.0004"),
        (_event("RESOLVED", "ratio_above", 3, 299.999, 100), "(now 2.99999x)", "+200.00"),
        (_event("ALERT", "ratio_above", 3, 300.001, 100), "is 3.00001x its", "+200.00"),
    ],
)
def test_a_figure_never_reads_on_the_wrong_side_of_the_threshold(
    event: episodes.Event, now: str, change: str
) -> None:
    """A RESOLVED's figure reads within the threshold, an ALERT's beyond it, with as many
    digits as that takes; the sentence and ``change_pct`` show the same text."""
    fields = lineformat.parse_line(lineformat.format_line(event))
    assert now in fields["text"] and fields["change_pct"] == change
    if event.condition == "deviation_above":
        shown = float(fields["change_pct"])
        limit = event.threshold * 100
        assert abs(shown) > limit if event.event == "ALERT" else abs(shown) <= limit
        assert math.isclose(shown, (event.value / event.window_avg - 1) * 100, abs_tol=0.005)


def test_computed_averages_carry_no_float_noise() -> None:
    line = lineformat.format_line(
        _event("ALERT", "deviation_above", 0.02, 8416.752, 8185.564999999998)
    )
    fields = lineformat.parse_line(line)
    assert fields["avg"] == "8185.565" and fields["change_pct"] == "+2.82"
    assert len(line) < 220


def test_format_1_lines_still_parse() -> None:
    old = (
        "2025-05-30T17:17:00Z ALERT rule=volume_2pct_5m symbol=btc metric=volume_24h "
        "value=8416.752 avg=8185.564999999998 condition=deviation_above threshold=0.02 "
        "window=300s samples=20 alert_id=7bb297bf-d42c-5c5d-8b80-92bcf4185b17 "
        "episode_id=7bb297bf-d42c-5c5d-8b80-92bcf4185b17"
    )
    fields = lineformat.parse_line(old)
    assert (fields["v"], fields["id"], fields["symbol"]) == ("1", "7bb297bfd42c", "btc")


@pytest.mark.parametrize("x", [0.1 + 0.2, 1e-12, 123456789.123456789, 3.0, 1e22])
def test_numbers_read_back_exactly(x: float) -> None:
    assert float(lineformat.format_number(x)) == x


def test_parse_line_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="not an alert line"):
        lineformat.parse_line("2026-01-01T00:00:00Z ALERT rule=x value")
