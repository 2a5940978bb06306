"""Choose the demo's window of whole days from the 30 days of Bybit 1-minute bars, and write it.

    .venv/bin/python scripts/demo_window.py ../shared/data/market/bybit_1m [--days 7] [--write]

The demo repeats its window (`cryptomonitor.sources.demo`), so where the window's last bar
meets its first (the seam) the price must not jump. For each start minute the seam's jump of a
coin is |open(first) - close(last)| / close(last), measured in that coin's typical 1-minute
move (the median |close / previous close - 1| over the 30 days); the window's score is the
largest of the three coins'. The candidates, best score first, are then played round their
cycle twice through the package's own alert engine with the default rules (the first lap fills
the windows, the second is judged): the first with an ALERT on each coin from the data, and
none within 5 minutes of the seam, is chosen. With --write it is stored, gzipped, in
cryptomonitor/sources/demodata/ as <SYM>USDT_1m_demo.csv.gz.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import io
import itertools
import pathlib
import statistics
import sys

from cryptomonitor.alerting import cache, rules
from cryptomonitor.alerting.engine import AlertEngine
from cryptomonitor.sources import barfiles
from cryptomonitor.util import times

COINS = ("BTC", "ETH", "DOGE")
OUT = pathlib.Path(__file__).resolve().parent.parent / "cryptomonitor/sources/demodata"
MINUTE = dt.timedelta(minutes=1)


def load(folder: pathlib.Path) -> dict[str, list[list[str]]]:
    """Each coin's rows over the minutes all three files hold (DOGE's starts 3 minutes late),
    row i of every coin the same minute."""
    by_time: dict[str, dict[dt.datetime, list[str]]] = {}
    for coin in COINS:
        with (folder / f"{coin}USDT_1m.csv").open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert rows[0] == barfiles.HEADER, rows[0]
        by_time[coin] = {times.parse_iso(r[0]): r for r in rows[1:]}
    first = max(min(rows) for rows in by_time.values())
    last = min(max(rows) for rows in by_time.values())
    minutes = [first + i * MINUTE for i in range((last - first) // MINUTE + 1)]
    return {coin: [rows[m] for m in minutes] for coin, rows in by_time.items()}


def seam_scores(data: dict[str, list[list[str]]], period: int) -> list[tuple[float, int]]:
    n = len(next(iter(data.values())))
    typical = {}
    for coin, rows in data.items():
        closes = [float(r[4]) for r in rows]
        typical[coin] = statistics.median(abs(b / a - 1) for a, b in itertools.pairwise(closes))
    scores = []
    for s in range(n - period + 1):
        worst = 0.0
        for coin, rows in data.items():
            last, first = float(rows[s + period - 1][4]), float(rows[s][1])
            worst = max(worst, abs(first - last) / last / typical[coin])
        scores.append((worst, s))
    scores.sort()
    return scores


def alerts_round_the_cycle(
    data: dict[str, list[list[str]]], start: int, period: int
) -> tuple[dict[str, int], list[str]]:
    """ALERTs per coin on the second lap, and the events within 5 minutes of the seam."""
    engine = AlertEngine(rules.DEFAULT_RULES, 3600.0)
    per_coin: dict[str, int] = {}
    near_seam: list[str] = []
    origin = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)  # any; the seam is at origin + period
    seam = origin + period * MINUTE
    for coin, rows in data.items():
        window = rows[start : start + period]
        bars = [
            barfiles.Bar(origin + i * MINUTE, *(float(x) for x in row[1:]))
            for lap in range(2)
            for i, row in ((lap * period + j, r) for j, r in enumerate(window))
        ]
        known = cache.AlertCache(engine.lengths)
        known.load(cache.Missing([coin], origin), [], [])
        events = engine.judge(known, list(barfiles.ticks(bars, coin))).events
        for e in events:
            if abs(e.time - seam) <= 5 * MINUTE:
                near_seam.append(f"{coin} {e.event} {e.rule} {e.time}")
        per_coin[coin] = sum(1 for e in events if e.event == "ALERT" and e.time >= seam)
    return per_coin, near_seam


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=pathlib.Path)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--candidates", type=int, default=40)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    data = load(args.folder)
    period = args.days * 1440
    for score, start in seam_scores(data, period)[: args.candidates]:
        per_coin, near = alerts_round_the_cycle(data, start, period)
        first = data["BTC"][start][0]
        print(f"start {first} score {score:.2f} alerts {per_coin} near seam {near}")
        if near or not all(per_coin.values()):
            continue
        if args.write:
            for coin, rows in data.items():
                path = OUT / f"{coin}USDT_1m_demo.csv.gz"
                text = io.StringIO(newline="")
                writer = csv.writer(text, lineterminator="\n")
                writer.writerow(barfiles.HEADER)
                writer.writerows(rows[start : start + period])
                path.write_bytes(gzip.compress(text.getvalue().encode(), 9, mtime=0))
                print(f"wrote {path} ({path.stat().st_size} bytes)")
        print(f"chosen: {period} bars from {times.parse_iso(first).isoformat()}")
        return 0
    print("no candidate has an alert on each coin and a quiet seam", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
