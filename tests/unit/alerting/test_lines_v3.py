"""Line format 3: each condition's own sentence and figures, and a parser that reads every
format (the file of an upgraded install holds several)."""

from __future__ import annotations

import datetime as dt

import pytest

from cryptomonitor.alerting import episodes, lineformat, rules
from cryptomonitor.alerting.episodes import Reading

T = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def rule(text: str) -> rules.Rule:
    (r,) = rules.loads(f'[[rule]]\nname = "r"\n{text}\n')
    return r


def events(r: rules.Rule, readings: list[Reading], symbol: str = "bitcoin") -> list[str]:
    state, lines = None, []
    for i, reading in enumerate(readings):
        state, event = episodes.step(
            r, symbol, T + dt.timedelta(seconds=15 * i), reading, state, 3600
        )
        if event is not None:
            lines.append(lineformat.format_line(event))
    return lines


def level(v: float) -> Reading:
    return Reading(v, v, 1.0)


def test_a_level_crossed_and_cleared_at_its_recovery_level() -> None:
    r = rule('condition = "above"\nthreshold = 100000\nrecover = 99500\nseverity = "critical"')
    lines = events(r, [level(99990), level(100250), level(99800), level(99400)])
    assert lines == [
        "2026-01-01T00:00:15Z ALERT bitcoin price 100,250 crossed above 100,000 | rule=r "
        f"value=100250 level=100000 severity=critical id={_id(lines[0])} episode={_id(lines[0])} "
        "v=3",
        "2026-01-01T00:00:45Z RESOLVED bitcoin price 99,400.00 no longer above 100,000 (back "
        f"below 99,500) | rule=r value=99400 level=100000 severity=critical id={_id(lines[1])} "
        f"episode={_id(lines[0])} v=3",
    ]  # 99,800 is still above the recovery level: no RESOLVED there


def test_a_move_says_how_far_in_how_long_from_where() -> None:
    r = rule('condition = "move"\nlookback = "20m"\ndirection = "down"\nthreshold = 0.05')
    ref = 2500.0
    lines = events(
        r,
        [Reading(v, v - ref, ref, ref) for v in (2400.0, 2370.0, 2390.0)],
        symbol="eth",
    )
    alert, resolved = (lineformat.parse_line(line) for line in lines)
    assert alert["text"] == "eth price 2,370.00 fell 5.20% in 20m (from 2,500.00)"
    assert (alert["ref"], alert["change_pct"]) == ("2500", "-5.20")
    assert resolved["text"] == "eth price 2,390.00 no longer down 5% in 20m (now -4.40%)"


def test_a_zscore_says_how_many_standard_deviations_from_which_mean() -> None:
    r = rule('condition = "zscore"\nwindow = "1h"\nthreshold = 3\nrecover = 2')
    mean, sd = 0.17, 0.004
    lines = events(
        r,
        [Reading(v, v - mean, sd, mean, 240, sd) for v in (0.1834, 0.179, 0.1765)],
        symbol="doge",
    )
    alert, resolved = (lineformat.parse_line(line) for line in lines)
    assert alert["text"] == "doge price 0.1834 is 3.35 standard deviations above its 1h mean 0.17"
    assert (alert["z"], alert["samples"], alert["severity"]) == ("+3.35", "240", "warning")
    # 0.179 is z=2.25: over the recovery level 2, still firing; 0.1765 (z=1.62) clears it
    assert resolved["text"] == (
        "doge price 0.1765 no longer 3 standard deviations from its 1h mean 0.17 (now z=+1.62)"
    )


@pytest.mark.parametrize(
    ("line", "wanted"),
    [
        (
            "2026-01-01T00:00:15Z ALERT bitcoin price 100,250 crossed above 100,000 | rule=r "
            "value=100250 level=100000 severity=critical id=0123456789ab episode=0123456789ab v=3",
            {"v": "3", "severity": "critical", "level": "100000", "symbol": "bitcoin"},
        ),
        (
            "2026-01-01T00:01:00Z ALERT bitcoin price 301.20 is 3.01x its 1h average 100.10 | "
            "rule=price_3x_1h value=301.2 avg=100.1 change_pct=+200.90 samples=60 "
            "id=0123456789ab episode=0123456789ab v=2",
            {"v": "2", "avg": "100.1", "symbol": "bitcoin", "metric": "price"},
        ),
        (
            "2025-01-01T00:00:00Z ALERT rule=price_3x_1h symbol=btc metric=price value=4 "
            "alert_id=01234567-89ab-cdef-0123-456789abcdef "
            "episode_id=01234567-89ab-cdef-0123-456789abcdef",
            {"v": "1", "id": "0123456789ab", "episode": "0123456789ab", "symbol": "btc"},
        ),
    ],
)
def test_the_parser_reads_every_format(line: str, wanted: dict[str, str]) -> None:
    fields = lineformat.parse_line(line)
    assert {k: fields[k] for k in wanted} == wanted


def _id(line: str) -> str:
    return line.split(" id=")[1].split()[0]


def test_a_cross_says_which_average_it_crossed_and_a_band_which_side() -> None:
    r = rule(
        'condition = "cross"\nfast = "ema:9"\nslow = "ema:21"\ninterval = "1h"\n'
        'direction = "up"\nthreshold = 0.001'
    )
    crossed = Reading(101_300.0, 300.0, 101_000.0, 101_000.0, 190, detail="yes")
    back = Reading(100_900.0, -100.0, 101_000.0, 101_000.0, 190, detail="no")
    alert, resolved = (lineformat.parse_line(x) for x in events(r, [crossed, back]))
    assert alert["metric"] == "EMA(9,1h)"
    assert alert["text"] == "bitcoin EMA(9,1h) 101,300 crossed above EMA(21,1h) 101,000 by 0.30%"
    assert (alert["slow"], alert["gap_pct"]) == ("101000", "+0.2970")
    assert resolved["text"] == "bitcoin EMA(9,1h) 100,900 no longer above EMA(21,1h) 101,000"

    b = rule('condition = "outside"\nband = [95000, 105000]\nrecover_band = [96000, 104000]')
    lines = events(b, [level(94_000.0), level(95_500.0), level(96_500.0)])
    alert, resolved = (lineformat.parse_line(x) for x in lines)
    assert alert["text"] == "bitcoin price 94,000.00 left the band 95,000-105,000 (below)"
    assert alert["band"] == "95,000-105,000"
    assert resolved["text"] == "bitcoin price 96,500.00 back inside 96,000-104,000"


def test_a_repeat_of_a_level_says_where_it_stands() -> None:
    r = rule('condition = "above"\nthreshold = 100\nrecover = 90\nrepeat = "15s"')
    lines = events(r, [level(101.0), level(102.0), level(95.0)])
    texts = [lineformat.parse_line(x)["text"] for x in lines]
    assert texts == [
        "bitcoin price 101.00 crossed above 100",
        "bitcoin price 102.00 still above 100",
        "bitcoin price 95.00 still above 90, the recovery level of 100",
    ]
