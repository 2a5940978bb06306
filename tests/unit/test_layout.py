"""The layout the design promises (docs/design.md): small modules, data flowing one way,
benchmarks and tests that do not lean on each other."""

from __future__ import annotations

import ast
import pathlib

from tests.paths import ROOT

PACKAGE = ROOT / "cryptomonitor"
MAX_MODULE_LINES = 330  # "about 300"


def imports(path: pathlib.Path) -> set[str]:
    """The modules `path` imports, absolute names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_no_module_is_long() -> None:
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_data_flows_one_way_through_the_ingest_core() -> None:
    def uses(module: str) -> set[str]:
        return {name.removeprefix("cryptomonitor.") for name in imports(PACKAGE / module)
                if name.startswith("cryptomonitor.")}

    assert not any(n.split(".")[0] == "psycopg" for n in imports(PACKAGE / "engine.py"))
    assert not uses("engine.py") & {"writer", "repository", "pipeline", "database",
                                    "coherence", "alertfile"}
    assert not uses("repository.py") & {"writer", "pipeline", "alertfile"}
    assert not uses("writer.py") & {"pipeline", "alertfile", "runner"}
    sql = {p.name for p in PACKAGE.rglob("*.py") if "queries.get(" in p.read_text()}
    assert {"writer.py", "engine.py", "pipeline.py"}.isdisjoint(sql)


def test_benchmarks_and_tests_stand_alone() -> None:
    for path in (ROOT / "bench").glob("*.py"):
        assert not any(n == "tests" or n.startswith("tests.") for n in imports(path)), path
    for path in (ROOT / "tests").rglob("test_*.py"):
        other = {n for n in imports(path) if ".test_" in n}
        assert other == set(), f"{path} imports another test module: {other}"
