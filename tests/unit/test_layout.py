"""The layout the design promises (docs/design.md): subpackages in layers that only point down,
no import cycle (hidden in a function or not), a pure alert engine, and benchmarks and tests
that do not lean on each other."""

from __future__ import annotations

import ast
import pathlib

from tests.support.paths import ROOT

PACKAGE = ROOT / "cryptomonitor"

#: Top to bottom. A module may import its own part and the parts of lower layers; the parts
#: of one layer are peers that never import each other, but for the bottom layer's
#: foundations (settings raise `exceptions`, metrics count `models`). `sources` depends on
#: the bottom layer alone, so only the commands (and the CLI above them) know a source.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"__main__"}),
    frozenset({"cli", "failpoints"}),
    frozenset({"commands"}),
    frozenset({"api", "ingest"}),
    frozenset({"alerting"}),
    frozenset({"db"}),
    frozenset({"sources"}),
    frozenset({"config", "models", "exceptions", "util", "logs", "metrics", "__init__"}),
)
PURE = (
    "alerting.candles",
    "alerting.indicators",
    "alerting.cache",
    "alerting.engine",
    "alerting.windows",
    "alerting.episodes",
    "alerting.lineformat",
    "alerting.rules",
    "util.exact",
    "util.times",
    "models",
)
DRIVERS = ("psycopg", "psycopg_pool")


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "static" not in p.parts}


def imports(path: pathlib.Path, *, resolve: bool = True) -> set[str]:
    """Every module `path` imports, anywhere in the file (functions and TYPE_CHECKING blocks
    too), as absolute names; ``from pkg import mod`` counts as mod where mod is a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if not resolve or full in MODULES else node.module)
    return found


def part(module: str) -> str:
    """The layer part a module belongs to: its subpackage, or the module at the top."""
    return module.split(".")[1] if module.count(".") else "__init__"


def layer(module: str) -> int:
    name = part(module)
    return next(i for i, parts in enumerate(LAYERS) if name in parts)


def test_every_module_has_a_layer() -> None:
    unplaced = {m for m in MODULES if not any(part(m) in parts for parts in LAYERS)}
    assert unplaced == set(), "add them to LAYERS (and docs/design.md)"


def test_layers_only_point_down() -> None:
    wrong = []
    for name, path in MODULES.items():
        for target in imports(path):
            if not target.startswith("cryptomonitor.") or part(target) == part(name):
                continue
            if layer(target) > layer(name) or layer(target) == layer(name) == len(LAYERS) - 1:
                continue
            wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_no_import_cycle() -> None:
    graph = {
        name: {t for t in imports(path) if t in MODULES and t != name}
        for name, path in MODULES.items()
    }
    # A package's __init__ importing its own modules is how a face works, not a cycle.
    for name in graph:
        if MODULES[name].name == "__init__.py":
            graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_the_pure_modules_import_no_driver() -> None:
    for name in PURE:
        used = {n.split(".")[0] for n in imports(MODULES[f"cryptomonitor.{name}"])}
        assert used.isdisjoint(DRIVERS), name


def test_data_flows_one_way_through_the_ingest_core() -> None:
    def uses(module: str) -> set[str]:
        return {
            n.removeprefix("cryptomonitor.")
            for n in imports(MODULES[module])
            if n.startswith("cryptomonitor.")
        }

    for pure in ("cryptomonitor.alerting.engine", "cryptomonitor.alerting.cache"):
        assert not uses(pure) & {
            "ingest.writer",
            "ingest.repository",
            "ingest.pipeline",
            "db.database",
            "ingest.coherence",
            "alerting.alertfile",
        }, pure
    assert not uses("cryptomonitor.ingest.repository") & {
        "ingest.writer",
        "ingest.pipeline",
        "alerting.alertfile",
    }
    assert not uses("cryptomonitor.ingest.writer") & {
        "ingest.pipeline",
        "alerting.alertfile",
        "commands.run",
    }
    sql = {module_name(p) for p in PACKAGE.rglob("*.py") if "queries.get(" in p.read_text()}
    assert {
        "cryptomonitor.ingest.writer",
        "cryptomonitor.alerting.engine",
        "cryptomonitor.alerting.cache",
        "cryptomonitor.ingest.pipeline",
    }.isdisjoint(sql)


def test_benchmarks_and_tests_stand_alone() -> None:
    for path in (ROOT / "bench").glob("*.py"):
        assert not any(
            n == "tests" or n.startswith("tests.") for n in imports(path, resolve=False)
        ), path
    for path in (ROOT / "tests").rglob("test_*.py"):
        other = {n for n in imports(path, resolve=False) if ".test_" in n}
        assert other == set(), f"{path} imports another test module: {other}"
