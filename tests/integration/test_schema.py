"""A database built by the migrations equals the canonical schema, on either flavour.

tests/schema/canonical.txt is what tests/schema/describe.sql says of a freshly migrated
database: tables and views with their columns, constraints, indexes, functions, triggers and
grants of schema public. It is the same for TimescaleDB and plain PostgreSQL: the same names,
the same columns; only plain PostgreSQL has the rollup that stands in for the continuous
aggregates (migration 0011: the rollup_1h table, rollup_* functions, ticks_rollup_* triggers),
so the file is written on plain PostgreSQL and TimescaleDB is held to its other lines. A
migration that changes any of it changes this file in the same commit, so a reviewer sees the
schema change itself; an accidental change (a lost index, a changed default, a grant too many)
fails here. After a deliberate change: CMTEST_UPDATE_SCHEMA=1 scripts/test -k schema on plain
PostgreSQL (then check TimescaleDB agrees).
"""

from __future__ import annotations

import os
import re

import psycopg

from tests.support.paths import ROOT

SCHEMA = ROOT / "tests" / "schema"
CANONICAL = SCHEMA / "canonical.txt"
#: Lines of the plain-PostgreSQL flavour only (its rollups).
POSTGRES_ONLY = re.compile(r"\brollup_")


def describe(url: str) -> str:
    with psycopg.connect(url) as conn:
        rows = conn.execute((SCHEMA / "describe.sql").read_text()).fetchall()  # type: ignore[arg-type]
    return "".join(f"{row[0]}\n" for row in rows)


def test_the_migrations_build_the_canonical_schema(db_url: str, flavour: str) -> None:
    got = describe(db_url)
    if os.environ.get("CMTEST_UPDATE_SCHEMA") == "1" and flavour == "postgres":
        CANONICAL.write_text(got)
    want = CANONICAL.read_text()
    if flavour != "postgres":
        want = "".join(f"{line}\n" for line in want.splitlines() if not POSTGRES_ONLY.search(line))
    missing = sorted(set(want.splitlines()) - set(got.splitlines()))
    extra = sorted(set(got.splitlines()) - set(want.splitlines()))
    assert (missing, extra) == ([], []), (
        f"the migrated schema ({flavour}) differs from {CANONICAL.name}: missing {missing}, "
        f"extra {extra}"
    )
