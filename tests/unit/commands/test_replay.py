"""The replay's start-up decisions: the retention check, the shift to now, its summary."""

from __future__ import annotations

import datetime as dt
import pathlib

import pytest

from cryptomonitor import config
from cryptomonitor.commands import replay
from cryptomonitor.exceptions import ConfigError
from cryptomonitor.sources import barfiles

UTC = dt.UTC
FILE = pathlib.Path("ETH.csv")
SPAN = (dt.datetime(2025, 6, 17, 15, 40, tzinfo=UTC), dt.datetime(2025, 6, 20, 15, 39, tzinfo=UTC))


def test_a_file_older_than_the_retention_is_refused_naming_the_ways_out() -> None:
    cutoff = dt.datetime(2025, 12, 2, tzinfo=UTC)
    with pytest.raises(ConfigError) as error:
        replay.check_retention({FILE: SPAN}, dt.timedelta(0), cutoff, 365 * 86400.0)
    message = str(error.value)
    for part in (
        "ETH.csv (2025-06-17T15:40:00Z to 2025-06-20T15:40:00Z)",
        "CRYPTOMONITOR_TICKS_RETENTION (365 days",
        "ticks before 2025-12-02T00:00:00Z",
        "--shift-to-now",
        "longer (or off)",
    ):
        assert part in message


def test_within_retention_shifted_or_without_a_policy_it_passes() -> None:
    cutoff = dt.datetime(2025, 6, 1, tzinfo=UTC)
    replay.check_retention({FILE: SPAN}, dt.timedelta(0), cutoff, 1.0)  # within retention
    replay.check_retention(
        {FILE: SPAN}, dt.timedelta(days=600), SPAN[0] + dt.timedelta(days=400), 1.0
    )
    replay.check_retention({FILE: SPAN}, dt.timedelta(0), None, None)  # plain PostgreSQL
    with pytest.raises(ConfigError):  # partly older: its first ticks would vanish
        replay.check_retention({FILE: SPAN}, dt.timedelta(0), SPAN[0] + dt.timedelta(hours=1), 1.0)


@pytest.mark.parametrize(
    ("last", "now", "minutes"),
    [
        ("2025-06-20T15:39:00Z", "2026-12-02T07:30:12.5Z", 762_710),
        ("2026-12-02T07:28:00Z", "2026-12-02T07:30:59Z", 1),
        ("2026-12-02T07:29:00Z", "2026-12-02T07:30:00Z", 0),
        ("2026-12-02T07:29:30Z", "2026-12-02T07:30:00Z", -1),  # a bar off the minute: not later
    ],
)
def test_the_shift_is_whole_minutes_ending_the_last_bar_as_the_minute_begins(
    last: str, now: str, minutes: int
) -> None:
    shift = barfiles.shift_to(dt.datetime.fromisoformat(last), dt.datetime.fromisoformat(now))
    assert shift == dt.timedelta(minutes=minutes)
    # By hand: the last bar's close tick (+45 s) is before now, and its bar ends by now's minute.
    end = dt.datetime.fromisoformat(last) + shift + barfiles.MINUTE
    assert end <= dt.datetime.fromisoformat(now).replace(second=0, microsecond=0)


def test_the_summary_says_the_shift_or_that_lines_are_past_dated(tmp_path: pathlib.Path) -> None:
    settings = config.load({"CRYPTOMONITOR_ALERTS_FILE": str(tmp_path / "alerts.txt")})
    summary = replay.ReplaySummary(ticks=8, stored=8, alerts=3)
    files = [(FILE, "eth")]
    shifted = replay.report(summary, files, {FILE: SPAN}, dt.timedelta(minutes=10), settings)
    assert "bars shifted by +10 minutes (--shift-to-now)" in shifted
    assert "played as 2025-06-17T15:50:00Z to 2025-06-20T15:50:00Z" in shifted
    past = replay.report(summary, files, {FILE: SPAN}, dt.timedelta(0), settings)
    assert "the 3 alert lines appended to" in past and "dated 2025-06-17T15:40:00Z" in past
    quiet = replay.report(replay.ReplaySummary(), files, {FILE: SPAN}, dt.timedelta(0), settings)
    assert quiet.count("\n") == 0
