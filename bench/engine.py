"""Benchmark: the alert engine alone (no database), microseconds per tick for a rules file.

    .venv/bin/python -m bench.engine --rules bench/rules_20.toml

Replays the first 2,000 ticks of BTC's 2025-06-22 (tests/fixtures: 1-minute bars, four ticks a
bar as `replay` makes them) as `--symbols` symbols, in batches of 1,000, through
`AlertEngine.judge` over a fresh cache, best of `--runs` (process time): the cost of judging,
whatever the database does. Compare two commits by running it in each checkout.
"""

from __future__ import annotations

import argparse
import gc
import pathlib
import time

from cryptomonitor.alerting import cache, rules
from cryptomonitor.alerting.engine import AlertEngine
from cryptomonitor.sources import barfiles

DAY = pathlib.Path(__file__).parents[1] / "tests" / "fixtures" / "BTCUSDT_1m_2025-06-22.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=pathlib.Path, default=None, help="default: the four")
    parser.add_argument("--symbols", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = list(barfiles.ticks(barfiles.read_bars(DAY), "x"))[:2000]
    ticks = sorted(
        (t._replace(symbol=f"s{i}") for t in base for i in range(args.symbols)),
        key=lambda t: (t.time, t.symbol),
    )
    active = rules.load(args.rules)
    best, events = [], 0
    for _ in range(args.runs):
        engine = AlertEngine(active, 3600.0)
        known = engine.new_cache()
        known.load(cache.Missing(sorted({t.symbol for t in ticks}), ticks[0].time), [], [])
        gc.collect()
        started = time.process_time()
        events = sum(
            len(engine.judge(known, ticks[i : i + 1000]).events) for i in range(0, len(ticks), 1000)
        )
        best.append(time.process_time() - started)
    seconds = min(best)
    print(
        f"{len(active)} rules, {len(ticks):,} ticks of {args.symbols} symbols, {events} events: "
        f"{seconds:.2f} s = {1e6 * seconds / len(ticks):.1f} us a tick (best of {args.runs})"
    )


if __name__ == "__main__":
    main()
