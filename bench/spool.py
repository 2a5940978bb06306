"""Benchmark: the spool's cost per poll (append with fsync, peek, commit) against the memory
buffer doing the same, in one run, for polls of N ticks.

    .venv/bin/python -m bench.spool --dir /var/tmp   # a directory on the disk to measure
"""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib
import statistics
import tempfile
import time

from cryptomonitor.ingest.pipeline import Buffer, MemoryBuffer
from cryptomonitor.ingest.spool import Spool, encode
from cryptomonitor.models import Tick

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def poll(n: int, i: int) -> list[Tick]:
    time = T0 + dt.timedelta(seconds=i)
    return [Tick(time, f"coin-{j:05d}", 100.0 + i / 7 + j, 5e9 + j, "coingecko") for j in range(n)]


def cycle(buffer: Buffer, polls: list[list[Tick]]) -> list[float]:
    """Per poll: append it, read it back, commit it (what run does with a database up)."""
    times = []
    for ticks in polls:
        started = time.perf_counter()
        buffer.append(ticks)
        batch, token = buffer.peek(len(ticks))
        buffer.commit(token)
        times.append(time.perf_counter() - started)
        assert len(batch) == len(ticks)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir",
        type=pathlib.Path,
        default=pathlib.Path(tempfile.gettempdir()),
        help="where the spool goes: a directory on the disk to measure",
    )
    parser.add_argument("--polls", type=int, default=300)
    parser.add_argument("--symbols", default="3,100,1000")
    args = parser.parse_args()
    print(f"{'N':>6} {'memory p50':>11} {'spool p50':>10} {'spool p99':>10} {'bytes/poll':>11}")
    for n in map(int, args.symbols.split(",")):
        polls = [poll(n, i) for i in range(args.polls)]
        memory = cycle(MemoryBuffer(10**9), polls)
        with tempfile.TemporaryDirectory(dir=args.dir) as d:
            spool = Spool(pathlib.Path(d), 10**9)
            spooled = cycle(spool, polls)
            spool.close()
            size = sum(len(encode(p)) for p in polls[:10]) / 10
        print(
            f"{n:>6} {statistics.median(memory) * 1e3:>9.3f}ms "
            f"{statistics.median(spooled) * 1e3:>8.3f}ms "
            f"{statistics.quantiles(spooled, n=100)[98] * 1e3:>8.3f}ms {size:>11,.0f}"
        )


if __name__ == "__main__":
    main()
