"""Access to the SQL files: named queries from ``sql/app/*.sql`` and the migration files.

The files live in the top-level ``sql/`` directory, which the package reaches as
``cryptomonitor/sql`` (a symlink in a checkout, real files in a wheel): read one way,
through `importlib.resources`, whatever the install.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from importlib.abc import Traversable
from typing import LiteralString, cast

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def sql_root() -> Traversable:
    """The directory holding ``app/`` (the application's queries) and ``migrations/``."""
    return resources.files("cryptomonitor") / "sql"


def parse_named(text: str) -> dict[str, LiteralString]:
    """Split a file of ``-- name: x`` blocks into {name: query}; names must be unique."""
    parts = _NAME.split(text)
    queries: dict[str, LiteralString] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        # The file is part of the package, not user input: its text is as literal as a
        # string constant in the code.
        queries[name] = cast(LiteralString, body.strip().rstrip(";"))
    return queries


@functools.cache
def _all() -> dict[str, LiteralString]:
    """Every named query of ``sql/app/*.sql``: one file per consumer, names unique across."""
    found: dict[str, LiteralString] = {}
    files = sorted(
        (f for f in (sql_root() / "app").iterdir() if f.name.endswith(".sql")), key=lambda f: f.name
    )
    for f in files:
        for name, query in parse_named(f.read_text(encoding="utf-8")).items():
            if name in found:
                raise ValueError(f"query {name!r} is defined twice (again in {f.name})")
            found[name] = query
    return found


def get(name: str) -> LiteralString:
    """The named query from ``sql/app/``; KeyError names an unknown one."""
    return _all()[name]
