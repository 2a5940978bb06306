"""Rows read by name: a query's columns must be its row class's fields, in order."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from cryptomonitor.api import rows


@dataclasses.dataclass
class _Column:
    name: str


@dataclasses.dataclass
class _Cursor:
    description: list[_Column]


def test_a_row_is_built_from_columns_named_as_its_fields() -> None:
    make = rows.by_name(rows.Gap)(_Cursor([_Column(n) for n in rows.Gap._fields]))
    start = dt.datetime(2025, 5, 30, tzinfo=dt.UTC)
    gap = make(("btc", start, start + dt.timedelta(minutes=5), 300.0))
    assert gap == rows.Gap(symbol="btc", gap_start=start, gap_end=gap.gap_end, seconds=300.0)
    assert gap.seconds == 300.0


@pytest.mark.parametrize(
    "columns",
    [
        ["symbol", "gap_start", "gap_end", "float8"],  # a column not aliased
        ["symbol", "gap_end", "gap_start", "seconds"],  # in another order
        ["symbol", "gap_start", "gap_end"],
    ],
)
def test_columns_that_are_not_the_fields_are_refused_naming_both(columns: list[str]) -> None:
    with pytest.raises(TypeError, match=r"Gap reads columns \('symbol', 'gap_start'"):
        rows.by_name(rows.Gap)(_Cursor([_Column(n) for n in columns]))
