"""The test suite's fixtures, as plugins (tests/plugins/): one module per concern."""

from __future__ import annotations

pytest_plugins = ("tests.plugins.postgres", "tests.plugins.isolation", "tests.plugins.services")
