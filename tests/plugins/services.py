"""Pytest plugin: the counterparts tests talk to besides the database: a scripted CoinGecko
on 127.0.0.1, and the workspace's shared market data (skipped loudly where absent)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from tests.support import fakeapi, paths


@pytest.fixture
def fake_api() -> Iterator[fakeapi.FakeCoinGecko]:
    with fakeapi.FakeCoinGecko().running() as fake:
        yield fake


@pytest.fixture
def shared_data() -> pathlib.Path:
    """../shared/data, or a loud skip where it is absent (the tests that need it say why)."""
    if not paths.SHARED.is_dir():
        pytest.skip(f"shared data not found at {paths.SHARED} (only present in the dev workspace)")
    return paths.SHARED
