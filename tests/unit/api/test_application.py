"""The app as its clients see it without a database: its OpenAPI document."""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi.testclient import TestClient

from cryptomonitor.api import application
from tests.support.paths import FIXTURES


def _unversioned(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "info": {k: v for k, v in document["info"].items() if k != "version"}}


def test_the_openapi_document_is_unchanged() -> None:
    """tests/fixtures/openapi.json is the API's document: every path, operation id,
    parameter, body and status. A change of the API changes it in the same commit, so a
    reviewer sees the contract change; after a deliberate one, write it again with
    CMTEST_UPDATE_OPENAPI=1 and read the diff."""
    app = application.create_app("postgresql://x@127.0.0.1:1/x")
    served = TestClient(app).get("/openapi.json")  # not started: no pool opens
    assert served.status_code == 200
    pinned = FIXTURES / "openapi.json"
    if os.environ.get("CMTEST_UPDATE_OPENAPI") == "1":
        pinned.write_text(json.dumps(served.json(), indent=2) + "\n", encoding="utf-8")
    expected = json.loads(pinned.read_text(encoding="utf-8"))
    assert _unversioned(served.json()) == _unversioned(expected)
    assert list(served.json()["paths"]) == list(expected["paths"])  # in the same order
