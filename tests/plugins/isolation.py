"""Pytest plugin: each test starts clean (no setting from the developer's shell, no pipeline
left open) and the figures tests measured are printed at the end of the report."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support import helpers


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in helpers.SUMMARY:
        terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _scrub_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app reads CRYPTOMONITOR_* and PG* variables: none from the developer's shell leaks in."""
    for key in list(os.environ):
        if key.startswith(("CRYPTOMONITOR_", "PG")) or key == "DATABASE_URL":
            monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def _close_pipelines() -> Iterator[None]:
    yield
    helpers.close_pipelines()
