"""Where the time goes: a py-spy profile of a benchmark, summed per stage of the pipeline.

Record a benchmark with py-spy (a sampling profiler: it does not slow the code it watches),
raw collapsed stacks, idle samples included (the time a thread waits for the server counts):

    py-spy record --idle --subprocesses -r 250 -f raw -o /tmp/ingest.txt -- \\
        .venv/bin/python -m bench.ingest --local-cluster /usr/lib/postgresql/15/bin \\
        --symbols 1000 --rules bench/rules_20.toml --runs 1
    .venv/bin/python -m bench.stages /tmp/ingest.txt --within drive

Each sample is one stack (outermost first). Only samples under a frame named `--within` (the
measured part of the benchmark: not its set-up, its history load or its COPY baseline) count;
`--process` keeps one child's (`--rules bench/rules_20.toml`). Each sample is put in the stage
of its innermost frame that belongs to one (`STAGES`, by module path), or "other". Prints each
stage's share of the samples, and the top functions of each.
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import re

#: (stage, path fragments of its modules), the first match from the innermost frame wins.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "alert check (engine, windows, episodes)",
        (
            "cryptomonitor/alerting/engine",
            "cryptomonitor/alerting/windows",
            "cryptomonitor/alerting/episodes",
            "cryptomonitor/alerting/candles",
            "cryptomonitor/alerting/indicators",
            "cryptomonitor/alerting/cache",
            "cryptomonitor/alerting/rules",
            "cryptomonitor/util/exact",
        ),
    ),
    (
        "alert lines (format, file, fsync)",
        ("cryptomonitor/alerting/lineformat", "cryptomonitor/alerting/alertfile"),
    ),
    ("COPY encoding", ("cryptomonitor/ingest/copybinary",)),
    ("database round trips (psycopg, waiting)", ("psycopg/", "psycopg_pool/", "psycopg_binary/")),
    (
        "writer and repository",
        (
            "cryptomonitor/ingest/writer",
            "cryptomonitor/ingest/repository",
            "cryptomonitor/ingest/coherence",
            "cryptomonitor/db/",
        ),
    ),
    ("buffer and spool", ("cryptomonitor/ingest/pipeline", "cryptomonitor/ingest/spool")),
    (
        "source parsing (JSON, ticks)",
        ("cryptomonitor/sources/", "json/", "cryptomonitor/models", "cryptomonitor/util/times"),
    ),
    ("stream client (websockets)", ("websockets/",)),
    ("logging", ("structlog/", "cryptomonitor/logs")),
)
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*):?(?P<line>\d*)\)$")


def stage_of(frames: list[tuple[str, str]]) -> str:
    """The stage of a stack: its innermost frame that belongs to one."""
    for _func, file in reversed(frames):
        for stage, fragments in STAGES:
            if any(f in file for f in fragments):
                return stage
    return "other"


def parse(line: str) -> tuple[list[tuple[str, str]], int] | None:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack or not count.isdigit():
        return None
    frames = []
    for part in stack.split(";"):
        match = _FRAME.match(part)
        frames.append((match["func"], match["file"]) if match else (part, ""))
    return frames, int(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=pathlib.Path, help="py-spy record -f raw output")
    parser.add_argument(
        "--within", default="drive", help="count only samples under these functions (a,b)"
    )
    parser.add_argument(
        "--exclude", default="", help="leave out samples under these functions (a,b)"
    )
    parser.add_argument(
        "--process", default="", help="count only the processes whose command line holds this"
    )
    parser.add_argument("--top", type=int, default=3, help="functions shown per stage")
    args = parser.parse_args()
    stages: collections.Counter[str] = collections.Counter()
    functions: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    total = 0
    excluded = set(filter(None, args.exclude.split(",")))
    for line in args.profile.read_text(encoding="utf-8").splitlines():
        parsed = parse(line)
        if parsed is None:
            continue
        frames, count = parsed
        names = {func for func, _ in frames}
        if names.isdisjoint(args.within.split(",")) or not names.isdisjoint(excluded):
            continue
        if args.process and not any(
            f.startswith("process ") and args.process in f for f, _ in frames
        ):
            continue
        stage = stage_of(frames)
        stages[stage] += count
        func, file = frames[-1]
        functions[stage][f"{func} ({pathlib.Path(file).name})"] += count
        total += count
    if not total:
        raise SystemExit(f"no sample under a frame named {args.within!r} in {args.profile}")
    print(f"{total} samples under {args.within}()")
    for stage, n in stages.most_common():
        top = ", ".join(f"{f} {c / total:.0%}" for f, c in functions[stage].most_common(args.top))
        print(f"{n / total:6.1%}  {stage:<42} {top}")


if __name__ == "__main__":
    main()
