"""The stream modules import modules (not names), no private name of another module, and
never show a stream URL's user-info."""

from __future__ import annotations

import ast
import importlib
import pathlib
import types
from typing import Any

import pytest

from cryptomonitor import config
from cryptomonitor.exceptions import ConfigError
from cryptomonitor.sources.http import JsonClient
from cryptomonitor.sources.streams import kraken as kraken_ws
from cryptomonitor.sources.streams.source import StreamSource
from tests.support.fakews import FakeStream, Peer, wait_for

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "cryptomonitor"
MODULES = [
    *sorted((PACKAGE / "sources" / "streams").glob("*.py")),
    PACKAGE / "sources" / "registry.py",
]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_stream_module_imports_modules_and_no_private_names(path: pathlib.Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cryptomonitor"):
            for alias in node.names:
                imported = getattr(importlib.import_module(node.module or ""), alias.name, None)
                if imported is None:  # a submodule not imported yet
                    imported = importlib.import_module(f"{node.module}.{alias.name}")
                assert isinstance(imported, types.ModuleType), (
                    f"{path.name}: from {node.module} import {alias.name}: import the module"
                )
                modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            assert node.arg not in modules, f"{path.name}: parameter {node.arg} shadows a module"
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
        ):
            raise AssertionError(f"{path.name}: {node.value.id}.{node.attr} is private")


def test_a_stream_urls_user_info_is_not_shown() -> None:
    with pytest.raises(ConfigError) as refused:
        config.load({"CRYPTOMONITOR_KRAKEN_WS_URL": "https://user:s3cret@ws.kraken.com"})
    assert "s3cret" not in str(refused.value) and "***@ws.kraken.com" in str(refused.value)
    settings = config.load({"CRYPTOMONITOR_BINANCE_WS_URL": "wss://user:s3cret@example.com/s"})
    assert settings.redacted()["binance_ws_url"] == "wss://***@example.com/s"


def test_a_stream_logs_its_url_without_user_info(logs: list[dict[str, Any]]) -> None:
    def script(peer: Peer) -> None:
        peer.recv()
        peer.silent()

    with FakeStream(script).running() as fake:
        url = fake.url.replace("ws://", "ws://user:s3cret@")
        with StreamSource(
            name=kraken_ws.NAME,
            unknown_hint="",
            url=url,
            symbols=["xbt-usd"],
            exchange=kraken_ws.KrakenTrades,
            per_connection=kraken_ws.MAX_PAIRS,
            client=JsonClient(timeout=2, attempts=1),
        ) as src:
            src.start()
            wait_for(lambda: fake.received and fake.received[0])
    shown = [e["url"] for e in logs if "url" in e]
    assert len(shown) == 2 and all(u.startswith("ws://***@127.0.0.1:") for u in shown)
    assert "s3cret" not in repr(logs)
