"""Independent computations for the tests, written from the specification with the standard
library only: they share no code with the package they check."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import pathlib


def read_bars(path: pathlib.Path) -> list[dict[str, object]]:
    with path.open(newline="") as f:
        return [
            {
                "time": dt.datetime.fromisoformat(r["timestamp"]),
                **{k: float(r[k]) for k in ("open", "high", "low", "close", "volume")},
            }
            for r in csv.DictReader(f)
        ]


def bar_ticks(bars: list[dict[str, object]]) -> list[tuple[dt.datetime, float, float]]:
    """(time, price, volume_24h): open, the extremes, close at +0/15/30/45 s of each bar; the
    volume is the sum over the trailing 1,440 bars (24 hours), this one included."""
    out = []
    for i, b in enumerate(bars):
        o, h, lo, c = (float(b[k]) for k in ("open", "high", "low", "close"))  # type: ignore[arg-type]
        vol = math.fsum(float(x["volume"]) for x in bars[max(0, i - 1439) : i + 1])  # type: ignore[arg-type]
        prices = (o, lo, h, c) if c >= o else (o, h, lo, c)
        t = b["time"]
        assert isinstance(t, dt.datetime)
        out.extend((t + dt.timedelta(seconds=15 * k), p, vol) for k, p in enumerate(prices))
    return out


def replay_ticks(bars: list[dict[str, object]]) -> list[tuple[dt.datetime, float, float | None]]:
    """`bar_ticks` as a replay stores them: volume_24h None (unknown) on the ticks of the
    first 1,439 minutes, before the bars read span a whole day (consecutive bars)."""
    return [(t, p, v if i >= 4 * 1439 else None) for i, (t, p, v) in enumerate(bar_ticks(bars))]


def copy_ticks(
    conn,
    symbol: str,
    ticks: list[tuple[dt.datetime, float, float]],  # type: ignore[no-untyped-def]
    traded: dict[dt.datetime, str] | None = None,
) -> None:
    """Load ticks with COPY: the candle tests check the relations, not the ingest path.
    `traded`: the traded volume of some ticks, by time, as the exchange's decimal text."""
    buf = io.StringIO()
    for t, p, v in ticks:
        volume = (traded or {}).get(t, "\\N")
        buf.write(f"{t.isoformat()}\t{symbol}\t{p!r}\t{v!r}\toracle\t{volume}\n")
    with (
        conn.cursor() as cur,
        cur.copy("COPY ticks (time, symbol, price, volume_24h, source, volume) FROM STDIN") as copy,
    ):
        copy.write(buf.getvalue())


def bar_volumes(path: pathlib.Path) -> dict[dt.datetime, str]:
    """Each bar's traded volume as the file writes it (exact decimal text), by bar time."""
    with path.open(newline="") as f:
        return {dt.datetime.fromisoformat(r["timestamp"]): r["volume"] for r in csv.DictReader(f)}


def refresh(conn, flavour: str) -> None:  # type: ignore[no-untyped-def]
    """Materialize the continuous aggregates in order (TimescaleDB; a no-op on plain views)."""
    if flavour == "timescaledb":
        for view in ("ohlcv_1m", "ohlcv_1h", "ohlcv_1d"):
            conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
