"""The stream tests' log capture: every level (the suite logs at warning and above)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
import structlog.testing


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    previous = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as captured:
            yield captured
    finally:
        structlog.configure(wrapper_class=previous)
