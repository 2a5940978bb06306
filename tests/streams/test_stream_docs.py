"""The docs say what the streams deliver: prices, and the traded volume, stored and summed."""

from __future__ import annotations

import pathlib
import re

from cryptomonitor.ingest import copybinary

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ("docs/streams.md", "docs/configuration.md", ".env.example")
NOT_STORED = re.compile(r"not\s+stored\s+yet|comes\s+with\s+the\s+storage\s+part")
SUMMED = re.compile(r"candles'\s+`?volume`?\s+is\s+its\s+sum")


def test_the_traded_volume_is_documented_as_stored_and_summed_into_the_candles() -> None:
    assert "volume" in copybinary.COLUMNS  # the ticks' traded volume is written
    for name in DOCS:
        text = re.sub(r"\s+", " ", (ROOT / name).read_text(encoding="utf-8").replace("#", " "))
        assert not NOT_STORED.search(text), f"{name}: still says the volume is not stored"
        assert SUMMED.search(text), f"{name}: the candles' volume is the traded volume's sum"
